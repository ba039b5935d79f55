package match

import (
	"strconv"

	"github.com/adrg/strutil/metrics"
)

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

// similarAt is the Jaro-Winkler similarity from which two names or readings
// count as "similar". At 0.9, 田中太郎/田中次郎 (0.87) are not similar;
// ヤマダタロウ/ヤマダジロウ (0.92) are, which is why a similar reading never
// outweighs different kanji (see nameEvidence).
const similarAt = 0.9

var jaroWinkler = metrics.NewJaroWinkler()

func similarity(a, b string) float64 { return jaroWinkler.Compare(a, b) }

func fmtSim(f float64) string { return strconv.FormatFloat(f, 'f', 2, 64) }

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

// nameEvidence scores the name and reading together, because they are two
// views of one fact: the kanji can differ by a typo while the reading
// agrees, and a reading can be similar (タロウ/ジロウ) for two brothers whose
// kanji clearly differ.
func nameEvidence(a, b *Record, reasons []string) (float64, []string) {
	// Kanji (or Latin) name.
	const (
		none = iota
		exact
		similar
		differs
	)
	n := none
	if a.Name != "" && b.Name != "" {
		switch {
		case a.Name == b.Name:
			n = exact
			reasons = append(reasons, "name:exact")
		case a.Family != "" && b.Family != "" && a.Family == b.Family && a.Given != b.Given:
			// Same family, different given name: the household case.
			n = differs
			reasons = append(reasons, "given_name:differs")
		default:
			if sim := similarity(a.Name, b.Name); sim >= similarAt {
				n = similar
				reasons = append(reasons, "name:similar("+fmtSim(sim)+")")
			} else {
				n = differs
				reasons = append(reasons, "name:differs")
			}
		}
	}
	k := none
	if a.Kana != "" && b.Kana != "" {
		if a.Kana == b.Kana {
			k = exact
			reasons = append(reasons, "name_kana:exact")
		} else if sim := similarity(a.Kana, b.Kana); sim >= similarAt {
			k = similar
			reasons = append(reasons, "name_kana:similar("+fmtSim(sim)+")")
		} else {
			k = differs
			reasons = append(reasons, "name_kana:differs")
		}
	}
	switch {
	case n == exact && k != differs:
		return wName, reasons
	case n == none && k == exact:
		return wName, reasons
	case n == similar && k == exact:
		return wNameLike, reasons
	case n == differs && k == exact:
		return wKanaOnly, reasons
	case n == none && k == none:
		return 0, reasons
	case n == differs || k == differs:
		// Includes exact kanji with a different reading: two people
		// whose names are written alike but read differently (幸子:
		// サチコ/ユキコ) are as distinct as two different names.
		return wConflict, reasons
	default:
		// similar/none combinations: weak support, no contradiction.
		return wNameSimilar, reasons
	}
}
