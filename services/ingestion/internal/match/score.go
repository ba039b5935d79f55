package match

import "github.com/kizuna/kizuna/services/ingestion/internal/normalize"

// Evidence weights. They are chosen so that the decision rules described in
// the package documentation fall out of simple addition with the default
// thresholds (Low 0.5, High 0.75):
//
//	strong identifier alone            0.90            → merge
//	strong identifier + name conflict  0.90-0.40=0.50  → review
//	name + same fixed line or address  0.45+0.35=0.80  → merge
//	name + same company only           0.45+0.25=0.70  → review
//	name + postal code only            0.45+0.10=0.55  → review
//	name + same block, other room      0.45+0.10=0.55  → review
//	reading only (kanji differ) + addr 0.15+0.35=0.50  → review
//	name alone (namesakes)             0.45            → nothing
//	weak identifiers alone (capped)    0.45            → nothing
//	household / colleagues             0.45-0.40=0.05  → nothing
const (
	wStrong       = 0.90 // same e-mail or same mobile number
	wSecondStrong = 0.05 // both e-mail and mobile agree
	wWeak         = 0.35 // same fixed line or address
	wCompany      = 0.25 // same company: weaker, namesakes share large employers
	wPostal       = 0.10 // same postal code, or same block but another room
	wWeakCap      = 0.45 // weak identifiers never add up to a merge alone
	wName         = 0.45 // same name (or same reading when a name is missing)
	wKanaOnly     = 0.15 // same reading, different kanji (typo or variant)
	wNameLike     = 0.30 // similar kanji and same reading
	wNameSimilar  = 0.10 // similar, not contradicted
	wConflict     = -0.40
)

// score compares two records and returns the score and one reason per
// field that both records have.
func score(a, b *Record) (float64, []string) {
	reasons := make([]string, 0, 8)
	strong, weak := 0.0, 0.0
	addStrong := func() {
		if strong == 0 {
			strong = wStrong
		} else {
			strong += wSecondStrong
		}
	}
	if a.Email != "" && b.Email != "" {
		if a.Email == b.Email {
			addStrong()
			reasons = append(reasons, "email:exact")
		} else {
			reasons = append(reasons, "email:differs")
		}
	}
	if a.Phone != "" && b.Phone != "" {
		// Everything that is not a mobile — fixed lines, but also 050
		// VoIP and toll-free numbers — can be shared, so it is reported
		// and weighted as a landline.
		kind := "phone_landline"
		if a.PhoneMobile {
			kind = "phone_mobile"
		}
		if a.Phone == b.Phone {
			if a.PhoneMobile {
				addStrong()
			} else {
				weak += wWeak
			}
			reasons = append(reasons, kind+":exact")
		} else {
			reasons = append(reasons, "phone:differs")
		}
	}
	nameScore, reasons := nameEvidence(a, b, reasons)
	if a.Company != "" && b.Company != "" {
		if a.Company == b.Company {
			weak += wCompany
			reasons = append(reasons, "company:exact")
		} else {
			reasons = append(reasons, "company:differs")
		}
	}
	addrExact := false
	if a.Address != "" && b.Address != "" {
		switch {
		case a.Address == b.Address && a.Room != "" && b.Room != "" && a.Room != b.Room:
			// Same block, different flat: a neighbour, not the same
			// household; worth no more than a shared postal code.
			weak += wPostal
			addrExact = true
			reasons = append(reasons, "address:same_block", "room:differs")
		case a.Address == b.Address:
			weak += wWeak
			addrExact = true
			reasons = append(reasons, "address:exact")
		default:
			reasons = append(reasons, "address:differs")
		}
	}
	if a.Postal != "" && b.Postal != "" {
		if a.Postal == b.Postal {
			if !addrExact {
				weak += wPostal
			}
			reasons = append(reasons, "postal_code:exact")
		} else {
			reasons = append(reasons, "postal_code:differs")
		}
	}
	if weak > wWeakCap {
		weak = wWeakCap
	}
	s := strong + weak + nameScore
	if s < 0 {
		s = 0
	}
	if s > 1 {
		s = 1
	}
	return s, reasons
}

// nameEvidence scores the name and reading together (normalize.CompareNames
// decides how they relate; identity resolution uses the same comparison).
func nameEvidence(a, b *Record, reasons []string) (float64, []string) {
	agreement, reasons := normalize.CompareNames(a.person(), b.person(), reasons)
	return nameWeights[agreement], reasons
}

// nameWeights is the score each name agreement adds.
var nameWeights = map[normalize.NameAgreement]float64{
	normalize.NamesUnknown:     0,
	normalize.NamesSame:        wName,
	normalize.NamesAlike:       wNameLike,
	normalize.NamesReadingOnly: wKanaOnly,
	normalize.NamesSimilar:     wNameSimilar,
	normalize.NamesConflict:    wConflict,
}

// sharedMobileConflict reports whether a and b share a mobile number and
// their names conflict (normalize.RuleSharedMobileNameConflict): such a
// pair is a review suggestion whatever else agrees.
func sharedMobileConflict(a, b *Record) bool {
	return a.Phone != "" && a.PhoneMobile && a.Phone == b.Phone && normalize.SharedMobileNameConflict(a.person(), b.person())
}
