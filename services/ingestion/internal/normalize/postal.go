package normalize

import (
	"strings"
	"unicode"
)

// Postal is a normalised Japanese postal code.
type Postal struct {
	// Value is "NNN-NNNN", or "" when the input was not seven digits.
	Value  string
	Issues []Issue
}

// NormalizePostal accepts 〒, full-width digits, any dash and spaces, and
// returns the code as NNN-NNNN. Only the shape is checked: a seven-digit
// code that is not assigned still passes, since the postal database is not
// part of this package.
func NormalizePostal(s string) Postal {
	// No NFKC needed: the only non-ASCII characters a valid code can hold
	// (full-width digits, 〒, dashes, ideographic space) are handled here.
	if strings.TrimSpace(s) == "" {
		return Postal{}
	}
	var d [7]byte
	n := 0
	for _, r := range s {
		if r >= '０' && r <= '９' {
			r = r - '０' + '0'
		}
		switch {
		case r >= '0' && r <= '9':
			if n == 7 {
				return Postal{Issues: []Issue{IssueInvalidPostal}}
			}
			d[n] = byte(r)
			n++
		case r == '〒' || unicode.IsSpace(r) || isDash(r):
		default:
			return Postal{Issues: []Issue{IssueInvalidPostal}}
		}
	}
	if n != 7 {
		return Postal{Issues: []Issue{IssueInvalidPostal}}
	}
	return Postal{Value: string(d[:3]) + "-" + string(d[3:])}
}
