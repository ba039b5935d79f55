package normalize

import (
	"strings"
	"unicode"
	"unicode/utf8"

	"golang.org/x/text/unicode/norm"
)

// Text applies NFKC and collapses every run of white space (including the
// ideographic space U+3000) to one ASCII space, trimming both ends.
//
// NFKC is the right fold for customer data: it maps full-width ASCII and
// digits to ASCII, half-width katakana (with their separate voiced marks) to
// composed full-width katakana, and circled/parenthesised forms such as ㈱ to
// (株). It never changes kanji except for compatibility ideographs.
//
// Invalid UTF-8 (a mis-declared Shift_JIS file, a truncated field) is
// replaced by U+FFFD first, so that every later step sees valid text and
// the result is stable when normalised again.
func Text(s string) string {
	if isPlainASCII(s) {
		return collapseSpace(s)
	}
	if !utf8.ValidString(s) {
		s = strings.ToValidUTF8(s, "\uFFFD")
	}
	return collapseSpace(norm.NFKC.String(s))
}

// isPlainASCII reports whether s is printable ASCII only, for which NFKC is
// the identity; most e-mail, phone and postal values take this fast path.
func isPlainASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= utf8.RuneSelf {
			return false
		}
	}
	return true
}

func collapseSpace(s string) string {
	if !needsCollapse(s) {
		return s // the common case; avoids an allocation
	}
	return strings.Join(strings.Fields(s), " ")
}

// needsCollapse reports leading or trailing space, doubled spaces and any
// white space other than a single ASCII space.
func needsCollapse(s string) bool {
	prevSpace := true // a space at the start counts as doubled
	for _, r := range s {
		sp := unicode.IsSpace(r)
		if sp && (prevSpace || r != ' ') {
			return true
		}
		prevSpace = sp
	}
	return prevSpace && s != ""
}

// removeSpace drops all white space; keys never depend on spacing.
func removeSpace(s string) string {
	if strings.IndexFunc(s, unicode.IsSpace) < 0 {
		return s
	}
	var b strings.Builder
	b.Grow(len(s))
	for _, r := range s {
		if !unicode.IsSpace(r) {
			b.WriteRune(r)
		}
	}
	return b.String()
}

// isDash reports the many dash-like characters people type between digits:
// ASCII hyphen-minus, the Unicode hyphens and dashes, the minus sign, the
// katakana prolonged sound mark (a common IME slip) and their full-width and
// small forms.
func isDash(r rune) bool {
	switch r {
	case '-', '\u2010', '\u2011', '\u2012', '\u2013', '\u2014', '\u2015',
		'\u2212', '\u2043', '\u30FC', '\uFF70', '\uFF0D', '\uFE63', '\uFE58',
		'\u2500', '\u2501':
		return true
	}
	return false
}
