// Package matchtest generates labelled Japanese customer records for testing
// and benchmarking the matcher: every record carries the ID of the person
// it describes, duplicates are written with the spelling variants found in
// real lists, and the data contains the traps that make matching hard —
// namesakes, households and colleagues.
//
// It is test support, imported only by tests and benchmarks.
package matchtest

import (
	"encoding/csv"
	"fmt"
	"io"
	"math/rand/v2"
	"strconv"
	"strings"

	"github.com/kizuna/kizuna/services/ingestion/internal/normalize"
	"golang.org/x/text/unicode/norm"
	"golang.org/x/text/width"
)

// Row is one generated record and the person it belongs to.
type Row struct {
	normalize.Record
	Entity int
}

type nameKana struct{ kanji, kana string }

// Surnames with a variant spelling come first so that variant folding is
// exercised often.
var surnames = []nameKana{
	{"斎藤", "サイトウ"}, {"渡辺", "ワタナベ"}, {"高橋", "タカハシ"}, {"山崎", "ヤマザキ"},
	{"高田", "タカダ"}, {"中島", "ナカジマ"}, {"小島", "コジマ"}, {"大沢", "オオサワ"},
	{"長浜", "ナガハマ"}, {"広田", "ヒロタ"}, {"桜井", "サクライ"}, {"徳永", "トクナガ"},
	{"国分", "コクブ"}, {"宮崎", "ミヤザキ"}, {"渡部", "ワタナベ"}, {"高木", "タカギ"},
	{"佐藤", "サトウ"}, {"鈴木", "スズキ"}, {"田中", "タナカ"}, {"伊藤", "イトウ"},
	{"中村", "ナカムラ"}, {"小林", "コバヤシ"}, {"加藤", "カトウ"}, {"吉田", "ヨシダ"},
	{"山田", "ヤマダ"}, {"佐々木", "ササキ"}, {"山口", "ヤマグチ"}, {"松本", "マツモト"},
	{"井上", "イノウエ"}, {"木村", "キムラ"}, {"林", "ハヤシ"}, {"清水", "シミズ"},
	{"山本", "ヤマモト"}, {"森", "モリ"}, {"池田", "イケダ"}, {"橋本", "ハシモト"},
	{"阿部", "アベ"}, {"石川", "イシカワ"}, {"山下", "ヤマシタ"}, {"小川", "オガワ"},
	{"石井", "イシイ"}, {"長谷川", "ハセガワ"}, {"後藤", "ゴトウ"}, {"岡田", "オカダ"},
	{"近藤", "コンドウ"}, {"前田", "マエダ"}, {"藤田", "フジタ"}, {"遠藤", "エンドウ"},
	{"青木", "アオキ"}, {"坂本", "サカモト"}, {"村上", "ムラカミ"}, {"太田", "オオタ"},
	{"金子", "カネコ"}, {"藤井", "フジイ"}, {"福田", "フクダ"}, {"西村", "ニシムラ"},
	{"三浦", "ミウラ"}, {"竹内", "タケウチ"}, {"中川", "ナカガワ"}, {"岡本", "オカモト"},
}

var givenNames = []nameKana{
	{"太郎", "タロウ"}, {"次郎", "ジロウ"}, {"花子", "ハナコ"}, {"一郎", "イチロウ"},
	{"健", "ケン"}, {"翔太", "ショウタ"}, {"大輔", "ダイスケ"}, {"美咲", "ミサキ"},
	{"陽子", "ヨウコ"}, {"裕子", "ユウコ"}, {"優子", "ユウコ"}, {"直樹", "ナオキ"},
	{"誠", "マコト"}, {"恵", "メグミ"}, {"愛", "アイ"}, {"拓也", "タクヤ"},
	{"健太", "ケンタ"}, {"由美", "ユミ"}, {"明美", "アケミ"}, {"浩", "ヒロシ"},
	{"隆", "タカシ"}, {"学", "マナブ"}, {"聡", "サトシ"}, {"智子", "トモコ"},
	{"真由美", "マユミ"}, {"彩", "アヤ"}, {"大樹", "ダイキ"}, {"蓮", "レン"},
	{"陽菜", "ヒナ"}, {"結衣", "ユイ"}, {"悠斗", "ユウト"}, {"光", "ヒカル"},
	{"涼子", "リョウコ"}, {"剛", "ツヨシ"}, {"修", "オサム"}, {"亮", "リョウ"},
	{"徹", "トオル"}, {"翼", "ツバサ"}, {"葵", "アオイ"}, {"千尋", "チヒロ"},
	{"和也", "カズヤ"}, {"達也", "タツヤ"}, {"康介", "コウスケ"}, {"俊介", "シュンスケ"},
	{"美穂", "ミホ"}, {"香織", "カオリ"}, {"舞", "マイ"}, {"瞳", "ヒトミ"},
	{"正樹", "マサキ"}, {"秀樹", "ヒデキ"}, {"雄一", "ユウイチ"}, {"幸子", "サチコ"},
	{"三郎", "サブロウ"}, {"四郎", "シロウ"}, {"久美子", "クミコ"}, {"恵子", "ケイコ"},
	{"洋子", "ヨウコ"}, {"京子", "キョウコ"}, {"圭", "ケイ"}, {"純一", "ジュンイチ"},
	{"龍之介", "リュウノスケ"}, {"澄子", "スミコ"}, {"勇気", "ユウキ"}, {"祐介", "ユウスケ"},
	{"孝", "タカシ"}, {"武", "タケシ"}, {"哲也", "テツヤ"}, {"信也", "シンヤ"},
	{"美香", "ミカ"}, {"さくら", "サクラ"}, {"ひなた", "ヒナタ"}, {"めぐみ", "メグミ"},
}

