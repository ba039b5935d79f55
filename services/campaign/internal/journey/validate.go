package journey

import (
	"fmt"
	"math"
	"regexp"
	"strings"
	"time"
	"unicode/utf8"

	campaignv1 "github.com/kizuna/kizuna/gen/kizuna/campaign/v1"
	ingestionv1 "github.com/kizuna/kizuna/gen/kizuna/ingestion/v1"
	"github.com/kizuna/kizuna/services/campaign/internal/message"
	"github.com/kizuna/kizuna/services/platform/validation"
)

// Limits on a journey definition.
const (
	MaxSteps           = 100
	MaxExitRules       = 20
	MaxPropertyFilters = 20
	MaxDisplayName     = 200
	MaxDescription     = 2000
	MaxIDChars         = 128
	MaxStepIDChars     = 64
	MinDuration        = time.Second
	MaxDuration        = 365 * 24 * time.Hour
	// MaxHoldoutPercent bounds a journey's holdout.
	MaxHoldoutPercent = 90
	// MinVariants and MaxVariants bound an A/B send step.
	MinVariants = 2
	MaxVariants = 10
	// MaxVariantWeight bounds a variant's weight.
	MaxVariantWeight = 10000
	// MaxVariantName bounds a variant's name.
	MaxVariantName = 32
	// The attribution window of a goal.
	MinAttributionWindow = time.Hour
	MaxAttributionWindow = 90 * 24 * time.Hour
	// MaxSubjectBytes bounds an e-mail subject template.
	MaxSubjectBytes = 2 << 10
)

var stepIDRE = regexp.MustCompile(`^[A-Za-z0-9_-]+$`)

// ChannelTypes says which channels exist in the workspace, by id.
type ChannelTypes map[string]ingestionv1.ChannelType

// Validate checks a journey definition. Field paths start with prefix
// ("journey"). channels are the workspace's channels, for send steps.
func Validate(j *campaignv1.Journey, channels ChannelTypes, prefix string) error {
	var v validation.Error
	p := func(f string) string { return prefix + "." + f }
	checkText(&v, p("display_name"), j.GetDisplayName(), MaxDisplayName, true)
	checkText(&v, p("description"), j.GetDescription(), MaxDescription, false)
	validateEntry(&v, p("entry"), j.GetEntry())
	switch j.GetReentry() {
	case campaignv1.Reentry_REENTRY_UNSPECIFIED, campaignv1.Reentry_REENTRY_NEVER, campaignv1.Reentry_REENTRY_AFTER_EXIT:
		if j.GetReentryCooldown() != nil {
			v.Add(p("reentry_cooldown"), "is only used with REENTRY_AFTER_COOLDOWN")
		}
	case campaignv1.Reentry_REENTRY_AFTER_COOLDOWN:
		checkDuration(&v, p("reentry_cooldown"), j.GetReentryCooldown().AsDuration(), j.GetReentryCooldown() != nil)
	default:
		v.Add(p("reentry"), "is not a known re-entry rule")
	}
	if j.GetEntry().GetBroadcast() != nil && j.GetReentry() > campaignv1.Reentry_REENTRY_NEVER {
		v.Add(p("reentry"), "a broadcast enrols each member once; re-entry does not apply")
	}
	if n := len(j.GetExitRules()); n > MaxExitRules {
		v.Addf(p("exit_rules"), "must have at most %d rules, has %d", MaxExitRules, n)
	}
	for i, r := range j.GetExitRules() {
		f := fmt.Sprintf("%s[%d]", p("exit_rules"), i)
		switch k := r.GetKind().(type) {
		case *campaignv1.ExitRule_Event:
			validateEventMatch(&v, f+".event", k.Event)
		case *campaignv1.ExitRule_SegmentLeft:
			checkID(&v, f+".segment_left.segment_id", k.SegmentLeft.GetSegmentId())
		case *campaignv1.ExitRule_Unsubscribed:
			if t := k.Unsubscribed.GetChannelType(); t != ingestionv1.ChannelType_CHANNEL_TYPE_UNSPECIFIED && !KnownChannelType(t) {
				v.Add(f+".unsubscribed.channel_type", "is not a known channel type")
			}
		default:
			v.Add(f, "must set one of event, segment_left or unsubscribed")
		}
	}
	validateSteps(&v, p("steps"), j.GetSteps(), channels)
	if h := j.GetHoldout(); h != nil && (h.GetPercent() <= 0 || h.GetPercent() > MaxHoldoutPercent || math.IsNaN(h.GetPercent())) {
		v.Addf(p("holdout.percent"), "must be above 0 and at most %d", MaxHoldoutPercent)
	}
	if g := j.GetGoal(); g != nil {
		if g.GetEvent() == nil {
			v.Add(p("goal.event"), "is required")
		} else {
			validateEventMatch(&v, p("goal.event"), g.GetEvent())
		}
		if w := g.GetAttributionWindow(); w != nil {
			if d := w.AsDuration(); !w.IsValid() || d < MinAttributionWindow || d > MaxAttributionWindow {
				v.Addf(p("goal.attribution_window"), "must be between %s and %s", MinAttributionWindow, MaxAttributionWindow)
			}
		}
	}
	return v.Err()
}

