package suite

import (
	"slices"
	"testing"
)

func TestParseServices(t *testing.T) {
	tests := []struct {
		in      string
		want    []string
		wantErr bool
	}{
		{"all", Services, false},
		{"", Services, false},
		{"ingestion, gateway", []string{"ingestion", "gateway"}, false},
		{"metrics,metrics", []string{"metrics"}, false},
		{"ingestion,billing", nil, true},
		{"all,metrics", nil, true},
	}
	for _, tt := range tests {
		got, err := ParseServices(tt.in)
		if (err != nil) != tt.wantErr || !slices.Equal(got, tt.want) {
			t.Errorf("ParseServices(%q) = %v, %v; want %v (error %v)", tt.in, got, err, tt.want, tt.wantErr)
		}
	}
}
