package normalize

import (
	"strings"
	"unicode"

	"golang.org/x/text/unicode/norm"
)

// Kana is a normalised reading (フリガナ).
type Kana struct {
	// Value is the reading in full-width katakana without spaces, e.g.
	// ヤマダタロウ for "やまだ たろう" or "ﾔﾏﾀﾞﾀﾛｳ".
	Value string
	// Key is Value further folded for matching: small kana to normal size,
	// ヂ/ヅ to ジ/ズ, ヲ to オ and the prolonged sound mark dropped, because
	// those are exactly the spots where two people transcribe one name
	// differently (ユウコ/ユーコ is a real variant, ヨウコ/ユウコ is not).
	Key    string
	Issues []Issue
}

// NormalizeKana folds a reading written in hiragana, katakana or half-width
// katakana to one full-width katakana form without spaces. Characters that
// are not kana are kept (so nothing is lost) but flagged.
func NormalizeKana(s string) Kana {
	t := Text(s)
	if t == "" {
		return Kana{}
	}
	var b strings.Builder
	b.Grow(len(t))
	bad, marks := false, false
	for _, r := range t {
		switch {
		case r == ' ' || r == '・' || r == '=' || r == '＝' || r == '･':
			// Separators between family and given name carry no meaning.
			continue
		case r >= 'ぁ' && r <= 'ゖ', r == 'ゝ' || r == 'ゞ':
			r += 'ァ' - 'ぁ'
		case r >= 'ァ' && r <= 'ヺ', r == 'ー' || r == 'ヽ' || r == 'ヾ':
		default:
			if !unicode.IsPunct(r) {
				bad = true
			}
			marks = marks || unicode.Is(unicode.Mn, r)
		}
		b.WriteRune(r)
	}
	v := b.String()
	if marks {
		// Removing a space can put a combining mark next to a letter it
		// now composes with; compose so that the result is stable.
		v = norm.NFKC.String(v)
	}
	k := Kana{Value: v}
	k.Key = kanaKey(k.Value)
	if bad {
		k.Issues = []Issue{IssueInvalidKana}
	}
	return k
}

var kanaKeyReplacer = strings.NewReplacer(
	"ァ", "ア", "ィ", "イ", "ゥ", "ウ", "ェ", "エ", "ォ", "オ",
	"ッ", "ツ", "ャ", "ヤ", "ュ", "ユ", "ョ", "ヨ", "ヮ", "ワ", "ヵ", "カ", "ヶ", "ケ",
	"ヂ", "ジ", "ヅ", "ズ", "ヲ", "オ", "ヴ", "ブ", "ー", "",
)

func kanaKey(v string) string { return kanaKeyReplacer.Replace(v) }
