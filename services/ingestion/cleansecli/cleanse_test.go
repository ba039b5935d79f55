package cleansecli

import (
	"bytes"
	"context"
	"encoding/csv"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/kizuna/kizuna/services/ingestion/internal/match/matchtest"
)

func run(t *testing.T, stdin string, args ...string) (stdout, stderr string, err error) {
	t.Helper()
	var out, errb bytes.Buffer
	err = Run(context.Background(), args, strings.NewReader(stdin), &out, &errb)
	return out.String(), errb.String(), err
}

func readCSV(t *testing.T, s string) [][]string {
	t.Helper()
	rows, err := csv.NewReader(strings.NewReader(s)).ReadAll()
	if err != nil {
		t.Fatalf("output is not CSV: %v\n%s", err, s)
	}
	return rows
}

const sample = "\ufeffrecord_id,name,name_kana,email,phone,company,postal_code,address,note\n" +
	"1,山田 太郎 様,ﾔﾏﾀﾞ ﾀﾛｳ,ＴＡＲＯ＠ＥＸＡＭＰＬＥ．ＪＰ,０９０－１２３４－５６７８,ﾄﾖｸﾓ(株),〒１００－０００５,東京都千代田区丸の内一丁目2番3号 丸の内ビル5F,x\n" +
	"2,鈴木花子,すずき はなこ,hanako@example.jp,03-1234-5678,株式会社トヨクモ,1000005,千代田区丸の内1-2-3,y\n" +
	"3,山田太郎,やまだ たろう,,+81 90 1234 5678,,,,z\n" +
	"4,佐藤健,,bad@,12,,123,,\n"

func TestNormalizeCommand(t *testing.T) {
	out, _, err := run(t, sample, "normalize")
	if err != nil {
		t.Fatal(err)
	}
	rows := readCSV(t, out)
	if got := strings.Join(rows[0], ","); got != strings.Join(normalizeHeader, ",") {
		t.Fatalf("header %q", got)
	}
	col := map[string]int{}
	for i, h := range rows[0] {
		col[h] = i
	}
	want := []map[string]string{
		{"record_id": "1", "name": "山田 太郎", "name_kana": "ヤマダタロウ", "email": "taro@example.jp", "phone": "+819012345678",
			"phone_type": "mobile", "company_key": "トヨクモ", "legal_form": "株式会社", "postal_code": "100-0005",
			"prefecture": "東京都", "address": "東京都千代田区丸の内1-2-3 丸の内ビル5F", "address_key": "千代田区丸の内1-2-3", "issues": ""},
		{"record_id": "2", "name_kana": "スズキハナコ", "phone": "+81312345678", "phone_type": "fixed_line", "company_key": "トヨクモ",
			"issues": "address_without_prefecture"},
		{"record_id": "3", "name_kana": "ヤマダタロウ", "phone": "+819012345678"},
		{"record_id": "4", "email": "bad@", "phone": "", "postal_code": "", "issues": "invalid_email;invalid_phone;invalid_postal_code"},
	}
	if len(rows) != len(want)+1 {
		t.Fatalf("%d rows, want %d", len(rows)-1, len(want))
	}
	for i, w := range want {
		for k, v := range w {
			if got := rows[i+1][col[k]]; got != v {
				t.Errorf("row %d %s = %q, want %q", i+1, k, got, v)
			}
		}
	}
}

func TestDedupeCommand(t *testing.T) {
	dir := t.TempDir()
	in := filepath.Join(dir, "in.csv")
	if err := os.WriteFile(in, []byte(sample), 0o600); err != nil {
		t.Fatal(err)
	}
	outPath := filepath.Join(dir, "clusters.csv")
	reviewPath := filepath.Join(dir, "review.csv")
	_, stderr, err := run(t, "", "dedupe", "--input", in, "--output", outPath, "--review", reviewPath)
	if err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(outPath)
	if err != nil {
		t.Fatal(err)
	}
	// 1 and 3 share a mobile and a name; 2 is a colleague at the same
	// company and address; 4 is alone.
	want := "record_id,cluster_id\n1,1\n2,2\n3,1\n4,3\n"
	if string(b) != want {
		t.Errorf("clusters:\n%s\nwant:\n%s", b, want)
	}
	if !strings.Contains(stderr, "4 records, 3 clusters") {
		t.Errorf("stderr summary missing: %q", stderr)
	}
	rv, err := os.ReadFile(reviewPath)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(string(rv), "record_id_a,record_id_b,score,reasons\n") {
		t.Errorf("review file: %q", rv)
	}
}

