package normalize

import (
	"strconv"

	"github.com/adrg/strutil/metrics"
)

// PersonName is the part of a record that names the person: the name key,
// its family and given parts when known, and the reading key.
type PersonName struct {
	Name, Family, Given string
	Kana                string
}

// Person returns the record's name and reading keys.
func (r Result) Person() PersonName {
	return PersonName{Name: r.Name.Key, Family: r.Name.Family, Given: r.Name.Given, Kana: r.Kana.Key}
}

// IsZero reports whether neither a name nor a reading is known.
func (p PersonName) IsZero() bool { return p.Name == "" && p.Kana == "" }

// NameAgreement says how the names of two records relate.
type NameAgreement int

// Name agreements, from no evidence to a conflict.
const (
	// NamesUnknown: one side has neither name nor reading, or nothing
	// comparable.
	NamesUnknown NameAgreement = iota
	// NamesSame: the same name, the reading not contradicting it; or no
	// name and the same reading.
	NamesSame
	// NamesAlike: similar kanji with the same reading (a typo).
	NamesAlike
	// NamesReadingOnly: different kanji with the same reading (a variant
	// or a namesake).
	NamesReadingOnly
	// NamesSimilar: similar, not contradicted.
	NamesSimilar
	// NamesConflict: two different people, e.g. different names, the same
	// family with another given name, or the same kanji read differently.
	NamesConflict
)

// SimilarAt is the Jaro-Winkler similarity from which two names or readings
// count as similar. At 0.9, 田中太郎/田中次郎 (0.87) are not similar;
// ヤマダタロウ/ヤマダジロウ (0.92) are, which is why a similar reading never
// outweighs different kanji.
const SimilarAt = 0.9

var jaroWinkler = metrics.NewJaroWinkler()

// Similarity is the Jaro-Winkler similarity of two keys.
func Similarity(a, b string) float64 { return jaroWinkler.Compare(a, b) }

// CompareNames compares two people's names and readings together, because
// they are two views of one fact: the kanji can differ by a typo while the
// reading agrees, and a reading can be similar (タロウ/ジロウ) for two
// brothers whose kanji clearly differ. It appends one reason per compared
// field ("name:exact", "given_name:differs", "name_kana:similar(0.93)" …).
//
// Identity resolution and the duplicate matcher both decide with it, so
// they agree on when two names conflict (see RuleSharedMobileNameConflict).
func CompareNames(a, b PersonName, reasons []string) (NameAgreement, []string) {
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
			if sim := Similarity(a.Name, b.Name); sim >= SimilarAt {
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
		} else if sim := Similarity(a.Kana, b.Kana); sim >= SimilarAt {
			k = similar
			reasons = append(reasons, "name_kana:similar("+fmtSim(sim)+")")
		} else {
			k = differs
			reasons = append(reasons, "name_kana:differs")
		}
	}
	switch {
	case n == exact && k != differs:
		return NamesSame, reasons
	case n == none && k == exact:
		return NamesSame, reasons
	case n == similar && k == exact:
		return NamesAlike, reasons
	case n == differs && k == exact:
		return NamesReadingOnly, reasons
	case n == none && k == none:
		return NamesUnknown, reasons
	case n == differs || k == differs:
		// Includes exact kanji with a different reading: two people
		// whose names are written alike but read differently (幸子:
		// サチコ/ユキコ) are as distinct as two different names.
		return NamesConflict, reasons
	default:
		return NamesSimilar, reasons
	}
}

// RuleSharedMobileNameConflict is the reason given when a mobile number is
// shared by two records whose names conflict (CompareNames returns
// NamesConflict): a family phone, a reused number, or a form filled in for
// someone else. Such a pair is never merged automatically — neither by live
// identity resolution nor by a duplicate scan — and becomes a merge
// suggestion for a person to decide instead.
const RuleSharedMobileNameConflict = "rule:shared_mobile_name_conflict"

// SharedMobileNameConflict reports whether two records that share a mobile
// number must not be merged automatically: their names conflict.
func SharedMobileNameConflict(a, b PersonName) bool {
	agreement, _ := CompareNames(a, b, nil)
	return agreement == NamesConflict
}

func fmtSim(f float64) string { return strconv.FormatFloat(f, 'f', 2, 64) }
