package segment

import (
	"fmt"
	"strings"
	"unicode/utf8"

	"github.com/kizuna/kizuna/services/platform/validation"
)

// Input limits. They bound the work one segment costs on every event
// (MaxConditions) and keep stored rows small.
const (
	MaxConditions        = 20
	MaxDisplayNameLen    = 200
	MaxDescriptionLen    = 2000
	MaxKeyLen            = 200 // trait keys and event names
	MaxTraitValueLen     = 1000
	MaxWithinDays        = 3650
	MaxMinCount          = 1_000_000
	MaxScore             = 5
	MaxSegmentsPerSpace  = 500 // every event is evaluated against all of them
	MaxIDLen             = 512 // workspace, customer, segment, event, merge and unmerge ids
	MaxMergedIDsPerMerge = 1000
	// MaxEventIDsPerUnmerge is the contract's bound on one CustomerUnmerged
	// message; larger restorations come in several messages.
	MaxEventIDsPerUnmerge = 5000
)

// Validate checks a segment to be created and returns a *validation.Error
// naming every bad field (paths start at "segment").
func Validate(s Segment) error {
	v := &validation.Error{}
	name := strings.TrimSpace(s.DisplayName)
	switch {
	case name == "":
		v.Addf("segment.display_name", "required")
	case utf8.RuneCountInString(name) > MaxDisplayNameLen:
		v.Addf("segment.display_name", "at most %d characters", MaxDisplayNameLen)
	}
	if utf8.RuneCountInString(s.Description) > MaxDescriptionLen {
		v.Addf("segment.description", "at most %d characters", MaxDescriptionLen)
	}
	switch n := len(s.Rule.All); {
	case n == 0:
		v.Addf("segment.rule.all", "at least one condition is required")
	case n > MaxConditions:
		v.Addf("segment.rule.all", "at most %d conditions, got %d", MaxConditions, n)
	default:
		for i, c := range s.Rule.All {
			validateCondition(v, fmt.Sprintf("segment.rule.all[%d]", i), c)
		}
	}
	return v.Err()
}

func validateCondition(v *validation.Error, path string, c Condition) {
	set := 0
	for _, isSet := range []bool{c.Trait != nil, c.Event != nil, c.RFM != nil} {
		if isSet {
			set++
		}
	}
	if set != 1 {
		v.Addf(path, "exactly one of trait, event or rfm must be set")
		return
	}
	switch {
	case c.Trait != nil:
		p := path + ".trait"
		validateName(v, p+".key", c.Trait.Key)
		if utf8.RuneCountInString(c.Trait.Equals) > MaxTraitValueLen {
			v.Addf(p+".equals", "at most %d characters", MaxTraitValueLen)
		}
	case c.Event != nil:
		p := path + ".event"
		validateName(v, p+".event", c.Event.Event)
		if c.Event.MinCount < 0 || c.Event.MinCount > MaxMinCount {
			v.Addf(p+".min_count", "must be between 1 and %d (0 means 1), got %d", MaxMinCount, c.Event.MinCount)
		}
		if c.Event.WithinDays < 1 || c.Event.WithinDays > MaxWithinDays {
			v.Addf(p+".within_days", "must be between 1 and %d, got %d", MaxWithinDays, c.Event.WithinDays)
		}
	case c.RFM != nil:
		p := path + ".rfm"
		for _, f := range []struct {
			field string
			score int32
		}{
			{"min_recency_score", c.RFM.MinRecency},
			{"min_frequency_score", c.RFM.MinFrequency},
			{"min_monetary_score", c.RFM.MinMonetary},
		} {
			if f.score < 0 || f.score > MaxScore {
				v.Addf(p+"."+f.field, "must be between 0 (any) and %d, got %d", MaxScore, f.score)
			}
		}
	}
}

func validateName(v *validation.Error, field, name string) {
	switch {
	case strings.TrimSpace(name) == "":
		v.Addf(field, "required")
	case utf8.RuneCountInString(name) > MaxKeyLen:
		v.Addf(field, "at most %d characters", MaxKeyLen)
	}
}

// ValidateID checks a segment or customer id taken from a request.
func ValidateID(field, id string) error {
	v := &validation.Error{}
	checkID(v, field, id)
	return v.Err()
}

// checkID records what is wrong with an id, if anything.
func checkID(e *validation.Error, field, id string) {
	switch {
	case id == "":
		e.Addf(field, "required")
	case len(id) > MaxIDLen:
		e.Addf(field, "at most %d bytes", MaxIDLen)
	case !utf8.ValidString(id):
		e.Addf(field, "must be valid UTF-8")
	}
}
