package normalize

import (
	"strings"
	"unicode/utf8"
)

// Address is a normalised Japanese address.
type Address struct {
	// Value is the address for display: NFKC, single spaces, block number
	// as N-N-N, building separated by one space.
	Value string
	// Prefecture is one of the 47 prefectures when the address started
	// with it, else "".
	Prefecture string
	// Locality is the address without prefecture and building: city, town
	// and block number (千代田区丸の内1-2-3).
	Locality string
	// Building is what followed the block number: building name, floor,
	// room (丸の内ビル5F).
	Building string
	// Room is the last number in Building (room or floor: 603号室 → 603,
	// 5F → 5), or "". It lets the matcher tell apart two flats of one
	// building without comparing building names, which are spelled in too
	// many ways to compare exactly.
	Room string
	// Key is Locality folded for matching: no spaces, variant kanji
	// folded, lower case, and ヶ/ケ/が/ガ unified (霞ヶ関/霞が関). The
	// prefecture is left out because many lists omit it, and the building
	// because it is spelled in too many ways to compare exactly.
	Key string
	// Postal is the postal code (NNN-NNNN) the address started with, as
	// Japanese addresses are often written (〒100-0001 東京都…), else "".
	Postal string
	Issues []Issue
}

var prefectures = []string{
	"北海道", "青森県", "岩手県", "宮城県", "秋田県", "山形県", "福島県",
	"茨城県", "栃木県", "群馬県", "埼玉県", "千葉県", "東京都", "神奈川県",
	"新潟県", "富山県", "石川県", "福井県", "山梨県", "長野県", "岐阜県",
	"静岡県", "愛知県", "三重県", "滋賀県", "京都府", "大阪府", "兵庫県",
	"奈良県", "和歌山県", "鳥取県", "島根県", "岡山県", "広島県", "山口県",
	"徳島県", "香川県", "愛媛県", "高知県", "福岡県", "佐賀県", "長崎県",
	"熊本県", "大分県", "宮崎県", "鹿児島県", "沖縄県",
}

// NormalizeAddress normalises a Japanese address into a matching key and
// its parts.
func NormalizeAddress(s string) Address {
	t := Text(s)
	if t == "" {
		return Address{}
	}
	var a Address
	a.Postal, t = leadingPostal(t)
	for _, p := range prefectures {
		if strings.HasPrefix(t, p) {
			a.Prefecture = p
			t = strings.TrimSpace(t[len(p):])
			break
		}
	}
	if a.Prefecture == "" {
		a.Issues = []Issue{IssueNoPrefecture}
	}
	// Folding can expose a new marker next to a digit ("0丁目番" → "0番"),
	// so repeat to a fixed point; real addresses settle after one pass.
	t = foldBlockNumbers(t)
	for range 4 {
		if !markerAfterNumber(t) {
			break // nothing left that another pass could fold
		}
		u := foldBlockNumbers(t)
		if u == t {
			break
		}
		t = u
	}
	a.Locality, a.Building = splitBuilding(t)
	a.Value = a.Prefecture + a.Locality
	if a.Building != "" {
		a.Value += " " + a.Building
	}
	a.Key = addressKey(a.Locality)
	a.Room = lastNumber(a.Building)
	return a
}

// leadingPostal splits a postal code written before the address
// ("〒100-0001 東京都…", "100-0001東京都…") from the rest. Only a code in
// the postal shape (3 digits, a dash, 4 digits, or 7 digits, optionally
// after 〒) counts, so a block number at the start is left alone.
func leadingPostal(t string) (postal, rest string) {
	s := strings.TrimPrefix(t, "〒")
	hasMark := len(s) != len(t)
	s = strings.TrimLeft(s, " ")
	end := 0
	for end < len(s) && end < 8 && (isDigit(rune(s[end])) || (end == 3 && s[end] == '-')) {
		end++
	}
	code := s[:end]
	dashed := len(code) == 8 && code[3] == '-'
	plain := len(code) == 7 && !strings.Contains(code, "-")
	if !dashed && !plain {
		return "", t
	}
	if end < len(s) && isDigit(rune(s[end])) {
		return "", t // a longer number, not a postal code
	}
	if !hasMark && plain {
		return "", t // seven bare digits are too likely something else
	}
	p := NormalizePostal(code)
	if p.Value == "" {
		return "", t
	}
	return p.Value, strings.TrimSpace(s[end:])
}

