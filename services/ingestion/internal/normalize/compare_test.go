package normalize

import (
	"testing"

	"github.com/kizuna/kizuna/services/ingestion/internal/normalize/normalizetest"
)

// TestSharedMobileNameConflict runs normalizetest.SharedMobileCases: two
// records' name traits and whether they conflict. The same table is run
// against the live resolver (package ingest) and the duplicate matcher
// (package match), so the two apply one rule.
func TestSharedMobileNameConflict(t *testing.T) {
	cases := normalizetest.SharedMobileCases(t)
	person := func(m map[string]string) PersonName {
		return NormalizeRecord(Record{Name: m["name"], NameKana: m["name_kana"]}, Options{}).Person()
	}
	for _, c := range cases {
		t.Run(c.Case, func(t *testing.T) {
			if got := SharedMobileNameConflict(person(c.A), person(c.B)); got != c.Conflict {
				t.Errorf("conflict = %t, want %t", got, c.Conflict)
			}
			if got := SharedMobileNameConflict(person(c.B), person(c.A)); got != c.Conflict {
				t.Errorf("reversed: conflict = %t, want %t", got, c.Conflict)
			}
		})
	}
}
