package normalize

import "strings"

// kanjiVariants folds old-style (旧字体) and variant (異体字) kanji that
// appear in Japanese personal and company names to the common form, so
// 齋藤 and 斎藤 compare equal. It is used for matching keys only: the
// registered spelling of a name matters to its owner and is never changed
// in display values.
//
// The table is deliberately limited to characters whose folding is
// uncontroversial in customer matching. Pairs that are distinct surnames in
// practice (斉藤 vs 斎藤) are left alone: we prefer a missed merge, which a
// reviewer can fix, to a wrong one.
var kanjiVariants = map[rune]rune{
	'齋': '斎', '齊': '斎', // 齋藤, 齊藤 → 斎藤
	'邊': '辺', '邉': '辺', // 渡邊, 渡邉 → 渡辺
	'髙': '高',                     // はしご高
	'﨑': '崎', '嵜': '崎', '碕': '崎', // たつさき
	'澤': '沢',
	'濱': '浜',
	'廣': '広',
	'櫻': '桜',
	'國': '国',
	'嶋': '島', '嶌': '島',
	'德': '徳',
	'龍': '竜',
	'眞': '真',
	'藏': '蔵',
	'惠': '恵',
	'榮': '栄',
	'實': '実',
	'壽': '寿',
	'與': '与',
	'萬': '万',
	'會': '会',
	'學': '学',
	'黑': '黒',
	'圓': '円',
	'瀨': '瀬',
	'籠': '篭',
	'冨': '富',
	'﨔': '欅',
	'淺': '浅',
	'禮': '礼',
	'𠮷': '吉', // つちよし
	'槗': '橋', '𣘺': '橋',
	'條': '条',
	'驒': '騨',
	'豐': '豊',
	'彌': '弥',
	'堯': '尭',
	'亞': '亜',
	'晉': '晋',
	'巖': '巌',
	'當': '当',
	'傳': '伝',
	'縣': '県',
	'靜': '静',
}

// foldVariants applies kanjiVariants. Strings without any variant are
// returned unchanged without allocating.
func foldVariants(s string) string {
	i := strings.IndexFunc(s, func(r rune) bool { _, ok := kanjiVariants[r]; return ok })
	if i < 0 {
		return s
	}
	var b strings.Builder
	b.Grow(len(s))
	b.WriteString(s[:i])
	for _, r := range s[i:] {
		if v, ok := kanjiVariants[r]; ok {
			r = v
		}
		b.WriteRune(r)
	}
	return b.String()
}