// composedGiven multiplies the given-name list: real Japanese given names
// are far more diverse than any short list, and with too few of them the
// generator would produce unrealistically many namesakes.
func composedGiven() []nameKana {
	heads := []nameKana{{"健", "ケン"}, {"翔", "ショウ"}, {"大", "ダイ"}, {"悠", "ユウ"}, {"拓", "タク"},
		{"直", "ナオ"}, {"和", "カズ"}, {"雄", "ユウ"}, {"康", "コウ"}, {"浩", "ヒロ"}, {"俊", "トシ"},
		{"真", "シン"}, {"隆", "タカ"}, {"秀", "ヒデ"}, {"正", "マサ"}, {"英", "エイ"}, {"智", "トモ"},
		{"陽", "ヨウ"}, {"光", "コウ"}, {"勇", "ユウ"}}
	tails := []nameKana{{"太", "タ"}, {"斗", "ト"}, {"也", "ヤ"}, {"輔", "スケ"}, {"樹", "キ"},
		{"介", "スケ"}, {"人", "ト"}, {"平", "ヘイ"}, {"司", "ジ"}, {"吾", "ゴ"}}
	fheads := []nameKana{{"美", "ミ"}, {"由", "ユ"}, {"香", "カ"}, {"真", "マ"}, {"千", "チ"},
		{"奈", "ナ"}, {"彩", "サ"}, {"沙", "サ"}, {"理", "リ"}, {"亜", "ア"}, {"菜", "ナ"}, {"早", "サ"}}
	ftails := []nameKana{{"子", "コ"}, {"美", "ミ"}, {"奈", "ナ"}, {"香", "カ"}, {"恵", "エ"},
		{"紀", "キ"}, {"里", "リ"}, {"希", "キ"}}
	var out []nameKana
	for _, h := range heads {
		for _, t := range tails {
			out = append(out, nameKana{h.kanji + t.kanji, h.kana + t.kana})
		}
	}
	for _, h := range fheads {
		for _, t := range ftails {
			if h.kanji != t.kanji {
				out = append(out, nameKana{h.kanji + t.kanji, h.kana + t.kana})
			}
		}
	}
	return out
}

func init() { givenNames = append(givenNames, composedGiven()...) }

// variants maps a common kanji to old or variant forms that people register
// or that OCR and old systems produce.
var variants = map[rune][]rune{
	'斎': {'齋', '齊'}, '辺': {'邊', '邉'}, '高': {'髙'}, '崎': {'﨑'}, '沢': {'澤'},
	'浜': {'濱'}, '広': {'廣'}, '桜': {'櫻'}, '国': {'國'}, '島': {'嶋'}, '徳': {'德'},
	'竜': {'龍'}, '恵': {'惠'}, '真': {'眞'},
}

type town struct{ pref, city, town, postal, area string }

