package clv

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/kizuna/kizuna/services/analytics/internal/num"
)

func TestReadCSV(t *testing.T) {
	tests := []struct {
		name    string
		in      string
		want    []Transaction
		wantErr string
	}{
		{
			name: "dates and rfc3339",
			in:   "customer_id,timestamp,amount\nc1,2024-01-02,10.5\nc2,2024-01-03T10:00:00+02:00,3\n",
			want: []Transaction{
				{"c1", time.Date(2024, 1, 2, 0, 0, 0, 0, time.UTC), 10.5},
				{"c2", time.Date(2024, 1, 3, 8, 0, 0, 0, time.UTC), 3},
			},
		},
		{name: "header only", in: "customer_id,timestamp,amount\n"},
		{name: "empty", in: "", wantErr: "empty input"},
		{name: "wrong header", in: "id,ts,amount\n", wantErr: "line 1"},
		{name: "bad date", in: "customer_id,timestamp,amount\nc1,2024-01-02,1\nc1,2024-13-02,1\n", wantErr: "line 3"},
		{name: "bad amount", in: "customer_id,timestamp,amount\nc1,2024-01-02,abc\n", wantErr: "line 2"},
		{name: "nan amount", in: "customer_id,timestamp,amount\nc1,2024-01-02,NaN\n", wantErr: "line 2"},
		{name: "missing field", in: "customer_id,timestamp,amount\nc1,2024-01-02\n", wantErr: "line 2"},
		{name: "empty id", in: "customer_id,timestamp,amount\n,2024-01-02,1\n", wantErr: "line 2"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := ReadCSV(strings.NewReader(tc.in))
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) || !errors.Is(err, ErrMalformed) {
					t.Fatalf("err = %v, want ErrMalformed mentioning %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != len(tc.want) {
				t.Fatalf("got %v, want %v", got, tc.want)
			}
			for i := range got {
				if got[i].CustomerID != tc.want[i].CustomerID || !got[i].Time.Equal(tc.want[i].Time) || got[i].Amount != tc.want[i].Amount {
					t.Errorf("row %d = %v, want %v", i, got[i], tc.want[i])
				}
			}
		})
	}
}

func TestReadCDNOW(t *testing.T) {
	tests := []struct {
		name    string
		in      string
		want    int
		wantErr string
	}{
		{name: "sample layout", in: " 00004 0001 19970101  2   29.33\n 00004 0001 19970118  2   29.73\n", want: 2},
		{name: "master layout with header", in: " customer_id  date number_of_cds  dollar_value\n 00001 19970101  1   11.77\n\n", want: 1},
		{name: "bad date", in: " 00004 0001 19971301  2   29.33\n", wantErr: "line 1"},
		{name: "bad quantity", in: " 00004 0001 19970101  2   29.33\n 00004 0001 19970101  x   29.33\n", wantErr: "line 2"},
		{name: "bad amount", in: " 00004 0001 19970101  2   $\n", wantErr: "line 1"},
		{name: "wrong field count", in: " 00004 19970101\n", wantErr: "line 1"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := ReadCDNOW(strings.NewReader(tc.in))
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) || !errors.Is(err, ErrMalformed) {
					t.Fatalf("err = %v, want ErrMalformed mentioning %q", err, tc.wantErr)
				}
				return
			}
			if err != nil || len(got) != tc.want {
				t.Fatalf("got %d rows, %v; want %d", len(got), err, tc.want)
			}
		})
	}
}

// The parsers face user files: whatever the bytes, they must return rows
// or an error, never panic, and rows must be usable by Summarize.
func FuzzReadCSV(f *testing.F) {
	f.Add("customer_id,timestamp,amount\nc1,2024-01-02,10.5\nc2,2024-01-03T10:00:00Z,3\n")
	f.Add("customer_id,timestamp,amount\n\"a,b\",2024-01-02,1e308\n")
	f.Add("")
	f.Fuzz(func(t *testing.T, in string) {
		txs, err := ReadCSV(strings.NewReader(in))
		if err != nil {
			return
		}
		for _, tx := range txs {
			if tx.CustomerID == "" || !num.Finite(tx.Amount) {
				t.Fatalf("accepted bad row %+v", tx)
			}
		}
		if len(txs) > 0 {
			_, _ = Summarize(txs, time.Date(2100, 1, 1, 0, 0, 0, 0, time.UTC), Day)
		}
	})
}

func FuzzReadCDNOW(f *testing.F) {
	f.Add(" 00004 0001 19970101  2   29.33\n 00004 0001 19970118  2   29.73\n")
	f.Add(" 00001 19970101  1   11.77\n")
	f.Fuzz(func(t *testing.T, in string) {
		txs, err := ReadCDNOW(strings.NewReader(in))
		if err != nil {
			return
		}
		for _, tx := range txs {
			if tx.CustomerID == "" || !num.Finite(tx.Amount) || tx.Time.IsZero() {
				t.Fatalf("accepted bad row %+v", tx)
			}
		}
	})
}
