package normalize

import (
	"slices"
	"testing"
)

func TestText(t *testing.T) {
	tests := []struct{ in, want string }{
		{"", ""},
		{"  abc  ", "abc"},
		{"ＡＢＣ１２３", "ABC123"},
		{"ﾔﾏﾀﾞ\u3000ﾀﾛｳ", "ヤマダ タロウ"},
		{"山田\u3000\u3000太郎", "山田 太郎"},
		{"a\t\nb", "a b"},
		{"㈱", "(株)"},
	}
	for _, tt := range tests {
		if got := Text(tt.in); got != tt.want {
			t.Errorf("Text(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func TestNormalizeEmail(t *testing.T) {
	tests := []struct {
		in, want string
		valid    bool
		gmail    string // with ProviderRules; "" = same as want
	}{
		{"", "", false, ""},
		{" Taro.Yamada@Example.CO.JP ", "taro.yamada@example.co.jp", true, ""},
		{"ｔａｒｏ＠ｅｘａｍｐｌｅ．ｃｏ．ｊｐ", "taro@example.co.jp", true, ""},
		{"TARO@EXAMPLE.COM", "taro@example.com", true, ""},
		{"mailto:taro@example.com", "taro@example.com", true, ""},
		{"<taro@example.com>", "taro@example.com", true, ""},
		{"user@例え.jp", "user@xn--r8jz45g.jp", true, ""},
		{"user@ＥＸＡＭＰＬＥ.jp", "user@example.jp", true, ""},
		{"Taro.Yamada+news@GMAIL.com", "taro.yamada+news@gmail.com", true, "taroyamada@gmail.com"},
		{"t.a.r.o@googlemail.com", "t.a.r.o@googlemail.com", true, "taro@gmail.com"},
		{"x..y@docomo.ne.jp", "x..y@docomo.ne.jp", true, ""},
		{"bad@", "bad@", false, ""},
		{"@example.com", "@example.com", false, ""},
		{"a@b", "a@b", false, ""},
		{"taro@@example.com", "taro@@example.com", false, ""},
		{"taro yamada@example.com", "taro yamada@example.com", false, ""},
		{"taro@example..com", "taro@example..com", false, ""},
		{"taro@192.168.0.1", "taro@192.168.0.1", false, ""},
		{"山田@example.com", "山田@example.com", false, ""},
		{"taro@-example.com", "taro@-example.com", false, ""},
	}
	for _, tt := range tests {
		got := NormalizeEmail(tt.in, EmailOptions{})
		if got.Value != tt.want || got.Valid != tt.valid {
			t.Errorf("NormalizeEmail(%q) = %+v, want %q valid=%v", tt.in, got, tt.want, tt.valid)
		}
		if tt.in != "" && tt.valid == slices.Contains(got.Issues, IssueInvalidEmail) {
			t.Errorf("NormalizeEmail(%q) issues = %v, valid=%v", tt.in, got.Issues, tt.valid)
		}
		wantG := tt.gmail
		if wantG == "" {
			wantG = tt.want
		}
		if g := NormalizeEmail(tt.in, EmailOptions{ProviderRules: true}); g.Value != wantG {
			t.Errorf("NormalizeEmail(%q, gmail rules) = %q, want %q", tt.in, g.Value, wantG)
		}
	}
}

func TestNormalizePhone(t *testing.T) {
	tests := []struct {
		in, region, want string
		typ              LineType
	}{
		{"", "", "", LineUnknown},
		{"03-1234-5678", "", "+81312345678", LineFixed},
		{"０３－１２３４－５６７８", "", "+81312345678", LineFixed},
		{"+81 3 1234 5678", "", "+81312345678", LineFixed},
		{"+81-3-1234-5678", "US", "+81312345678", LineFixed},
		{"(03)1234-5678", "", "+81312345678", LineFixed},
		{"（０３）１２３４－５６７８", "", "+81312345678", LineFixed},
		{"03ー1234ー5678", "", "+81312345678", LineFixed},
		{"03−1234−5678", "", "+81312345678", LineFixed},
		{"03‐1234‐5678", "", "+81312345678", LineFixed},
		{"03–1234–5678", "", "+81312345678", LineFixed},
		{"03 1234 5678", "", "+81312345678", LineFixed},
		{"0312345678", "", "+81312345678", LineFixed},
		{"03-1234-5678 内線123", "", "+81312345678", LineFixed},
		{"03-1234-5678 ext. 12", "", "+81312345678", LineFixed},
		{"0081-3-1234-5678", "", "+81312345678", LineFixed},
		{"010-81-3-1234-5678", "", "+81312345678", LineFixed},
		{"090-1234-5678", "", "+819012345678", LineMobile},
		{"０９０（１２３４）５６７８", "", "+819012345678", LineMobile},
		{"+81 90 1234 5678", "", "+819012345678", LineMobile},
		{"+81 (0)90 1234 5678", "", "+819012345678", LineMobile},
		{"080-1234-5678", "", "+818012345678", LineMobile},
		{"070-1234-5678", "", "+817012345678", LineMobile},
		{"050-1234-5678", "", "+815012345678", LineVoIP},
		{"0120-123-456", "", "+81120123456", LineTollFree},
		{"0422-33-1908", "", "+81422331908", LineFixed},
		{"+1 650-253-0000", "", "+16502530000", LineFixed},
		{"(650) 253-0000", "US", "+16502530000", LineFixed},
		{"12-345", "", "", LineUnknown},
		{"090-1234-567", "", "", LineUnknown},
		{"電話なし", "", "", LineUnknown},
	}
	for _, tt := range tests {
		got := NormalizePhone(tt.in, tt.region)
		if got.E164 != tt.want || got.Type != tt.typ {
			t.Errorf("NormalizePhone(%q, %q) = %+v, want %q %q", tt.in, tt.region, got, tt.want, tt.typ)
		}
		invalid := tt.in != "" && tt.want == ""
		if invalid != slices.Contains(got.Issues, IssueInvalidPhone) {
			t.Errorf("NormalizePhone(%q) issues = %v, want invalid=%v", tt.in, got.Issues, invalid)
		}
	}
}

func TestNormalizePostal(t *testing.T) {
	tests := []struct{ in, want string }{
		{"", ""},
		{"100-0005", "100-0005"},
		{"1000005", "100-0005"},
		{"〒100-0005", "100-0005"},
		{"〒 １００－０００５", "100-0005"},
		{"１０００００５", "100-0005"},
		{"100 0005", "100-0005"},
		{"100ー0005", "100-0005"},
		{"1000", ""},
		{"100-00051", ""},
		{"東京都", ""},
	}
	for _, tt := range tests {
		got := NormalizePostal(tt.in)
		if got.Value != tt.want {
			t.Errorf("NormalizePostal(%q) = %q, want %q", tt.in, got.Value, tt.want)
		}
		invalid := tt.in != "" && tt.want == ""
		if invalid != slices.Contains(got.Issues, IssueInvalidPostal) {
			t.Errorf("NormalizePostal(%q) issues = %v", tt.in, got.Issues)
		}
	}
}

func TestNormalizeKana(t *testing.T) {
	tests := []struct {
		in, want, key string
		bad           bool
	}{
		{"", "", "", false},
		{"やまだ たろう", "ヤマダタロウ", "ヤマダタロウ", false},
		{"ﾔﾏﾀﾞﾀﾛｳ", "ヤマダタロウ", "ヤマダタロウ", false},
		{"ﾔﾏﾀﾞ ﾀﾛｳ", "ヤマダタロウ", "ヤマダタロウ", false},
		{"ヤマダ\u3000タロウ", "ヤマダタロウ", "ヤマダタロウ", false},
		{"ヤマダ・タロウ", "ヤマダタロウ", "ヤマダタロウ", false},
		{"ｻｲﾄｳ ｲﾁﾛｳ", "サイトウイチロウ", "サイトウイチロウ", false},
		{"ぱぴぷ", "パピプ", "パピプ", false},
		{"ﾊﾟﾋﾟﾌﾟ", "パピプ", "パピプ", false},
		{"ユーコ", "ユーコ", "ユコ", false},
		{"キョウコ", "キョウコ", "キヨウコ", false},
		{"ちづる", "チヅル", "チズル", false},
		{"山田", "山田", "山田", true},
	}
	for _, tt := range tests {
		got := NormalizeKana(tt.in)
		if got.Value != tt.want || got.Key != tt.key || tt.bad != (len(got.Issues) > 0) {
			t.Errorf("NormalizeKana(%q) = %+v, want %q key %q bad=%v", tt.in, got, tt.want, tt.key, tt.bad)
		}
	}
}

func TestNormalizeName(t *testing.T) {
	tests := []struct{ in, value, key, family, given string }{
		{"", "", "", "", ""},
		{"山田太郎", "山田太郎", "山田太郎", "", ""},
		{"山田 太郎", "山田 太郎", "山田太郎", "山田", "太郎"},
		{" 山田\u3000太郎 様", "山田 太郎", "山田太郎", "山田", "太郎"},
		{"山田太郎様", "山田太郎", "山田太郎", "", ""},
		{"山田太郎さん", "山田太郎", "山田太郎", "", ""},
		{"山田太郎殿", "山田太郎", "山田太郎", "", ""},
		{"齋藤 一郎", "齋藤 一郎", "斎藤一郎", "斎藤", "一郎"},
		{"齊藤一郎", "齊藤一郎", "斎藤一郎", "", ""},
		{"渡邊健", "渡邊健", "渡辺健", "", ""},
		{"渡邉健", "渡邉健", "渡辺健", "", ""},
		{"髙橋花子", "髙橋花子", "高橋花子", "", ""},
		{"山﨑", "山﨑", "山崎", "", ""},
		{"大澤", "大澤", "大沢", "", ""},
		{"長濱", "長濱", "長浜", "", ""},
		{"廣田", "廣田", "広田", "", ""},
		{"櫻井", "櫻井", "桜井", "", ""},
		{"國分", "國分", "国分", "", ""},
		{"中嶋", "中嶋", "中島", "", ""},
		{"德永", "德永", "徳永", "", ""},
		{"龍崎", "龍崎", "竜崎", "", ""},
		{"斉藤一郎", "斉藤一郎", "斉藤一郎", "", ""}, // distinct surname, not folded
		{"John Smith", "John Smith", "johnsmith", "john", "smith"},
		{"ＪＯＨＮ　ＳＭＩＴＨ", "JOHN SMITH", "johnsmith", "john", "smith"},
		{"様", "様", "様", "", ""},
	}
	for _, tt := range tests {
		got := NormalizeName(tt.in)
		want := Name{Value: tt.value, Key: tt.key, Family: tt.family, Given: tt.given}
		if got != want {
			t.Errorf("NormalizeName(%q) = %+v, want %+v", tt.in, got, want)
		}
	}
}

func TestNormalizeCompany(t *testing.T) {
	tests := []struct{ in, key, form, pos string }{
		{"", "", "", ""},
		{"株式会社トヨクモ", "トヨクモ", "株式会社", "prefix"},
		{"トヨクモ株式会社", "トヨクモ", "株式会社", "suffix"},
		{"トヨクモ㈱", "トヨクモ", "株式会社", "suffix"},
		{"ﾄﾖｸﾓ(株)", "トヨクモ", "株式会社", "suffix"},
		{"（株）トヨクモ", "トヨクモ", "株式会社", "prefix"},
		{"株式会社 トヨクモ", "トヨクモ", "株式会社", "prefix"},
		{"ｶ)ﾄﾖｸﾓ", "トヨクモ", "株式会社", "prefix"},
		{"ﾄﾖｸﾓ(ｶ", "トヨクモ", "株式会社", "suffix"},
		{"有限会社山田商店", "山田商店", "有限会社", "prefix"},
		{"山田商店(有)", "山田商店", "有限会社", "suffix"},
		{"㈲山田商店", "山田商店", "有限会社", "prefix"},
		{"合同会社ABC", "abc", "合同会社", "prefix"},
		{"ABC(同)", "abc", "合同会社", "suffix"},
		{"一般社団法人日本協会", "日本協会", "一般社団法人", "prefix"},
		{"一般財団法人日本協会", "日本協会", "一般財団法人", "prefix"},
		{"合資会社丸善", "丸善", "合資会社", "prefix"},
		{"合名会社丸善", "丸善", "合名会社", "prefix"},
		{"Toyokumo, Inc.", "toyokumo", "Inc.", "suffix"},
		{"Toyokumo Inc", "toyokumo", "Inc.", "suffix"},
		{"TOYOKUMO Co., Ltd.", "toyokumo", "Co., Ltd.", "suffix"},
		{"Toyokumo Co.,Ltd.", "toyokumo", "Co., Ltd.", "suffix"},
		{"Toyokumo K.K.", "toyokumo", "K.K.", "suffix"},
		{"Toyokumo Ltd.", "toyokumo", "Ltd.", "suffix"},
		{"Toyokumo LLC", "toyokumo", "LLC", "suffix"},
		{"Ｔｏｙｏｋｕｍｏ　Ｉｎｃ．", "toyokumo", "Inc.", "suffix"},
		{"Disco", "disco", "", ""},
		{"Sony Group Corporation", "sonygroup", "Corp.", "suffix"},
		{"髙島屋株式会社", "高島屋", "株式会社", "suffix"},
		{"トヨ・クモ株式会社", "トヨクモ", "株式会社", "suffix"},
	}
	for _, tt := range tests {
		got := NormalizeCompany(tt.in)
		if got.Key != tt.key || got.LegalForm != tt.form || got.LegalFormPosition != tt.pos {
			t.Errorf("NormalizeCompany(%q) = %+v, want key %q form %q pos %q", tt.in, got, tt.key, tt.form, tt.pos)
		}
	}
	// Different companies must not share a key.
	distinct := []string{"株式会社トヨクモ", "株式会社トヨタ", "トヨクモ販売株式会社", "有限会社山田商店", "山田商事株式会社"}
	keys := map[string]string{}
	for _, s := range distinct {
		k := NormalizeCompany(s).Key
		if prev, ok := keys[k]; ok {
			t.Errorf("%q and %q share key %q", prev, s, k)
		}
		keys[k] = s
	}
}

func TestNormalizeAddress(t *testing.T) {
	tests := []struct{ in, pref, locality, building, key string }{
		{"", "", "", "", ""},
		{"東京都千代田区丸の内一丁目2番3号 丸の内ビル5F", "東京都", "千代田区丸の内1-2-3", "丸の内ビル5F", "千代田区丸の内1-2-3"},
		{"千代田区丸の内1-2-3丸の内ビル5F", "", "千代田区丸の内1-2-3", "丸の内ビル5F", "千代田区丸の内1-2-3"},
		{"東京都千代田区丸の内１－２－３", "東京都", "千代田区丸の内1-2-3", "", "千代田区丸の内1-2-3"},
		{"東京都千代田区丸の内1ー2ー3", "東京都", "千代田区丸の内1-2-3", "", "千代田区丸の内1-2-3"},
		{"東京都千代田区丸の内1丁目2番地3", "東京都", "千代田区丸の内1-2-3", "", "千代田区丸の内1-2-3"},
		{"東京都 千代田区 丸の内 1丁目 2番 3号", "東京都", "千代田区 丸の内 1-2-3", "", "千代田区丸の内1-2-3"},
		{"大阪府大阪市北区梅田二丁目四番九号", "大阪府", "大阪市北区梅田2-4-9", "", "大阪市北区梅田2-4-9"},
		{"東京都三鷹市下連雀三丁目十五番地の三", "東京都", "三鷹市下連雀3-15-3", "", "三鷹市下連雀3-15-3"},
		{"東京都八王子市元本郷町一丁目二十四番一号", "東京都", "八王子市元本郷町1-24-1", "", "八王子市元本郷町1-24-1"},
		{"千代田区三番町5ー6 センタービル101号室", "", "千代田区三番町5-6", "センタービル101号室", "千代田区三番町5-6"},
		{"港区六本木6丁目10番1号 六本木ヒルズ森タワー 20階", "", "港区六本木6-10-1", "六本木ヒルズ森タワー 20階", "港区六本木6-10-1"},
		{"千代田区霞ヶ関1-2", "", "千代田区霞ヶ関1-2", "", "千代田区霞ケ関1-2"},
		{"千代田区霞が関1-2", "", "千代田区霞が関1-2", "", "千代田区霞ケ関1-2"},
		{"京都府京都市中京区", "京都府", "京都市中京区", "", "京都市中京区"},
		{"京都市中京区", "", "京都市中京区", "", "京都市中京区"},
		{"東京都港区センター南2-3", "東京都", "港区センター南2-3", "", "港区センター南2-3"},
		{"北海道札幌市中央区大通西十丁目", "北海道", "札幌市中央区大通西10", "", "札幌市中央区大通西10"},
		{"東京都千代田区一番町二〇五番地", "東京都", "千代田区一番町205", "", "千代田区一番町205"},
	}
	for _, tt := range tests {
		got := NormalizeAddress(tt.in)
		if got.Prefecture != tt.pref || got.Locality != tt.locality || got.Building != tt.building || got.Key != tt.key {
			t.Errorf("NormalizeAddress(%q) = %+v\n want pref %q locality %q building %q key %q", tt.in, got, tt.pref, tt.locality, tt.building, tt.key)
		}
	}
}

// TestAddressLeadingPostal: the postcode-first form keeps its prefecture,
// and a number that is not in the postal shape stays part of the address.
func TestAddressLeadingPostal(t *testing.T) {
	tests := []struct{ in, postal, pref, locality string }{
		{"〒１００－０００１ 東京都千代田区千代田1-1", "100-0001", "東京都", "千代田区千代田1-1"},
		{"〒100-0001東京都千代田区千代田1-1", "100-0001", "東京都", "千代田区千代田1-1"},
		{"100-0001 東京都千代田区千代田1-1", "100-0001", "東京都", "千代田区千代田1-1"},
		{"〒1000001 東京都千代田区千代田1-1", "100-0001", "東京都", "千代田区千代田1-1"},
		{"1000001 東京都千代田区千代田1-1", "", "", "1000001"},
		{"100-00012 東京都", "", "", "100-00012"},
		{"1-2-3 丸の内", "", "", "1-2-3"},
	}
	for _, tt := range tests {
		got := NormalizeAddress(tt.in)
		if got.Postal != tt.postal || got.Prefecture != tt.pref || got.Locality != tt.locality {
			t.Errorf("NormalizeAddress(%q) = postal %q pref %q locality %q, want %q %q %q", tt.in, got.Postal, got.Prefecture, got.Locality, tt.postal, tt.pref, tt.locality)
		}
	}
	r := NormalizeRecord(Record{Address: "〒１００－０００１ 東京都千代田区千代田1-1"}, Options{})
	if r.Postal.Value != "100-0001" {
		t.Errorf("record postal = %+v, want the code from the address", r.Postal)
	}
}

func TestAddressRoom(t *testing.T) {
	tests := []struct{ in, room string }{
		{"千代田区丸の内1-2-3 パークマンション603号室", "603"},
		{"千代田区丸の内1-2-3ﾊﾟｰｸﾏﾝｼｮﾝ６０３", "603"},
		{"港区六本木6-10-1 森タワー 20階", "20"},
		{"千代田区丸の内1-2-3", ""},
		{"千代田区丸の内1-2-3 丸の内ビル", ""},
	}
	for _, tt := range tests {
		if got := NormalizeAddress(tt.in).Room; got != tt.room {
			t.Errorf("NormalizeAddress(%q).Room = %q, want %q", tt.in, got, tt.room)
		}
	}
}

func TestNormalizeRecordIssues(t *testing.T) {
	r := NormalizeRecord(Record{ID: "1", Email: "bad@", Phone: "12", PostalCode: "1", NameKana: "山田", Address: "千代田区"}, Options{})
	want := []Issue{IssueInvalidKana, IssueInvalidEmail, IssueInvalidPhone, IssueInvalidPostal, IssueNoPrefecture}
	if !slices.Equal(r.Issues, want) {
		t.Errorf("issues = %v, want %v", r.Issues, want)
	}
	ok := NormalizeRecord(Record{ID: "2", Name: "山田太郎", Email: "a@example.com", Phone: "03-1234-5678", PostalCode: "100-0005", Address: "東京都千代田区丸の内1-2-3"}, Options{})
	if len(ok.Issues) != 0 {
		t.Errorf("clean record has issues %v", ok.Issues)
	}
}