// KnownChannelType reports whether t is EMAIL, LINE or WEBHOOK.
func KnownChannelType(t ingestionv1.ChannelType) bool {
	switch t {
	case ingestionv1.ChannelType_EMAIL, ingestionv1.ChannelType_LINE, ingestionv1.ChannelType_WEBHOOK:
		return true
	}
	return false
}

func validateEntry(v *validation.Error, f string, e *campaignv1.Entry) {
	switch k := e.GetKind().(type) {
	case *campaignv1.Entry_Event:
		validateEventMatch(v, f+".event", k.Event)
	case *campaignv1.Entry_SegmentEntered:
		checkID(v, f+".segment_entered.segment_id", k.SegmentEntered.GetSegmentId())
	case *campaignv1.Entry_Broadcast:
		checkID(v, f+".broadcast.segment_id", k.Broadcast.GetSegmentId())
		if st := k.Broadcast.GetStartTime(); st != nil && !st.IsValid() {
			v.Add(f+".broadcast.start_time", "is not a valid time")
		}
	default:
		v.Add(f, "is required: one of event, segment_entered or broadcast")
	}
}

func validateEventMatch(v *validation.Error, f string, m *campaignv1.EventMatch) {
	checkText(v, f+".event", m.GetEvent(), MaxDisplayName, true)
	if n := len(m.GetPropertyFilters()); n > MaxPropertyFilters {
		v.Addf(f+".property_filters", "must have at most %d filters, has %d", MaxPropertyFilters, n)
	}
	for i, pf := range m.GetPropertyFilters() {
		pfField := fmt.Sprintf("%s.property_filters[%d]", f, i)
		checkText(v, pfField+".property", pf.GetProperty(), MaxDisplayName, true)
		if pf.GetComparison() == nil {
			v.Add(pfField, "must set one of equals, exists, gte or lte")
		}
	}
}

