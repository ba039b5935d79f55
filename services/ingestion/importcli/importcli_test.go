package importcli

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestReadMapping(t *testing.T) {
	dir := t.TempDir()
	for name, tt := range map[string]struct {
		yaml string
		err  string
	}{
		"full":      {"columns:\n  会員番号: user_id\n  備考: \"-\"\ndate_formats: [\"%Y/%m/%d\"]\ntimezone: Asia/Tokyo\ndefault_currency: JPY\n", ""},
		"empty":     {"", ""},
		"typo":      {"colums:\n  a: user_id\n", "colums"},
		"not a map": {"columns: [a, b]\n", "cannot unmarshal"},
		"not yaml":  {"columns: {a: [\n", "mapping"},
	} {
		t.Run(name, func(t *testing.T) {
			path := filepath.Join(dir, strings.ReplaceAll(name, " ", "_")+".yaml")
			if err := os.WriteFile(path, []byte(tt.yaml), 0o600); err != nil {
				t.Fatal(err)
			}
			m, err := ReadMapping(path)
			switch {
			case tt.err == "" && err != nil:
				t.Fatalf("error %v", err)
			case tt.err != "" && (err == nil || !strings.Contains(err.Error(), tt.err)):
				t.Fatalf("error %v, want one naming %q", err, tt.err)
			}
			if name == "full" && (m.GetColumns()["会員番号"] != "user_id" || m.GetColumns()["備考"] != "-" || m.GetDateFormats()[0] != "%Y/%m/%d" ||
				m.GetTimezone() != "Asia/Tokyo" || m.GetDefaultCurrency() != "JPY") {
				t.Errorf("mapping = %v", m)
			}
		})
	}
}

func TestETA(t *testing.T) {
	for _, tt := range []struct {
		done, total int64
		elapsed     float64
		want        string
	}{
		{0, 100, 10, ""},
		{50, 100, 0.1, ""},
		{25, 100, 10, "ETA 30s"},
		{100, 100, 10, "ETA 0s"},
	} {
		if got := eta(tt.done, tt.total, tt.elapsed); got != tt.want {
			t.Errorf("eta(%d, %d, %v) = %q, want %q", tt.done, tt.total, tt.elapsed, got, tt.want)
		}
	}
}