var addressKeyReplacer = strings.NewReplacer("ヶ", "ケ", "ヵ", "ケ", "が", "ケ", "ガ", "ケ", "ノ", "の")

func addressKey(s string) string {
	return addressKeyReplacer.Replace(strings.ToLower(foldVariants(removeSpace(s))))
}

// markerAfterNumber reports whether a block-number marker (丁目, 番, 号,
// の) still follows a digit or hyphen, i.e. whether another folding pass
// could change s. 号室/号館/号棟 (room and building numbers) do not count.
func markerAfterNumber(s string) bool {
	prev := rune(0)
	rs := s
	for i, r := range rs {
		if (isDigit(prev) || prev == '-') && strings.ContainsRune("丁番号のノ", r) {
			rest := rs[i+len(string(r)):]
			if r != '号' || !(strings.HasPrefix(rest, "室") || strings.HasPrefix(rest, "館") || strings.HasPrefix(rest, "棟")) {
				return true
			}
		}
		prev = r
	}
	return false
}

// lastNumber returns the last run of ASCII digits in s.
func lastNumber(s string) string {
	end := len(s)
	for end > 0 && !isDigit(rune(s[end-1])) {
		end--
	}
	start := end
	for start > 0 && isDigit(rune(s[start-1])) {
		start--
	}
	return s[start:end]
}

func isKanjiNumeral(r rune) bool {
	return strings.ContainsRune("〇一二三四五六七八九十百千", r)
}

func isDigit(r rune) bool { return r >= '0' && r <= '9' }

// foldBlockNumbers rewrites the block-number part of an address to N-N-N:
// kanji numerals next to 丁目/番地/番/号/の become Arabic, the markers
// become hyphens, and every dash-like character between numbers becomes
// "-". Kanji numerals that are part of place names (三鷹, 八王子, 九段)
// are left alone because they are not next to a marker.
func foldBlockNumbers(s string) string {
	rs := []rune(s)
	out := make([]rune, 0, len(rs)+4)
	numberish := func(i int) bool { return i >= 0 && i < len(rs) && (isDigit(rs[i]) || isKanjiNumeral(rs[i])) }
	for i := 0; i < len(rs); i++ {
		r := rs[i]
		switch {
		case isDash(r):
			if (r == 'ー' || r == 'ｰ') && !(numberish(i-1) && numberish(i+1)) {
				out = append(out, r) // a real prolonged sound mark (センター)
				continue
			}
			out = append(out, '-')
		case isKanjiNumeral(r):
			j := i
			for j < len(rs) && isKanjiNumeral(rs[j]) {
				j++
			}
			run := rs[i:j]
			if markerAt(rs, j) || afterBlockSeparator(out) {
				out = appendInt(out, kanjiValue(run))
			} else {
				out = append(out, run...)
			}
			i = j - 1
		default:
			out = append(out, r)
		}
	}
	return foldMarkers(string(out))
}

// markerAt reports whether a block-number marker starts at rs[j].
func markerAt(rs []rune, j int) bool {
	if j >= len(rs) {
		return false
	}
	switch rs[j] {
	case '丁':
		return j+1 < len(rs) && rs[j+1] == '目'
	case '番':
		return !(j+1 < len(rs) && rs[j+1] == '町')
	case '号', '-':
		return true
	case 'の', 'ノ':
		return j+1 < len(rs) && (isDigit(rs[j+1]) || isKanjiNumeral(rs[j+1]))
	}
	return isDash(rs[j]) && j+1 < len(rs) && (isDigit(rs[j+1]) || isKanjiNumeral(rs[j+1]))
}

// afterBlockSeparator reports whether out ends in "digit-", "digitの",
// 番地の or 番地 — the positions where the last number of a block
// (二番地の三) appears without a marker after it.
func afterBlockSeparator(out []rune) bool {
	n := len(out)
	if n >= 2 && (out[n-1] == '-' || out[n-1] == 'の') && isDigit(out[n-2]) {
		return true
	}
	if n >= 2 && (out[n-1] == '目' || out[n-1] == '地' || out[n-1] == '番') {
		return true
	}
	return n >= 3 && out[n-1] == 'の' && out[n-2] == '地' && out[n-3] == '番'
}

