// Package normalizetest holds test tables shared by the packages that must
// agree on a rule of package normalize.
package normalizetest

import (
	_ "embed"
	"encoding/json"
	"testing"
)

//go:embed shared_mobile_names.json
var sharedMobileNames []byte

// SharedMobileCase is two records' name traits (name, name_kana) on one
// mobile number, and whether the names conflict: then the pair must not be
// merged automatically (normalize.RuleSharedMobileNameConflict).
type SharedMobileCase struct {
	Case     string            `json:"case"`
	A        map[string]string `json:"a"`
	B        map[string]string `json:"b"`
	Conflict bool              `json:"conflict"`
}

// SharedMobileCases is the one table of cases normalize, the duplicate
// matcher and live identity resolution are all tested with.
func SharedMobileCases(tb testing.TB) []SharedMobileCase {
	tb.Helper()
	var cases []SharedMobileCase
	if err := json.Unmarshal(sharedMobileNames, &cases); err != nil {
		tb.Fatal(err)
	}
	return cases
}
