package clvcli

import (
	"bytes"
	"context"
	"encoding/csv"
	"encoding/json"
	"errors"
	"flag"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/kizuna/kizuna/services/analytics/clv/clvtest"
)

// cdnowSample returns the path of the CDNOW sample (see clvtest.CDNOWPath).
func cdnowSample(t *testing.T) string {
	t.Helper()
	return clvtest.CDNOWPath(t, "CDNOW_sample.txt")
}

func within(got, want, rel float64) bool { return math.Abs(got-want) <= rel*math.Abs(want) }

func TestFitCDNOW(t *testing.T) {
	var stdout, stderr bytes.Buffer
	args := []string{"fit", "--transactions", cdnowSample(t), "--format", "cdnow", "--calibration-end", "1997-09-30", "--period", "week", "--pareto"}
	if err := Run(context.Background(), args, &stdout, &stderr); err != nil {
		t.Fatalf("Run: %v\nstderr: %s", err, stderr.String())
	}
	if n := strings.Count(strings.TrimSpace(stdout.String()), "\n"); n != 0 {
		t.Fatalf("want exactly one JSON line, got %d extra lines", n)
	}
	var out FitOutput
	dec := json.NewDecoder(&stdout)
	dec.DisallowUnknownFields()
	if err := dec.Decode(&out); err != nil {
		t.Fatal(err)
	}
	if out.Customers != 2357 || out.GammaGamma == nil || out.ParetoNBD == nil {
		t.Fatalf("output %+v", out)
	}
	for _, c := range []struct {
		name      string
		got, want float64
	}{
		{"r", out.BGNBD.R, 0.243}, {"alpha", out.BGNBD.Alpha, 4.414}, {"a", out.BGNBD.A, 0.793}, {"b", out.BGNBD.B, 2.426},
		{"LL", out.BGNBD.LogLikelihood, -9582.4},
		{"p", out.GammaGamma.P, 6.25}, {"q", out.GammaGamma.Q, 3.74}, {"v", out.GammaGamma.V, 15.44},
		{"pareto r", out.ParetoNBD.R, 0.553}, {"pareto LL", out.ParetoNBD.LogLikelihood, -9595.0},
	} {
		if !within(c.got, c.want, 0.002) {
			t.Errorf("%s = %v, want %v", c.name, c.got, c.want)
		}
	}
	if out.Comparison[0].Name != "bg/nbd" {
		t.Errorf("comparison %+v, want bg/nbd best", out.Comparison)
	}
}

