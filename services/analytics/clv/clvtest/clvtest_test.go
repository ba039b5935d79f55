package clvtest

import (
	"os"
	"testing"
)

// recorder notes how CDNOWPath ended a test instead of ending this one.
type recorder struct {
	testing.TB
	fatal, skip bool
}

func (r *recorder) Helper()               { r.TB.Helper() }
func (r *recorder) Fatalf(string, ...any) { r.fatal = true }
func (r *recorder) Skipf(string, ...any)  { r.skip = true }

func TestCDNOWPathMissing(t *testing.T) {
	tests := []struct {
		name, require, ci string
		wantFatal         bool
	}{
		{name: "skips by default"},
		{name: "fails when external data is required", require: "1", wantFatal: true},
		{name: "fails on CI", ci: "true", wantFatal: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Setenv("KIZUNA_REQUIRE_EXTERNAL", tt.require)
			t.Setenv("CI", tt.ci)
			r := &recorder{TB: t}
			CDNOWPath(r, "no_such_file.txt")
			if r.fatal != tt.wantFatal || r.skip == tt.wantFatal {
				t.Errorf("fatal = %v, skip = %v, want fatal = %v", r.fatal, r.skip, tt.wantFatal)
			}
		})
	}
}

func TestCDNOWPathFound(t *testing.T) {
	p := CDNOWPath(t, "CDNOW_sample.txt")
	if _, err := os.Stat(p); err != nil {
		t.Fatal(err)
	}
}
