package match_test

import (
	"fmt"

	"github.com/kizuna/kizuna/services/ingestion/internal/match"
	"github.com/kizuna/kizuna/services/ingestion/internal/normalize"
)

// The ingestion service's duplicate scan: normalise, find pairs, cluster.
func Example() {
	raw := []normalize.Record{
		{ID: "c1", Name: "齋藤 一郎 様", NameKana: "ｻｲﾄｳ ｲﾁﾛｳ", Phone: "090-1234-5678", Address: "東京都千代田区丸の内一丁目2番3号"},
		{ID: "c2", Name: "斎藤一郎", NameKana: "さいとう いちろう", Phone: "+81 90 1234 5678"},
		{ID: "c3", Name: "斎藤花子", NameKana: "サイトウハナコ", Phone: "03-1111-2222", Address: "千代田区丸の内1-2-3"},
	}
	recs := make([]match.Record, len(raw))
	for i, r := range raw {
		recs[i] = match.FromNormalized(normalize.NormalizeRecord(r, normalize.Options{}))
	}
	res := match.Find(recs, match.DefaultOptions())
	for _, p := range res.Pairs {
		fmt.Println(p.A, p.B, p.Decision, p.Score, p.Reasons)
	}
	fmt.Println(match.Clusters(len(recs), res.Pairs))
	// Output:
	// c1 c2 merge 1 [phone_mobile:exact name:exact name_kana:exact]
	// [1 1 2]
}