func TestPredictCSVInput(t *testing.T) {
	dir := t.TempDir()
	// The CDNOW sample rewritten as CSV must give the same fit as the
	// fixed-width reader.
	raw, err := os.ReadFile(cdnowSample(t))
	if err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	b.WriteString("customer_id,timestamp,amount\n")
	for _, line := range strings.Split(strings.TrimSpace(string(raw)), "\n") {
		f := strings.Fields(line)
		b.WriteString(f[0] + "," + f[2][:4] + "-" + f[2][4:6] + "-" + f[2][6:] + "," + f[4] + "\n")
	}
	in := filepath.Join(dir, "tx.csv")
	if err := os.WriteFile(in, []byte(b.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	outPath := filepath.Join(dir, "pred.csv")
	var stdout, stderr bytes.Buffer
	args := []string{"predict", "--transactions", in, "--calibration-end", "1997-09-30", "--horizon", "39", "--discount-rate", "0", "--output", outPath}
	if err := Run(context.Background(), args, &stdout, &stderr); err != nil {
		t.Fatalf("Run: %v\nstderr: %s", err, stderr.String())
	}
	f, err := os.Open(outPath)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	rows, err := csv.NewReader(f).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	if len(rows) != 2358 || strings.Join(rows[0], ",") != PredictionCSVHeader {
		t.Fatalf("%d rows, header %v", len(rows), rows[0])
	}
	// Customer 00004 is FHL's worked example: x=2, t_x=30.43, T=38.86,
	// E[Y(39)] = 1.226.
	first := rows[1]
	num := func(i int) float64 {
		v, err := strconv.ParseFloat(first[i], 64)
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
	if first[0] != "00004" || num(1) != 2 || !within(num(5), 1.226, 0.001) || !(num(6) > 0 && num(6) < 1) {
		t.Errorf("first row %v", first)
	}
	// Without discounting, CLV is expected purchases times expected spend.
	if !within(num(8), num(5)*num(7), 1e-6) {
		t.Errorf("clv %v, want %v × %v", num(8), num(5), num(7))
	}
}

func TestPredictJSONL(t *testing.T) {
	var stdout, stderr bytes.Buffer
	args := []string{"predict", "--transactions", cdnowSample(t), "--format", "cdnow", "--calibration-end", "1997-09-30", "--output-format", "jsonl"}
	if err := Run(context.Background(), args, &stdout, &stderr); err != nil {
		t.Fatalf("Run: %v\nstderr: %s", err, stderr.String())
	}
	lines := strings.Split(strings.TrimSpace(stdout.String()), "\n")
	if len(lines) != 2357 {
		t.Fatalf("%d lines, want 2357", len(lines))
	}
	var rec PredictionRecord
	if err := json.Unmarshal([]byte(lines[0]), &rec); err != nil {
		t.Fatal(err)
	}
	if rec.CustomerID != "00004" || !(rec.CLV > 0) || !(rec.ExpectedPurchases > 1.226) {
		t.Errorf("first record %+v (52-week horizon must exceed the 39-week 1.226)", rec)
	}
}

func TestRunErrors(t *testing.T) {
	dir := t.TempDir()
	bad := filepath.Join(dir, "bad.csv")
	if err := os.WriteFile(bad, []byte("customer_id,timestamp,amount\na,2024-01-01,1\nb,yesterday,2\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	oneTime := filepath.Join(dir, "one.csv")
	if err := os.WriteFile(oneTime, []byte("customer_id,timestamp,amount\na,2024-01-01,1\nb,2024-01-02,0\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name      string
		args      []string
		wantUsage bool
		wantText  string
	}{
		{"no command", nil, true, "missing command"},
		{"unknown command", []string{"bogus"}, true, "bogus"},
		{"missing transactions", []string{"fit"}, true, "--transactions"},
		{"bad period", []string{"fit", "--transactions", bad, "--period", "month"}, true, "month"},
		{"bad format", []string{"fit", "--transactions", bad, "--format", "xml"}, true, "xml"},
		{"bad date", []string{"fit", "--transactions", bad, "--calibration-end", "30/09/1997"}, true, "calibration-end"},
		{"unknown flag", []string{"predict", "--nope"}, true, "nope"},
		{"malformed row", []string{"fit", "--transactions", bad}, false, "line 3"},
		{"only one-time buyers", []string{"fit", "--transactions", oneTime}, false, "not enough data"},
		{"missing file", []string{"fit", "--transactions", filepath.Join(dir, "none.csv")}, false, "none.csv"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			err := Run(context.Background(), tc.args, &stdout, &stderr)
			if err == nil || errors.Is(err, ErrUsage) != tc.wantUsage || !strings.Contains(err.Error(), tc.wantText) {
				t.Fatalf("err = %v, want usage=%v mentioning %q", err, tc.wantUsage, tc.wantText)
			}
			if stdout.Len() != 0 {
				t.Errorf("stdout not empty on error: %q", stdout.String())
			}
		})
	}
	var stdout, stderr bytes.Buffer
	if err := Run(context.Background(), []string{"fit", "-h"}, &stdout, &stderr); !errors.Is(err, flag.ErrHelp) {
		t.Errorf("-h: err = %v, want flag.ErrHelp", err)
	}
}

func TestRunCancelled(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	var stdout, stderr bytes.Buffer
	err := Run(ctx, []string{"fit", "--transactions", cdnowSample(t), "--format", "cdnow"}, &stdout, &stderr)
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("err = %v, want context.Canceled", err)
	}
}