// kanjiValue reads 〇一二…九 positionally (二〇五 = 205) and 十百千 as
// multipliers (二十三 = 23).
func kanjiValue(run []rune) int {
	digit := func(r rune) int { return strings.IndexRune("〇一二三四五六七八九", r) / 3 }
	hasMul := false
	for _, r := range run {
		if r == '十' || r == '百' || r == '千' {
			hasMul = true
		}
	}
	if !hasMul {
		v := 0
		for _, r := range run {
			v = v*10 + digit(r)
		}
		return v
	}
	total, cur := 0, 0
	for _, r := range run {
		switch r {
		case '十', '百', '千':
			m := 10
			if r == '百' {
				m = 100
			} else if r == '千' {
				m = 1000
			}
			if cur == 0 {
				cur = 1
			}
			total += cur * m
			cur = 0
		default:
			cur = cur*10 + digit(r)
		}
	}
	return total + cur
}

func appendInt(out []rune, v int) []rune {
	var buf [20]byte
	i := len(buf)
	if v == 0 {
		return append(out, '0')
	}
	for v > 0 {
		i--
		buf[i] = byte('0' + v%10)
		v /= 10
	}
	for _, b := range buf[i:] {
		out = append(out, rune(b))
	}
	return out
}

// foldMarkers turns 1丁目2番地3号 / 1丁目2番3 / 2番地の3 into 1-2-3.
func foldMarkers(s string) string {
	if !strings.ContainsAny(s, "0123456789") {
		return s
	}
	rs := []rune(s)
	out := make([]rune, 0, len(rs))
	for i := 0; i < len(rs); i++ {
		r := rs[i]
		// A marker folds when it follows a number, also through the
		// hyphens earlier markers became ("1丁目番" is "1-" then "番").
		k := len(out) - 1
		for k >= 0 && out[k] == '-' {
			k--
		}
		prevDigit := k >= 0 && isDigit(out[k])
		next := func(k int) rune {
			if i+k < len(rs) {
				return rs[i+k]
			}
			return 0
		}
		switch {
		case prevDigit && r == '丁' && next(1) == '目':
			out = append(out, '-')
			i++
		case prevDigit && r == '番' && next(1) == '地':
			out = append(out, '-')
			i++
			if next(1) == 'の' {
				i++
			}
		case prevDigit && r == '番' && next(1) != '町':
			out = append(out, '-')
			if next(1) == 'の' {
				i++
			}
		case prevDigit && r == '号' && next(1) != '室' && next(1) != '館' && next(1) != '棟':
			out = append(out, ' ') // the block number ends here
		case prevDigit && (r == 'の' || r == 'ノ') && isDigit(next(1)):
			out = append(out, '-')
		case r == ' ' && len(out) > 0 && out[len(out)-1] == '-' && isDigit(next(1)):
			// "1丁目 2番" — a space inside the block number.
		default:
			out = append(out, r)
		}
	}
	// Collapse "--" and drop hyphens that do not sit between two digits.
	res := make([]rune, 0, len(out))
	for i, r := range out {
		if r == '-' {
			if len(res) == 0 || !isDigit(res[len(res)-1]) {
				continue
			}
			if i+1 >= len(out) || !isDigit(out[i+1]) {
				continue
			}
		}
		res = append(res, r)
	}
	return collapseSpace(string(res))
}

// splitBuilding cuts the address after its block number. The block number
// is the first run of digits joined by hyphens (at least two numbers), or
// failing that the first number followed by a space; what follows is the
// building. Without a recognisable block number everything is locality.
func splitBuilding(s string) (locality, building string) {
	end := -1
	for i := 0; i < len(s); {
		if !isDigit(rune(s[i])) {
			_, w := utf8.DecodeRuneInString(s[i:])
			i += w
			continue
		}
		j := i
		parts := 0
		for j < len(s) && isDigit(rune(s[j])) {
			for j < len(s) && isDigit(rune(s[j])) {
				j++
			}
			parts++
			if j+1 < len(s) && s[j] == '-' && isDigit(rune(s[j+1])) {
				j++
				continue
			}
			break
		}
		if parts >= 2 || j == len(s) || s[j] == ' ' {
			end = j
			break
		}
		i = j
	}
	if end < 0 {
		return s, ""
	}
	return strings.TrimSpace(s[:end]), strings.TrimSpace(strings.TrimLeft(s[end:], " -"))
}