var towns = []town{
	{"東京都", "千代田区", "丸の内", "1000005", "3"}, {"東京都", "千代田区", "霞が関", "1000013", "3"},
	{"東京都", "港区", "六本木", "1060032", "3"}, {"東京都", "新宿区", "西新宿", "1600023", "3"},
	{"東京都", "渋谷区", "道玄坂", "1500043", "3"}, {"東京都", "中央区", "銀座", "1040061", "3"},
	{"東京都", "品川区", "大崎", "1410032", "3"}, {"東京都", "世田谷区", "三軒茶屋", "1540024", "3"},
	{"東京都", "三鷹市", "下連雀", "1810013", "422"}, {"東京都", "八王子市", "元本郷町", "1920051", "42"},
	{"東京都", "目黒区", "自由が丘", "1520035", "3"}, {"東京都", "豊島区", "東池袋", "1700013", "3"},
	{"大阪府", "大阪市北区", "梅田", "5300001", "6"}, {"大阪府", "大阪市中央区", "難波", "5420076", "6"},
	{"大阪府", "堺市堺区", "南瓦町", "5900078", "72"}, {"大阪府", "豊中市", "新千里東町", "5600082", "6"},
	{"神奈川県", "横浜市西区", "みなとみらい", "2200012", "45"}, {"神奈川県", "川崎市川崎区", "駅前本町", "2100007", "44"},
	{"神奈川県", "藤沢市", "鵠沼石上", "2510025", "466"}, {"愛知県", "名古屋市中村区", "名駅", "4500002", "52"},
	{"愛知県", "豊田市", "若宮町", "4710026", "565"}, {"福岡県", "福岡市博多区", "博多駅前", "8120011", "92"},
	{"福岡県", "北九州市小倉北区", "浅野", "8020001", "93"}, {"北海道", "札幌市中央区", "大通西", "0600042", "11"},
	{"宮城県", "仙台市青葉区", "中央", "9800021", "22"}, {"広島県", "広島市中区", "紙屋町", "7300031", "82"},
	{"京都府", "京都市下京区", "烏丸通", "6008008", "75"}, {"兵庫県", "神戸市中央区", "三宮町", "6500021", "78"},
	{"埼玉県", "さいたま市大宮区", "桜木町", "3300854", "48"}, {"千葉県", "千葉市中央区", "富士見", "2600015", "43"},
	{"静岡県", "静岡市葵区", "紺屋町", "4200852", "54"}, {"新潟県", "新潟市中央区", "万代", "9500088", "25"},
}

var buildings = []string{"丸の内ビル", "サンシャインハイツ", "グランドメゾン", "センタービル", "パークマンション", "コーポ桜", "レジデンス青葉", "第2鈴木ビル"}

var companyStems = []string{
	"トヨクモ", "アオバ", "ミドリ", "サクラ", "ヒカリ", "ツバサ", "ミライ", "ソラ", "ハヤテ", "カスミ",
	"山田商事", "東洋産業", "日本物流", "大和精工", "北斗電機", "富士テック", "平和建設", "丸善食品",
	"Nexus", "Bluefin", "Orbit", "Quanta", "Lumen", "Vertex",
}
var companySuffixes = []string{"", "システムズ", "ホールディングス", "ソリューションズ", "工業", "商会", "ラボ", "ネット"}

var emailDomains = []string{"example.jp", "example.co.jp", "mail.example.com", "gmail.com", "docomo.ne.jp", "ezweb.ne.jp", "例え.jp"}

type person struct {
	family, given nameKana
	email         string
	mobile        string // national form without separators, e.g. 09012345678
	landline      string
	address       int // index into addrs
	company       int // -1 for none
	hasEmail      bool
}

type addr struct {
	town          int
	chome, ban, g int
	building      string
	room          int
}

type company struct {
	stem, suffix string
	form         int
	mainLine     string
	address      int
}

// Generate returns about n labelled records from seed. The same seed and n
// always give the same rows, in an order where duplicates are spread out.
func Generate(seed uint64, n int) []Row {
	rng := rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
	g := &gen{rng: rng}
	rows := make([]Row, 0, n+8)
	for len(rows) < n {
		g.entity(&rows, n)
	}
	rows = rows[:n]
	rng.Shuffle(len(rows), func(i, j int) { rows[i], rows[j] = rows[j], rows[i] })
	for i := range rows {
		rows[i].ID = "R" + strconv.Itoa(i+1)
	}
	return rows
}

type gen struct {
	rng       *rand.Rand
	people    []person
	addrs     []addr
	companies []company
	nLand     int
}

func (g *gen) pick(n int) int        { return g.rng.IntN(n) }
func (g *gen) chance(p float64) bool { return g.rng.Float64() < p }

