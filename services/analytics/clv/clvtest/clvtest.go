// Package clvtest locates the CDNOW data sets the CLV tests check against
// the published figures (Fader, Hardie & Lee 2005), for every package that
// needs them.
package clvtest

import (
	"errors"
	"os"
	"path/filepath"
	"testing"
)

// cdnowDir is where the CDNOW files live relative to the repository root:
// the work tree's shared/ folder sits beside the repository checkout.
var cdnowDir = filepath.Join("..", "shared", "data", "cdnow")

// CDNOWPath returns the path of the CDNOW data file name (e.g.
// "CDNOW_sample.txt"). When the file is missing the test is skipped, or
// failed when KIZUNA_REQUIRE_EXTERNAL=1 or CI=true, so CI cannot silently
// skip the checks against the published figures.
func CDNOWPath(tb testing.TB, name string) string {
	tb.Helper()
	root, err := repoRoot()
	p := ""
	if err == nil {
		p = filepath.Join(root, cdnowDir, name)
		_, err = os.Stat(p)
	}
	if err != nil {
		if os.Getenv("KIZUNA_REQUIRE_EXTERNAL") == "1" || os.Getenv("CI") == "true" {
			tb.Fatalf("CDNOW data %s missing but required (KIZUNA_REQUIRE_EXTERNAL=1 or CI=true): %v", name, err)
		} else {
			tb.Skipf("CDNOW data %s not available: %v", name, err)
		}
	}
	return p
}

// repoRoot returns the nearest directory at or above the working directory
// (the package under test) holding go.work, the repository's root.
func repoRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.work")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("no go.work above the working directory: not inside the repository")
		}
		dir = parent
	}
}
