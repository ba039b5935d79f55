package match_test

import (
	"slices"
	"testing"

	"github.com/kizuna/kizuna/services/ingestion/internal/match"
	"github.com/kizuna/kizuna/services/ingestion/internal/normalize"
	"github.com/kizuna/kizuna/services/ingestion/internal/normalize/normalizetest"
)

// TestSharedMobileRule runs the table of name pairs identity resolution is
// tested with too (normalize/normalizetest/shared_mobile_names.json): two
// records on one mobile number, with an address in common as well, are
// merged unless their names conflict; then they are a review suggestion
// with the reason rule:shared_mobile_name_conflict.
func TestSharedMobileRule(t *testing.T) {
	cases := normalizetest.SharedMobileCases(t)
	record := func(id string, m map[string]string) match.Record {
		return match.FromNormalized(normalize.NormalizeRecord(normalize.Record{
			ID: id, Name: m["name"], NameKana: m["name_kana"], Phone: "090-1234-5678", Address: "東京都千代田区千代田1-1",
		}, normalize.Options{}))
	}
	for _, c := range cases {
		t.Run(c.Case, func(t *testing.T) {
			res := match.Find([]match.Record{record("a", c.A), record("b", c.B)}, match.DefaultOptions())
			if len(res.Pairs) != 1 {
				t.Fatalf("pairs = %+v, want one", res.Pairs)
			}
			p := res.Pairs[0]
			want := match.Merge
			if c.Conflict {
				want = match.Review
			}
			if p.Decision != want || slices.Contains(p.Reasons, normalize.RuleSharedMobileNameConflict) != c.Conflict {
				t.Errorf("decision %v, reasons %v; want %v with the rule reason only on a conflict", p.Decision, p.Reasons, want)
			}
		})
	}
}
