package normalize

import (
	"strconv"
	"strings"

	"github.com/nyaruka/phonenumbers"
)

// DefaultRegion is the region assumed for numbers written without a country
// code. Kizuna's first users are Japanese, so 03-1234-5678 means Tokyo.
const DefaultRegion = "JP"

// LineType classifies a phone number. The matcher needs it because a mobile
// number identifies one person while a fixed line is shared by a household
// or a whole office.
type LineType string

// Line types, derived from libphonenumber's number type.
const (
	LineUnknown  LineType = ""
	LineMobile   LineType = "mobile"
	LineFixed    LineType = "fixed_line"
	LineTollFree LineType = "toll_free"
	// LineVoIP covers Japan's 050 numbers: they are often personal but are
	// also sold as office lines, so the matcher treats them as shared.
	LineVoIP  LineType = "voip"
	LineOther LineType = "other"
)

// ValidRegion reports whether libphonenumber knows region, an upper-case
// ISO 3166-1 code such as "JP".
func ValidRegion(region string) bool { return phonenumbers.GetSupportedRegions()[region] }

// Phone is a normalised phone number.
type Phone struct {
	// E164 is the number in E.164 form (+81312345678), or "" when the
	// input could not be parsed as a valid number.
	E164   string
	Type   LineType // LineUnknown when E164 is empty
	Issues []Issue  // IssueInvalidPhone when the input was not empty but invalid
}

// Mobile reports whether the number is known to reach a mobile phone.
func (p Phone) Mobile() bool { return p.Type == LineMobile }

// NormalizePhone parses a phone number written in any common Japanese or
// international style and returns it in E.164. region is the ISO 3166 code
// used for numbers without a country code; "" means DefaultRegion.
//
// Input is cleaned before it reaches libphonenumber because Japanese data
// holds characters the library does not treat as separators: full-width
// digits, the katakana prolonged sound mark typed instead of a hyphen, and
// extension text such as 内線.
func NormalizePhone(s, region string) Phone {
	if region == "" {
		region = DefaultRegion
	}
	digits, plus := phoneDigits(s)
	if digits == "" {
		if strings.TrimSpace(s) == "" {
			return Phone{}
		}
		return Phone{Issues: []Issue{IssueInvalidPhone}}
	}
	in := digits
	if plus {
		in = "+" + digits
	} else if strings.HasPrefix(digits, "00") && region == "JP" {
		// 00 is not Japan's international prefix (010 is), but people
		// copy European-style 0081... numbers; read it as intended.
		in = "+" + digits[2:]
	}
	num, ok := (*phonenumbers.PhoneNumber)(nil), false
	if region == "JP" || plus && strings.HasPrefix(digits, "81") {
		num, ok = jpFast(digits, plus)
	}
	if !ok {
		var err error
		if num, err = phonenumbers.Parse(in, region); err != nil {
			return Phone{Issues: []Issue{IssueInvalidPhone}}
		}
	}
	// GetNumberType returns UNKNOWN exactly when the number matches none
	// of its region's patterns, which is what IsValidNumber checks; calling
	// only GetNumberType halves the regular-expression work per number.
	t := phonenumbers.GetNumberType(num)
	if t == phonenumbers.UNKNOWN {
		return Phone{Issues: []Issue{IssueInvalidPhone}}
	}
	var e164 string
	if ok {
		// Japanese numbers have no Italian-style leading zero, so the
		// E.164 form is simply +81 and the national significant number.
		e164 = "+81" + strconv.FormatUint(num.GetNationalNumber(), 10)
	} else {
		e164 = phonenumbers.Format(num, phonenumbers.E164)
	}
	return Phone{E164: e164, Type: lineType(t)}
}

func lineType(t phonenumbers.PhoneNumberType) LineType {
	switch t {
	case phonenumbers.MOBILE, phonenumbers.PAGER:
		return LineMobile
	case phonenumbers.FIXED_LINE, phonenumbers.FIXED_LINE_OR_MOBILE:
		// FIXED_LINE_OR_MOBILE only occurs in countries that cannot tell
		// the two apart; treat it as shared, which is the safe side.
		return LineFixed
	case phonenumbers.TOLL_FREE, phonenumbers.SHARED_COST, phonenumbers.UAN:
		return LineTollFree
	case phonenumbers.VOIP:
		return LineVoIP
	case phonenumbers.UNKNOWN:
		return LineUnknown
	}
	return LineOther
}

// phoneDigits keeps the digits of s (ASCII or full-width) and reports
// whether the number started with '+'. Everything else — dashes of any
// kind, brackets, spaces — is a separator. Anything after an extension
// marker (内線, ext, x, #) is dropped so that "03-1234-5678 内線 12" stays
// valid. A hand-written scan instead of NFKC: this runs for every record and
// phone columns hold nothing that NFKC would fold other than digits and ＋.
func phoneDigits(s string) (string, bool) {
	var buf [32]byte
	b := buf[:0]
	plus := false
	for i, r := range s {
		switch {
		case r >= '0' && r <= '9':
			b = append(b, byte(r))
		case r >= '０' && r <= '９':
			b = append(b, byte(r-'０'+'0'))
		case (r == '+' || r == '＋') && len(b) == 0:
			plus = true
		case len(b) > 0 && (r == '#' || r == 'x' || r == 'X' || r == 'ｘ' || r == 'e' || r == 'E' ||
			r == '内' && strings.HasPrefix(s[i+len("内"):], "線")):
			return string(b), plus
		}
	}
	return string(b), plus
}

// jpFast handles the overwhelmingly common case — a Japanese number written
// domestically (0 + 9 or 10 digits) or as +81 — without phonenumbers.Parse,
// which costs several regular expressions per call. The national significant
// number is exactly the digits after the trunk prefix 0 (Japan has no other
// national prefix rule), so building it by hand gives the same result as
// Parse; TestPhoneFastPathMatchesParse checks that on many numbers.
func jpFast(digits string, plus bool) (*phonenumbers.PhoneNumber, bool) {
	var nsn string
	switch {
	case plus && strings.HasPrefix(digits, "81") && len(digits) >= 11 && digits[2] != '0':
		nsn = digits[2:]
	case !plus && len(digits) >= 10 && len(digits) <= 11 && digits[0] == '0' && digits[1] != '0' &&
		!strings.HasPrefix(digits, "010"): // 010 is Japan's international call prefix
		nsn = digits[1:]
	default:
		return nil, false
	}
	v, err := strconv.ParseUint(nsn, 10, 64)
	if err != nil {
		return nil, false
	}
	cc := int32(81)
	return &phonenumbers.PhoneNumber{CountryCode: &cc, NationalNumber: &v}, true
}