func validateSteps(v *validation.Error, f string, steps []*campaignv1.Step, channels ChannelTypes) {
	switch n := len(steps); {
	case n == 0:
		v.Add(f, "must have at least one step")
		return
	case n > MaxSteps:
		v.Addf(f, "must have at most %d steps, has %d", MaxSteps, n)
		return
	}
	ids := map[string]int{}
	for i, s := range steps {
		sf := fmt.Sprintf("%s[%d].id", f, i)
		switch id := s.GetId(); {
		case id == "":
			v.Add(sf, "is required")
		case len(id) > MaxStepIDChars || !stepIDRE.MatchString(id):
			v.Addf(sf, "must be 1 to %d letters, digits, '_' or '-'", MaxStepIDChars)
		default:
			if j, dup := ids[id]; dup {
				v.Addf(sf, "duplicates steps[%d].id", j)
			} else {
				ids[id] = i
			}
		}
	}
	ref := func(field, id string) {
		if id == "" {
			return
		}
		if _, ok := ids[id]; !ok {
			v.Addf(field, "names no step of this journey: %q", id)
		}
	}
	for i, s := range steps {
		sf := fmt.Sprintf("%s[%d]", f, i)
		ref(sf+".next", s.GetNext())
		switch k := s.GetKind().(type) {
		case *campaignv1.Step_Send:
			validateSend(v, sf+".send", k.Send, channels)
		case *campaignv1.Step_Delay:
			checkDuration(v, sf+".delay.duration", k.Delay.GetDuration().AsDuration(), k.Delay.GetDuration() != nil)
		case *campaignv1.Step_DelayUntil:
			if _, err := ParseClock(k.DelayUntil.GetLocalTime()); err != nil {
				v.Add(sf+".delay_until.local_time", err.Error())
			}
			if w := k.DelayUntil.GetWeekday(); w < campaignv1.Weekday_WEEKDAY_UNSPECIFIED || w > campaignv1.Weekday_SUNDAY {
				v.Add(sf+".delay_until.weekday", "is not a weekday")
			}
		case *campaignv1.Step_WaitFor:
			w := k.WaitFor
			switch c := w.GetCondition().(type) {
			case *campaignv1.WaitForStep_Event:
				validateEventMatch(v, sf+".wait_for.event", c.Event)
			case *campaignv1.WaitForStep_SegmentEntered:
				checkID(v, sf+".wait_for.segment_entered.segment_id", c.SegmentEntered.GetSegmentId())
			default:
				v.Add(sf+".wait_for", "must set one of event or segment_entered")
			}
			checkDuration(v, sf+".wait_for.timeout", w.GetTimeout().AsDuration(), w.GetTimeout() != nil)
			ref(sf+".wait_for.on_event", w.GetOnEvent())
			ref(sf+".wait_for.on_timeout", w.GetOnTimeout())
			if s.GetNext() != "" {
				v.Add(sf+".next", "is not used by waitFor: set on_event and on_timeout")
			}
		case *campaignv1.Step_Branch:
			b := k.Branch
			switch c := b.GetCondition().(type) {
			case *campaignv1.BranchStep_InSegment:
				checkID(v, sf+".branch.in_segment.segment_id", c.InSegment.GetSegmentId())
			case *campaignv1.BranchStep_Trait:
				checkText(v, sf+".branch.trait.key", c.Trait.GetKey(), MaxDisplayName, true)
				if c.Trait.GetComparison() == nil {
					v.Add(sf+".branch.trait", "must set one of equals or exists")
				}
			default:
				v.Add(sf+".branch", "must set one of in_segment or trait")
			}
			ref(sf+".branch.then_step", b.GetThenStep())
			ref(sf+".branch.else_step", b.GetElseStep())
			if s.GetNext() != "" {
				v.Add(sf+".next", "is not used by branch: set then_step and else_step")
			}
		case *campaignv1.Step_Exit:
			if s.GetNext() != "" {
				v.Add(sf+".next", "is not used by exit")
			}
		default:
			v.Add(sf, "must set one of send, delay, delay_until, wait_for, branch or exit")
		}
	}
	if len(v.Violations) == 0 {
		if cyc := instantCycle(steps); cyc != "" {
			v.Addf(f, "steps %s form a loop without a delay, delay_until or wait_for", cyc)
		}
	}
}

func validateSend(v *validation.Error, f string, s *campaignv1.SendStep, channels ChannelTypes) {
	checkID(v, f+".channel_id", s.GetChannelId())
	t, ok := channels[s.GetChannelId()]
	if s.GetChannelId() != "" && !ok {
		v.Add(f+".channel_id", "names no channel of this workspace")
	}
	if len(s.GetVariants()) > 0 {
		validateVariants(v, f, s, t, channels)
		return
	}
	validateContent(v, f, t, s.GetSubject(), s.GetText(), s.GetHtml())
}

// validateContent checks a message's templates for a channel type.
func validateContent(v *validation.Error, f string, t ingestionv1.ChannelType, subject, text, html string) {
	checkTemplate(v, f+".text", text, message.MaxTemplateBytes, true)
	checkTemplate(v, f+".html", html, message.MaxTemplateBytes, false)
	switch t {
	case ingestionv1.ChannelType_EMAIL:
		checkTemplate(v, f+".subject", subject, MaxSubjectBytes, true)
	default:
		if subject != "" {
			v.Add(f+".subject", "is only used by e-mail channels")
		}
		if html != "" {
			v.Add(f+".html", "is only used by e-mail channels")
		}
	}
}

