package match

import (
	"fmt"
	"reflect"
	"slices"
	"testing"

	"github.com/kizuna/kizuna/services/ingestion/internal/normalize"
)

func rec(id, name, kana, email, phone, company, postal, address string) Record {
	return FromNormalized(normalize.NormalizeRecord(normalize.Record{
		ID: id, Name: name, NameKana: kana, Email: email, Phone: phone,
		Company: company, PostalCode: postal, Address: address,
	}, normalize.Options{}))
}

func TestPairDecisions(t *testing.T) {
	tests := []struct {
		name    string
		a, b    Record
		want    Decision // 0: no pair returned
		reasons []string // must all be present
	}{
		{
			name:    "same e-mail, spelled differently",
			a:       rec("a", "山田太郎", "", "Taro@Example.jp", "", "", "", ""),
			b:       rec("b", "", "", "ｔａｒｏ＠ｅｘａｍｐｌｅ．ｊｐ", "", "", "", ""),
			want:    Merge,
			reasons: []string{"email:exact"},
		},
		{
			name:    "same mobile, variant kanji and half-width reading",
			a:       rec("a", "齋藤 一郎", "サイトウ イチロウ", "", "090-1234-5678", "", "", ""),
			b:       rec("b", "斎藤一郎様", "ｻｲﾄｳｲﾁﾛｳ", "", "+81 90 1234 5678", "", "", ""),
			want:    Merge,
			reasons: []string{"phone_mobile:exact", "name:exact", "name_kana:exact"},
		},
		{
			name:    "same mobile, different person: review, not merge",
			a:       rec("a", "山田太郎", "ヤマダタロウ", "", "090-1234-5678", "", "", ""),
			b:       rec("b", "鈴木花子", "スズキハナコ", "", "09012345678", "", "", ""),
			want:    Review,
			reasons: []string{"phone_mobile:exact", "name:differs"},
		},
		{
			name: "namesakes: same name and reading only",
			a:    rec("a", "田中太郎", "タナカタロウ", "t1@example.jp", "090-1111-2222", "", "100-0005", "千代田区丸の内1-2-3"),
			b:    rec("b", "田中 太郎", "たなか たろう", "t2@example.jp", "080-3333-4444", "", "530-0001", "大阪市北区梅田2-4-9"),
			want: 0,
		},
		{
			name: "household: same address and landline, different given name",
			a:    rec("a", "山田 太郎", "ヤマダ タロウ", "", "03-1234-5678", "", "100-0005", "東京都千代田区丸の内1-2-3"),
			b:    rec("b", "山田 花子", "ヤマダ ハナコ", "", "０３－１２３４－５６７８", "", "100-0005", "千代田区丸の内一丁目2番3号"),
			want: 0,
		},
		{
			name: "brothers with similar readings at one address",
			a:    rec("a", "山田太郎", "ヤマダタロウ", "", "03-1234-5678", "", "100-0005", "千代田区丸の内1-2-3"),
			b:    rec("b", "山田次郎", "ヤマダジロウ", "", "03-1234-5678", "", "100-0005", "千代田区丸の内1-2-3"),
			want: 0,
		},
		{
			name: "colleagues: same company and main line, different names",
			a:    rec("a", "佐藤健", "サトウケン", "", "03-5555-0000", "株式会社トヨクモ", "", ""),
			b:    rec("b", "鈴木誠", "スズキマコト", "", "03-5555-0000", "トヨクモ㈱", "", ""),
			want: 0,
		},
		{
			name:    "name and address agree",
			a:       rec("a", "高橋花子", "", "", "", "", "", "東京都千代田区丸の内一丁目2番3号 丸の内ビル5F"),
			b:       rec("b", "髙橋 花子", "", "", "", "", "", "千代田区丸の内1-2-3"),
			want:    Merge,
			reasons: []string{"name:exact", "address:exact"},
		},
		{
			// Same name in two flats of one building: worth a look, as
			// is the same name in one postal code, but never a merge.
			name:    "namesakes in two flats of one building",
			a:       rec("a", "加藤愛", "カトウアイ", "", "", "", "", "豊島区東池袋1-35-3 丸の内ビル406号室"),
			b:       rec("b", "加藤 愛", "かとう あい", "", "", "", "", "豊島区東池袋一丁目35番3号 丸の内ビル209"),
			want:    Review,
			reasons: []string{"address:same_block", "room:differs"},
		},
		{
			name:    "same flat written differently",
			a:       rec("a", "加藤愛", "", "", "", "", "", "豊島区東池袋1-35-3 丸の内ビル406号室"),
			b:       rec("b", "加藤 愛", "", "", "", "", "", "豊島区東池袋1-35-3ﾏﾙﾉｳﾁﾋﾞﾙ４０６"),
			want:    Merge,
			reasons: []string{"name:exact", "address:exact"},
		},
		{
			name:    "name and landline agree",
			a:       rec("a", "高橋花子", "タカハシハナコ", "", "03-1234-5678", "", "", ""),
			b:       rec("b", "高橋花子", "", "", "(03)1234-5678", "", "", ""),
			want:    Merge,
			reasons: []string{"phone_landline:exact", "name:exact"},
		},
		{
			name:    "name and company only: review",
			a:       rec("a", "高橋花子", "", "", "", "株式会社トヨクモ", "", ""),
			b:       rec("b", "高橋花子", "", "", "", "ﾄﾖｸﾓ(株)", "", ""),
			want:    Review,
			reasons: []string{"name:exact", "company:exact"},
		},
		{
			name:    "reading only agrees, kanji differs, same address: review",
			a:       rec("a", "山田裕子", "ヤマダユウコ", "", "", "", "", "千代田区丸の内1-2-3"),
			b:       rec("b", "山田優子", "ヤマダユウコ", "", "", "", "", "千代田区丸の内1-2-3"),
			want:    Review,
			reasons: []string{"name:differs", "name_kana:exact", "address:exact"},
		},
		{
			name:    "kana only on one side, same reading and address",
			a:       rec("a", "", "ﾔﾏﾀﾞﾀﾛｳ", "", "", "", "", "千代田区丸の内1-2-3"),
			b:       rec("b", "山田太郎", "やまだ たろう", "", "", "", "", "千代田区丸の内１－２－３"),
			want:    Merge,
			reasons: []string{"name_kana:exact", "address:exact"},
		},
		{
			name: "weak identifiers without any name",
			a:    rec("a", "", "", "", "03-1234-5678", "株式会社トヨクモ", "100-0005", "千代田区丸の内1-2-3"),
			b:    rec("b", "", "", "", "03-1234-5678", "トヨクモ株式会社", "100-0005", "千代田区丸の内1-2-3"),
			want: 0,
		},
		{
			name: "invalid e-mail is no evidence",
			a:    rec("a", "山田太郎", "", "not-an-email", "", "", "", ""),
			b:    rec("b", "鈴木花子", "", "not-an-email", "", "", "", ""),
			want: 0,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res := Find([]Record{tt.a, tt.b}, DefaultOptions())
			var got Decision
			var reasons []string
			if len(res.Pairs) == 1 {
				got, reasons = res.Pairs[0].Decision, res.Pairs[0].Reasons
			}
			s, r := score(&tt.a, &tt.b)
			if got != tt.want {
				t.Fatalf("decision %v, want %v (score %.2f, reasons %v)", got, tt.want, s, r)
			}
			for _, w := range tt.reasons {
				if !slices.Contains(reasons, w) {
					t.Errorf("reasons %v lack %q", reasons, w)
				}
			}
		})
	}
}