// TestDedupeReview checks the review file lists a pair that is plausible
// but not certain (the same name at the same company only) and not the
// pairs that were merged.
func TestDedupeReview(t *testing.T) {
	dir := t.TempDir()
	in := filepath.Join(dir, "in.csv")
	csv := "record_id,name,email,company\n" +
		"a,佐藤 一郎,,株式会社トヨクモ\n" +
		"b,佐藤一郎,,ﾄﾖｸﾓ(株)\n" +
		"c,鈴木花子,hanako@example.jp,\n" +
		"d,鈴木 花子,HANAKO@example.jp,\n"
	if err := os.WriteFile(in, []byte(csv), 0o600); err != nil {
		t.Fatal(err)
	}
	reviewPath := filepath.Join(dir, "review.csv")
	if _, _, err := run(t, "", "dedupe", "--input", in, "--output", filepath.Join(dir, "clusters.csv"), "--review", reviewPath); err != nil {
		t.Fatal(err)
	}
	rv, err := os.ReadFile(reviewPath)
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(string(rv)), "\n")
	if len(lines) != 2 || !strings.HasPrefix(lines[1], "a,b,") || !strings.Contains(lines[1], "company") {
		t.Errorf("review file = %q, want the header and the pair a,b with a company reason", rv)
	}
}

func TestErrors(t *testing.T) {
	tests := []struct {
		name, in string
		args     []string
		want     string
	}{
		{"no subcommand", "", nil, "missing subcommand"},
		{"unknown subcommand", "", []string{"frobnicate"}, "unknown subcommand"},
		{"missing record_id", "name,email\n山田,a@example.jp\n", []string{"dedupe"}, "line 1: header: required column record_id is missing"},
		{"empty input", "", []string{"normalize"}, "empty input"},
		{"malformed quote", "record_id,name\n1,ok\n2,\"broken\n", []string{"dedupe"}, "stdin line 3: malformed CSV"},
		{"wrong field count", "record_id,name\n1,ok\n2,a,b\n", []string{"normalize"}, "stdin line 3: malformed CSV"},
		{"empty record_id", "record_id,name\n1,ok\n,a\n", []string{"normalize"}, "stdin line 3: empty record_id"},
		{"missing file", "", []string{"dedupe", "--input", "/nonexistent/x.csv"}, "no such file"},
		{"stray argument", "", []string{"dedupe", "extra"}, "unexpected argument"},
		{"unknown region", "record_id,phone\n1,090\n", []string{"normalize", "--region", "ZZ"}, `--region "ZZ" is not an ISO 3166-1 region`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, _, err := run(t, tt.in, tt.args...)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("err = %v, want it to contain %q", err, tt.want)
			}
		})
	}
}

// TestPostalFirstAddress: an address written postcode first keeps its
// prefecture, and the code fills an empty postal_code column.
func TestPostalFirstAddress(t *testing.T) {
	out, _, err := run(t, "record_id,address\n1,〒１００－０００１ 東京都千代田区千代田1-1\n", "normalize", "--region", "jp")
	if err != nil {
		t.Fatal(err)
	}
	rows := readCSV(t, out)
	col := map[string]int{}
	for i, h := range rows[0] {
		col[h] = i
	}
	r := rows[1]
	if r[col["prefecture"]] != "東京都" || r[col["postal_code"]] != "100-0001" || r[col["address"]] != "東京都千代田区千代田1-1" {
		t.Errorf("row = %q", r)
	}
}

// TestDedupeGenerated runs the CLI end to end on generated data and checks
// that every record is written once, in input order, and that known
// duplicates mostly share a cluster.
func TestDedupeGenerated(t *testing.T) {
	rows := matchtest.Generate(3, 3000)
	var in bytes.Buffer
	if err := matchtest.WriteCSV(&in, rows); err != nil {
		t.Fatal(err)
	}
	out, _, err := run(t, in.String(), "dedupe")
	if err != nil {
		t.Fatal(err)
	}
	got := readCSV(t, out)[1:]
	if len(got) != len(rows) {
		t.Fatalf("%d output rows, want %d", len(got), len(rows))
	}
	firstCluster := map[int]string{}
	same, total := 0, 0
	for i, r := range rows {
		if got[i][0] != r.ID {
			t.Fatalf("row %d is %q, want %q (input order)", i, got[i][0], r.ID)
		}
		if c, ok := firstCluster[r.Entity]; ok {
			total++
			if c == got[i][1] {
				same++
			}
		} else {
			firstCluster[r.Entity] = got[i][1]
		}
	}
	if float64(same) < 0.95*float64(total) {
		t.Errorf("only %d of %d duplicate records joined their first record's cluster", same, total)
	}
}

func TestFailedRunRemovesOutput(t *testing.T) {
	out := filepath.Join(t.TempDir(), "out.csv")
	_, _, err := run(t, "record_id,name\n1,ok\n2,\"broken\n", "normalize", "--output", out)
	if err == nil {
		t.Fatal("malformed input accepted")
	}
	if _, statErr := os.Stat(out); !os.IsNotExist(statErr) {
		t.Errorf("partial output left behind: %v", statErr)
	}
}

func TestHelp(t *testing.T) {
	out, _, err := run(t, "", "help")
	if err != nil || !strings.Contains(out, "dedupe") {
		t.Errorf("help: %v %q", err, out)
	}
	if _, _, err := run(t, "", "dedupe", "-h"); err != nil {
		t.Errorf("-h: %v", err)
	}
}