func (g *gen) newAddress() int {
	a := addr{town: g.pick(len(towns)), chome: 1 + g.pick(9), ban: 1 + g.pick(40), g: 1 + g.pick(30)}
	if g.chance(0.4) {
		a.building = buildings[g.pick(len(buildings))]
		a.room = 100*(1+g.pick(12)) + 1 + g.pick(9)
	}
	g.addrs = append(g.addrs, a)
	return len(g.addrs) - 1
}

// newLandline returns a unique, valid fixed-line number in the town's area
// code. Subscriber numbers come from a bijection of a counter so no two
// lines collide by accident (a collision would be a false duplicate);
// numbers libphonenumber rejects (some exchanges are unassigned) are
// skipped so that only the deliberate junk is invalid.
func (g *gen) newLandline(t int) string {
	area := towns[t].area
	digits := 9 - len(area) // national significant number has 9 digits
	mod := 1
	for range digits - 1 {
		mod *= 10
	}
	for {
		g.nLand++
		sub := 2*mod + (g.nLand*7919)%(8*mod)
		n := "0" + area + strconv.Itoa(sub)
		if p := normalize.NormalizePhone(n, "JP"); p.Type == normalize.LineFixed {
			return n
		}
	}
}

func (g *gen) newCompany() int {
	c := company{stem: companyStems[g.pick(len(companyStems))], suffix: companySuffixes[g.pick(len(companySuffixes))], form: g.pick(3)}
	// Make the name unique: real company names are (near) unique within
	// a customer list; the stems only give realistic shapes.
	c.suffix += strconv.Itoa(len(g.companies))
	c.address = g.newAddress()
	c.mainLine = g.newLandline(g.addrs[c.address].town)
	g.companies = append(g.companies, c)
	return len(g.companies) - 1
}

func (g *gen) newPerson(family nameKana, address int, landline string) int {
	id := len(g.people)
	p := person{family: family, given: givenNames[g.pick(len(givenNames))], address: address, landline: landline, company: -1}
	p.mobile = fmt.Sprintf("0%d0%d", 7+g.pick(3), 10000000+(id*7919)%90000000)
	if g.chance(0.85) {
		p.hasEmail = true
		p.email = fmt.Sprintf("c%s.%d@%s", strconv.FormatInt(int64(id)*7919%1000003, 36), id, emailDomains[g.pick(len(emailDomains))])
	}
	if g.chance(0.4) {
		// Colleagues: most companies are small, a few are large.
		if len(g.companies) == 0 || g.chance(0.15) {
			p.company = g.newCompany()
		} else {
			k := len(g.companies) - 1 - g.pick(min(len(g.companies), 30))
			if g.chance(0.05) {
				k = g.pick(min(len(g.companies), 5)) // the big employers
			}
			p.company = k
		}
	}
	g.people = append(g.people, p)
	return id
}

// entity creates one household or single person (sometimes a namesake of
// an existing person) and writes their records.
func (g *gen) entity(rows *[]Row, n int) {
	var members []int
	switch {
	case g.chance(0.2):
		// Household: same family name, address and landline.
		fam := surnames[g.pick(len(surnames))]
		a := g.newAddress()
		land := g.newLandline(g.addrs[a].town)
		size := 2 + g.pick(3)
		used := map[string]bool{}
		for range size {
			id := g.newPerson(fam, a, land)
			for used[g.people[id].given.kanji] || used[g.people[id].given.kana] {
				g.people[id].given = givenNames[g.pick(len(givenNames))]
			}
			used[g.people[id].given.kanji], used[g.people[id].given.kana] = true, true
			members = append(members, id)
		}
	case g.chance(0.05) && len(g.people) > 0:
		// Namesake: same name and reading as someone else, nothing else.
		other := g.people[g.pick(len(g.people))]
		a := g.newAddress()
		id := g.newPerson(other.family, a, "")
		g.people[id].given = other.given
		members = append(members, id)
	default:
		a := g.newAddress()
		land := ""
		if g.chance(0.4) {
			land = g.newLandline(g.addrs[a].town)
		}
		members = append(members, g.newPerson(surnames[g.pick(len(surnames))], a, land))
	}
	for _, id := range members {
		dups := 0
		switch x := g.rng.Float64(); {
		case x < 0.03:
			dups = 3
		case x < 0.10:
			dups = 2
		case x < 0.30:
			dups = 1
		}
		first := true
		for range dups + 1 {
			if len(*rows) >= n {
				return
			}
			*rows = append(*rows, Row{Record: g.render(id, first), Entity: id})
			first = false
		}
	}
}

