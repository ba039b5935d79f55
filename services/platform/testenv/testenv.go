// Package testenv decides whether tests that need an external backend run,
// skip or fail, so every package of every module applies the same rule.
package testenv

import (
	"os"
	"testing"
)

// RequireExternalVar, when set to "1", turns a missing backend URL into a
// test failure instead of a skip, so CI cannot silently test nothing.
const RequireExternalVar = "KIZUNA_REQUIRE_EXTERNAL"

// URL returns the value of envVar. When it is empty the test is skipped, or
// failed if RequireExternalVar is "1".
func URL(t testing.TB, envVar string) string {
	t.Helper()
	u := os.Getenv(envVar)
	if u != "" {
		return u
	}
	if os.Getenv(RequireExternalVar) == "1" {
		t.Fatalf("%s is not set but %s=1", envVar, RequireExternalVar)
	}
	t.Skipf("%s not set; skipping test against external backend", envVar)
	return ""
}
