package suite_test

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/text/encoding/japanese"
	"golang.org/x/text/transform"

	"github.com/kizuna/kizuna/services/ingestion/importcli"
	"github.com/kizuna/kizuna/services/platform/bus/bustest"
	"github.com/kizuna/kizuna/services/platform/sqldb/sqldbtest"
	"github.com/kizuna/kizuna/services/platform/testenv"
	"github.com/kizuna/kizuna/services/suite"
)

// TestImportCLI runs `kizuna import` against the running suite, as a new
// user would: a Shift_JIS customer export with a mapping and a bad row, an
// orders file in UTF-8 with a byte-order mark, and Segment calls as
// NDJSON; then a re-run. On the embedded defaults and, when configured, on
// PostgreSQL with NATS.
func TestImportCLI(t *testing.T) {
	t.Run("embedded", func(t *testing.T) {
		importCLI(t, suite.Config{DataDir: t.TempDir()})
	})
	t.Run("postgres+nats", func(t *testing.T) {
		pg, nats := testenv.URL(t, sqldbtest.PostgresURLVar), testenv.URL(t, bustest.NATSURLVar)
		id := randomID(t)
		cfg := suite.Config{DataDir: t.TempDir(), DatabaseURL: pg, SchemaPrefix: "import_" + id + "_", NATSURL: nats, BusPrefix: "import" + id}
		t.Cleanup(func() { dropExternal(t, cfg) })
		importCLI(t, cfg)
	})
}

func importCLI(t *testing.T, cfg suite.Config) {
	a := startSuite(t, cfg)
	c := &client{t: t, base: "http://" + a.HTTP}
	eventually(t, "ready", func() bool { return c.status("GET", "/readyz", "", nil) == 200 })
	dir := t.TempDir()
	write := func(name string, data []byte) string {
		path := filepath.Join(dir, name)
		if err := os.WriteFile(path, data, 0o600); err != nil {
			t.Fatal(err)
		}
		return path
	}
	sjis, _, err := transform.Bytes(japanese.ShiftJIS.NewEncoder(), []byte(
		"会員番号,メールアドレス,氏名,フリガナ,電話番号,会員ランク\n"+
			"K-001,hanako@example.jp,佐藤 花子,サトウ ハナコ,090-1111-2222,ゴールド\n"+
			"K-002,jiro@example.jp,田中 次郎,タナカ ジロウ,080-3333-4444,一般\n"+
			"K-003,壊れた行\n"))
	if err != nil {
		t.Fatal(err)
	}
	customers := write("customers.csv", sjis)
	mapping := write("mapping.yaml", []byte("columns:\n  会員番号: user_id\n  メールアドレス: email\n  氏名: name\n  フリガナ: name_kana\n  電話番号: phone\n  会員ランク: trait.rank\n"))
	orders := write("orders.csv", []byte("\xef\xbb\xbfuser_id,order_id,timestamp,revenue,currency,category,store\n"+
		"K-001,ORD-1,2026/11/01 12:00,\"3,200\",JPY,food,渋谷\n"+
		"K-001,ORD-2,2026/11/02 12:00,1800,JPY,food,新宿\n"+
		"K-002,ORD-3,2026/11/03 12:00,980,JPY,books,\n"))
	events := write("events.ndjson", []byte(`{"type":"track","userId":"K-002","event":"Coupon Used","timestamp":"2026-11-04T00:00:00Z","properties":{"code":"WELCOME"}}`+"\n"))

	run := func(args ...string) string {
		t.Helper()
		var stdout, stderr bytes.Buffer
		args = append(args, "--server", "http://"+a.HTTP, "--poll", "50ms")
		t.Setenv("KIZUNA_API_KEY", devKey)
		if err := importcli.Run(context.Background(), args, &stdout, &stderr); err != nil {
			t.Fatalf("kizuna import %v: %v\n%s", args, err, stderr.String())
		}
		if !strings.Contains(stderr.String(), "import [") || !strings.Contains(stderr.String(), "100%") {
			t.Errorf("no progress bar on stderr:\n%s", stderr.String())
		}
		return stdout.String()
	}
	out := run("customers", "--file", customers, "--encoding", "shift_jis", "--mapping", mapping)
	if !strings.Contains(out, "3 rows read, 2 imported (0 already present), 1 rejected") {
		t.Errorf("customers import said:\n%s", out)
	}
	report, err := os.ReadFile(filepath.Join(dir, "customers.rejected.csv"))
	if err != nil || !strings.Contains(string(report), "4,\"row: has 2 fields") || !strings.Contains(string(report), "壊れた行") {
		t.Errorf("rejection report = %q, %v", report, err)
	}
	if out := run("orders", "--file", orders); !strings.Contains(out, "3 rows read, 3 imported (0 already present), 0 rejected") {
		t.Errorf("orders import said:\n%s", out)
	}
	if out := run("events", "--file", events); !strings.Contains(out, "1 rows read, 1 imported") {
		t.Errorf("events import said:\n%s", out)
	}
	// A re-run imports nothing twice.
	if out := run("orders", "--file", orders); !strings.Contains(out, "3 imported (3 already present)") {
		t.Errorf("orders re-run said:\n%s", out)
	}

	// The same person by e-mail, with the normalised identities, the
	// mapped traits and her orders as Order Completed events.
	hanako := lookup(c, "email=Hanako@Example.jp")
	var cust struct {
		Customer struct {
			Traits     map[string]any
			Identities []struct{ Kind, Value string }
		}
	}
	c.call("GET", "/v1/customers/"+hanako, "", nil, &cust)
	if cust.Customer.Traits["name"] != "佐藤 花子" || cust.Customer.Traits["rank"] != "ゴールド" {
		t.Errorf("traits = %v", cust.Customer.Traits)
	}
	if ids := fmt.Sprint(cust.Customer.Identities); !strings.Contains(ids, "+819011112222") || !strings.Contains(ids, "K-001") {
		t.Errorf("identities = %s", ids)
	}
	var evs struct {
		Events []struct {
			Name  string
			Order struct {
				OrderID string
				Revenue float64
			}
		}
	}
	c.call("GET", "/v1/customers/"+hanako+"/events", "", nil, &evs)
	revenue := 0.0
	for _, e := range evs.Events {
		if e.Name == "Order Completed" {
			revenue += e.Order.Revenue
		}
	}
	if len(evs.Events) != 3 || revenue != 5000 {
		t.Errorf("events = %+v", evs.Events)
	}

	// Bad input is refused before anything is uploaded.
	var stdout, stderr bytes.Buffer
	err = importcli.Run(context.Background(), []string{"customers", "--file", customers, "--encoding", "latin1", "--server", "http://" + a.HTTP, "--key", devKey}, &stdout, &stderr)
	if err == nil || !strings.Contains(err.Error(), "encoding") {
		t.Errorf("an unknown encoding: %v", err)
	}
}
