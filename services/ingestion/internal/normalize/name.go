package normalize

import "strings"

// Name is a normalised person name.
type Name struct {
	// Value is the name for display: NFKC, single spaces, honorific
	// removed. Kanji are kept as written.
	Value string
	// Key is the matching key: variant kanji folded, lower-cased (for
	// names in Latin script), without spaces.
	Key string
	// Family and Given are the key split at the first space, when the
	// input had one. Many lists write 山田太郎 without a space; then both
	// are empty and only Key is usable.
	Family, Given string
}

// honorifics are removed from the end of a name, but only when at least
// two characters remain, so a name that merely ends in one of them is kept.
// 君, くん and ちゃん are not removed: they are rare in customer lists and
// end real given names (e.g. 君 in some older names), so stripping them
// would corrupt more names than it fixes.
var honorifics = []string{"御中", "様", "さま", "サマ", "殿", "さん", "氏"}

// NormalizeName normalises a person's name.
func NormalizeName(s string) Name {
	v := Text(s)
	for {
		trimmed := false
		for _, h := range honorifics {
			if rest, ok := strings.CutSuffix(v, h); ok && len([]rune(strings.TrimSpace(rest))) >= 2 {
				v = strings.TrimSpace(rest)
				trimmed = true
			}
		}
		if !trimmed {
			break
		}
	}
	if v == "" {
		return Name{}
	}
	k := strings.ToLower(foldVariants(v))
	n := Name{Value: v, Key: removeSpace(k)}
	if fam, giv, ok := strings.Cut(k, " "); ok {
		n.Family, n.Given = fam, removeSpace(giv)
	}
	return n
}