// validateVariants checks an A/B send step: its variants carry the
// content, each on the step's channel or its own.
func validateVariants(v *validation.Error, f string, s *campaignv1.SendStep, stepType ingestionv1.ChannelType, channels ChannelTypes) {
	vs := s.GetVariants()
	if n := len(vs); n < MinVariants || n > MaxVariants {
		v.Addf(f+".variants", "must have %d to %d variants, has %d", MinVariants, MaxVariants, n)
	}
	for _, field := range []struct{ name, value string }{{"subject", s.GetSubject()}, {"text", s.GetText()}, {"html", s.GetHtml()}} {
		if field.value != "" {
			v.Addf(f+"."+field.name, "must be empty with variants: each variant has its own")
		}
	}
	names := map[string]int{}
	for i, vr := range vs {
		vf := fmt.Sprintf("%s.variants[%d]", f, i)
		switch name := vr.GetName(); {
		case name == "":
			v.Add(vf+".name", "is required")
		case len(name) > MaxVariantName || !stepIDRE.MatchString(name):
			v.Addf(vf+".name", "must be 1 to %d letters, digits, '_' or '-'", MaxVariantName)
		case strings.EqualFold(name, "holdout"):
			v.Add(vf+".name", `must not be "holdout", the name of the journey's holdout`)
		default:
			if j, dup := names[name]; dup {
				v.Addf(vf+".name", "duplicates variants[%d].name", j)
			}
			names[name] = i
		}
		if w := vr.GetWeight(); w < 1 || w > MaxVariantWeight {
			v.Addf(vf+".weight", "must be 1 to %d", MaxVariantWeight)
		}
		t := stepType
		if id := vr.GetChannelId(); id != "" {
			ct, ok := channels[id]
			if !ok {
				// Its channel type is unknown: only the templates are checked.
				v.Add(vf+".channel_id", "names no channel of this workspace")
				checkTemplate(v, vf+".text", vr.GetText(), message.MaxTemplateBytes, true)
				continue
			}
			t = ct
		}
		validateContent(v, vf, t, vr.GetSubject(), vr.GetText(), vr.GetHtml())
	}
}

func checkTemplate(v *validation.Error, f, src string, maxBytes int, required bool) {
	switch {
	case strings.TrimSpace(src) == "":
		if required {
			v.Add(f, "is required")
		}
	case len(src) > maxBytes:
		v.Addf(f, "must be at most %d bytes, is %d", maxBytes, len(src))
	case !utf8.ValidString(src) || strings.ContainsRune(src, 0):
		v.Add(f, "must be valid UTF-8 without NUL characters")
	default:
		if _, err := message.Parse(src); err != nil {
			v.Add(f, "is not a valid Liquid template: "+err.Error())
		}
	}
}

func checkText(v *validation.Error, f, s string, maxChars int, required bool) {
	switch n := utf8.RuneCountInString(s); {
	case required && strings.TrimSpace(s) == "":
		v.Add(f, "is required")
	case n > maxChars:
		v.Addf(f, "must be at most %d characters, is %d", maxChars, n)
	case !utf8.ValidString(s) || strings.ContainsRune(s, 0):
		v.Add(f, "must be valid UTF-8 without NUL characters")
	}
}

func checkID(v *validation.Error, f, id string) {
	switch {
	case id == "":
		v.Add(f, "is required")
	case len(id) > MaxIDChars:
		v.Addf(f, "must be at most %d characters", MaxIDChars)
	case !utf8.ValidString(id) || strings.ContainsRune(id, 0):
		v.Add(f, "must be valid UTF-8 without NUL characters")
	}
}

func checkDuration(v *validation.Error, f string, d time.Duration, set bool) {
	switch {
	case !set:
		v.Add(f, "is required")
	case d < MinDuration || d > MaxDuration:
		v.Addf(f, "must be from %s to %s, is %s", MinDuration, MaxDuration, d)
	}
}

// instantCycle finds a loop of steps that could run forever without waiting,
// following every edge a step can take; it returns the step ids of one such
// loop, or "".
func instantCycle(steps []*campaignv1.Step) string {
	g := NewGraph(steps)
	const (
		unvisited = iota
		onStack
		done
	)
	state := make([]int, len(steps))
	var stack []int
	var found []int
	var visit func(i int) bool
	visit = func(i int) bool {
		state[i] = onStack
		stack = append(stack, i)
		if !waits(steps[i]) {
			for _, next := range g.Successors(i) {
				if next < 0 {
					continue
				}
				switch state[next] {
				case onStack:
					for k := len(stack) - 1; k >= 0; k-- {
						found = append([]int{stack[k]}, found...)
						if stack[k] == next {
							break
						}
					}
					return true
				case unvisited:
					if visit(next) {
						return true
					}
				}
			}
		}
		stack = stack[:len(stack)-1]
		state[i] = done
		return false
	}
	for i := range steps {
		if state[i] == unvisited && visit(i) {
			ids := make([]string, len(found))
			for k, j := range found {
				ids[k] = steps[j].GetId()
			}
			return strings.Join(ids, " → ")
		}
	}
	return ""
}

// waits reports whether a step suspends the customer (so a loop through it
// cannot spin).
func waits(s *campaignv1.Step) bool {
	switch s.GetKind().(type) {
	case *campaignv1.Step_Delay, *campaignv1.Step_DelayUntil, *campaignv1.Step_WaitFor:
		return true
	}
	return false
}