func TestReasonSimilar(t *testing.T) {
	a := rec("a", "長谷川健太郎", "ハセガワケンタロウ", "k@example.jp", "", "", "", "")
	b := rec("b", "長谷川健太朗", "ハセガワケンタロ", "k@example.jp", "", "", "", "")
	_, reasons := score(&a, &b)
	want := []string{"email:exact", "name:similar(0.93)", "name_kana:similar(0.98)"}
	if !reflect.DeepEqual(reasons, want) {
		t.Errorf("reasons = %v, want %v", reasons, want)
	}
}

func TestClusters(t *testing.T) {
	pairs := []Pair{
		{I: 1, J: 3, Decision: Merge},
		{I: 3, J: 4, Decision: Merge},
		{I: 0, J: 2, Decision: Review}, // reviews never join clusters
	}
	got := Clusters(5, pairs)
	want := []int{1, 2, 3, 2, 2}
	if !slices.Equal(got, want) {
		t.Errorf("Clusters = %v, want %v", got, want)
	}
}

// TestOversizedBlock: 300 colleagues share a main line. The block must not
// be expanded into 44,850 pairs, yet the one person entered twice is found.
func TestOversizedBlock(t *testing.T) {
	var recs []Record
	for i := range 300 {
		recs = append(recs, rec(fmt.Sprint(i), fmt.Sprintf("社員%03d", i), "", "", "03-5555-0000", "株式会社トヨクモ", "", ""))
	}
	recs = append(recs, rec("dup", "社員123", "", "", "03-5555-0000", "トヨクモ㈱", "", ""))
	opt := DefaultOptions()
	res := Find(recs, opt)
	if res.Stats.OversizedBlocks == 0 {
		t.Fatalf("no oversized block: %+v", res.Stats)
	}
	if max := len(recs) * opt.Window * 2; res.Stats.Candidates > max {
		t.Errorf("%d candidates, want ≤ %d", res.Stats.Candidates, max)
	}
	found := false
	for _, p := range res.Pairs {
		if p.Decision == Merge {
			if p.A != "123" || p.B != "dup" {
				t.Errorf("unexpected merge %s-%s %v", p.A, p.B, p.Reasons)
			}
			found = true
		}
	}
	if !found {
		t.Error("duplicate inside the oversized block not merged")
	}
}

func TestFindDeterministic(t *testing.T) {
	recs := []Record{
		rec("1", "山田太郎", "", "a@example.jp", "", "", "", ""),
		rec("2", "山田太郎", "", "a@example.jp", "", "", "", ""),
		rec("3", "山田太郎", "", "", "090-1234-5678", "", "", ""),
		rec("4", "", "", "a@example.jp", "090-1234-5678", "", "", ""),
	}
	a := Find(recs, Options{Workers: 1})
	b := Find(recs, Options{Workers: 4})
	if !reflect.DeepEqual(a, b) {
		t.Errorf("results differ by worker count:\n%+v\n%+v", a, b)
	}
	if cl := Clusters(len(recs), a.Pairs); !slices.Equal(cl, []int{1, 1, 1, 1}) {
		t.Errorf("clusters %v, want all in one", cl)
	}
}