// render writes one record of person id. Every field is drawn in a random
// style (so normalisation matters even for originals), and duplicates drift:
// fields go missing, e-mail and address change occasionally.
func (g *gen) render(id int, original bool) normalize.Record {
	p := g.people[id]
	var r normalize.Record
	miss := 0.05
	if original {
		miss = 0.02
	}
	if !g.chance(miss) {
		r.Name = g.styleName(p)
	}
	if !g.chance(0.1) {
		r.NameKana = g.styleKana(p.family.kana + " " + p.given.kana)
	}
	if p.hasEmail && !g.chance(0.12) {
		e := p.email
		if !original && g.chance(0.05) {
			e = fmt.Sprintf("new%d@example.net", id) // a changed address
		}
		r.Email = g.styleEmail(e)
	}
	// One phone column: a mobile when the person gives it, else a landline.
	switch {
	case g.chance(0.6):
		r.Phone = g.stylePhone(p.mobile)
	case p.landline != "":
		r.Phone = g.stylePhone(p.landline)
	case p.company >= 0:
		r.Phone = g.stylePhone(g.companies[p.company].mainLine)
	case g.chance(0.5):
		r.Phone = g.stylePhone(p.mobile)
	}
	if g.chance(0.003) {
		r.Phone = "12-345" // junk that must be flagged
	}
	if p.company >= 0 && !g.chance(miss) {
		r.Company = g.styleCompany(g.companies[p.company])
	}
	a := p.address
	if !original && g.chance(0.03) {
		a = g.newAddress() // moved; matched through e-mail or mobile, if at all
	}
	if !g.chance(miss) {
		r.Address, r.PostalCode = g.styleAddress(g.addrs[a])
		if g.chance(0.08) {
			r.PostalCode = ""
		}
	}
	return r
}

func (g *gen) variantOf(s string) string {
	out := []rune(s)
	for i, r := range out {
		if v, ok := variants[r]; ok && g.chance(0.7) {
			out[i] = v[g.pick(len(v))]
		}
	}
	return string(out)
}

func (g *gen) styleName(p person) string {
	fam, giv := p.family.kanji, p.given.kanji
	if g.chance(0.3) {
		fam = g.variantOf(fam)
	}
	var s string
	switch g.pick(4) {
	case 0:
		s = fam + giv
	case 1:
		s = fam + " " + giv
	case 2:
		s = fam + "\u3000" + giv
	default:
		s = " " + fam + "  " + giv + " "
	}
	switch g.pick(12) {
	case 0:
		s += "様"
	case 1:
		s += " 様"
	case 2:
		s += "さん"
	}
	return s
}

func toHiragana(s string) string {
	var b strings.Builder
	for _, r := range s {
		if r >= 'ァ' && r <= 'ヶ' {
			r -= 'ァ' - 'ぁ'
		}
		b.WriteRune(r)
	}
	return b.String()
}

// halfWidth writes katakana as half-width, splitting voiced marks the way
// legacy systems store them (ダ → ﾀﾞ).
func halfWidth(s string) string { return width.Narrow.String(norm.NFD.String(s)) }

func (g *gen) styleKana(s string) string {
	switch g.pick(5) {
	case 0:
		return strings.ReplaceAll(s, " ", "")
	case 1:
		return toHiragana(s)
	case 2:
		return halfWidth(strings.ReplaceAll(s, " ", ""))
	case 3:
		return strings.ReplaceAll(s, " ", "\u3000")
	}
	return s
}

func (g *gen) styleEmail(e string) string {
	switch g.pick(6) {
	case 0:
		return strings.ToUpper(e[:1]) + e[1:]
	case 1:
		return width.Widen.String(e)
	case 2:
		return " " + e + " "
	case 3:
		return strings.ToUpper(e)
	}
	return e
}

// stylePhone formats a national number (0 + digits) in one of the ways
// found in real lists.
func (g *gen) stylePhone(nat string) string {
	var a, b, c string
	if strings.HasPrefix(nat, "070") || strings.HasPrefix(nat, "080") || strings.HasPrefix(nat, "090") {
		a, b, c = nat[:3], nat[3:7], nat[7:]
	} else {
		// Fixed line: the split between area code and exchange is only
		// right for 2-digit areas, but every digit is kept, which is all
		// the parser needs.
		a, b, c = nat[:len(nat)-8], nat[len(nat)-8:len(nat)-4], nat[len(nat)-4:]
	}
	switch g.pick(7) {
	case 0:
		return a + b + c
	case 1:
		return "+81 " + a[1:] + " " + b + " " + c
	case 2:
		return width.Widen.String(a + "-" + b + "-" + c)
	case 3:
		return a + "ー" + b + "ー" + c
	case 4:
		return "(" + a + ")" + b + "-" + c
	case 5:
		return a + "−" + b + "−" + c
	}
	return a + "-" + b + "-" + c
}

func (g *gen) styleCompany(c company) string {
	name := c.stem + c.suffix
	latin := name[0] < 0x80
	if latin {
		switch g.pick(4) {
		case 0:
			return name + " Co., Ltd."
		case 1:
			return strings.ToUpper(name) + " CO.,LTD."
		case 2:
			return "株式会社" + name
		}
		return name + " Inc."
	}
	switch g.pick(6) {
	case 0:
		return "株式会社" + name
	case 1:
		return name + "株式会社"
	case 2:
		return name + "㈱"
	case 3:
		return "（株）" + name
	case 4:
		return halfWidth(name) + "(株)"
	}
	return "株式会社 " + name
}

var kanjiDigits = []string{"〇", "一", "二", "三", "四", "五", "六", "七", "八", "九"}

func kanjiNumber(n int) string {
	switch {
	case n < 10:
		return kanjiDigits[n]
	case n < 20:
		return "十" + strings.TrimPrefix(kanjiDigits[n%10], "〇")
	}
	s := kanjiDigits[n/10] + "十"
	if n%10 != 0 {
		s += kanjiDigits[n%10]
	}
	return s
}

func (g *gen) styleAddress(a addr) (address, postal string) {
	t := towns[a.town]
	var b strings.Builder
	if g.chance(0.7) {
		b.WriteString(t.pref)
	}
	b.WriteString(t.city)
	town := t.town
	if strings.Contains(town, "が") && g.chance(0.5) {
		town = strings.Replace(town, "が", "ヶ", 1)
	}
	b.WriteString(town)
	switch g.pick(5) {
	case 0:
		fmt.Fprintf(&b, "%d-%d-%d", a.chome, a.ban, a.g)
	case 1:
		fmt.Fprintf(&b, "%d丁目%d番%d号", a.chome, a.ban, a.g)
	case 2:
		fmt.Fprintf(&b, "%s丁目%s番%s号", kanjiNumber(a.chome), kanjiNumber(a.ban), kanjiNumber(a.g))
	case 3:
		b.WriteString(width.Widen.String(fmt.Sprintf("%d-%d-%d", a.chome, a.ban, a.g)))
	default:
		fmt.Fprintf(&b, "%dー%dー%d", a.chome, a.ban, a.g)
	}
	if a.building != "" && g.chance(0.8) {
		if g.chance(0.5) {
			b.WriteString(" ")
		}
		fmt.Fprintf(&b, "%s%d", a.building, a.room)
		if g.chance(0.3) {
			b.WriteString("号室")
		}
	}
	// One postal code per town and chome, as in Japanese cities, so a
	// postal code covers a few thousand people rather than a whole ward.
	p := t.postal[:5] + fmt.Sprintf("%02d", (a.chome*13+int(t.postal[6]-'0'))%100)
	switch g.pick(4) {
	case 0:
		postal = p
	case 1:
		postal = "〒" + p[:3] + "-" + p[3:]
	case 2:
		postal = width.Widen.String(p[:3] + "-" + p[3:])
	default:
		postal = p[:3] + "-" + p[3:]
	}
	return b.String(), postal
}

// Header is the CSV header written by WriteCSV.
var Header = []string{"record_id", "name", "name_kana", "email", "phone", "company", "postal_code", "address"}

// WriteCSV writes rows as a CSV file the cleanse CLI reads. The entity
// label is not written; use the rows themselves as ground truth.
func WriteCSV(w io.Writer, rows []Row) error {
	cw := csv.NewWriter(w)
	if err := cw.Write(Header); err != nil {
		return err
	}
	for _, r := range rows {
		if err := cw.Write([]string{r.ID, r.Name, r.NameKana, r.Email, r.Phone, r.Company, r.PostalCode, r.Address}); err != nil {
			return err
		}
	}
	cw.Flush()
	return cw.Error()
}
