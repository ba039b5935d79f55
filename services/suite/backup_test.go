package suite_test

import (
	"context"
	"fmt"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/kizuna/kizuna/services/platform/bus/bustest"
	"github.com/kizuna/kizuna/services/platform/sqldb"
	"github.com/kizuna/kizuna/services/platform/sqldb/sqldbtest"
	"github.com/kizuna/kizuna/services/platform/testenv"
	"github.com/kizuna/kizuna/services/suite"
)

// TestBackupAndRestore follows docs/OPERATIONS.md ("Backup and restore") on
// PostgreSQL: with the services stopped, pg_dump the four services' schemas,
// pg_restore them into a fresh database, start the suite on that database,
// and find everything as it was — customers and their events, segments and
// their members, KPIs, journeys, the deduplication of message ids — and new
// events flowing on. The streams stay as they were at the dump (nothing is
// written between), as after restoring a stream backup taken with it.
func TestBackupAndRestore(t *testing.T) {
	pg, natsURL := testenv.URL(t, sqldbtest.PostgresURLVar), testenv.URL(t, bustest.NATSURLVar)
	pgDump, pgRestore := tool(t, "pg_dump"), tool(t, "pg_restore")
	id := randomID(t)
	cfg := suite.Config{DataDir: t.TempDir(), DatabaseURL: pg, SchemaPrefix: "bk_" + id + "_", NATSURL: natsURL, BusPrefix: "bk" + id}
	orig := cfg // the streams, and the schemas should the test stop before dropping them
	t.Cleanup(func() { dropExternal(t, orig) })

	a, stop := runSuite(t, cfg)
	c := &client{t: t, base: "http://" + a.HTTP}
	batch := `{"batch":[
		{"type":"identify","messageId":"bk-1","userId":"hanako","traits":{"email":"hanako@example.jp","name":"山田花子"}},
		{"type":"track","messageId":"bk-2","userId":"hanako","event":"Order Completed","properties":{"order_id":"A-1","revenue":12000}},
		{"type":"track","messageId":"bk-3","userId":"hanako","event":"Order Completed","properties":{"order_id":"A-2","revenue":8000}},
		{"type":"track","messageId":"bk-4","userId":"taro","event":"Order Completed","properties":{"order_id":"B-1","revenue":5000}},
		{"type":"page","messageId":"bk-5","anonymousId":"anon-1","name":"Home"}]}`
	c.segment("/v1/batch", batch, nil)
	var seg struct{ Segment struct{ SegmentID string } }
	c.call("POST", "/v1/segments", `{"displayName":"Buyers","rule":{"all":[{"event":{"event":"Order Completed","minCount":1,"withinDays":30}}]}}`, nil, &seg)
	segID := seg.Segment.SegmentID
	var revenue struct {
		Value      float64
		OrderCount string
	}
	eventually(t, "both buyers in the segment, every order counted", func() bool {
		c.call("POST", "/v1/metrics:compute", `{"kpi":"revenue"}`, nil, &revenue)
		return c.segmentSize(segID) == "2" && revenue.OrderCount == "3"
	})
	var ch struct{ Channel struct{ ChannelID string } }
	c.call("POST", "/v1/channels", `{"displayName":"Hook","webhook":{"url":"https://hooks.example.com/kizuna"}}`, nil, &ch)
	var j struct{ Journey struct{ JourneyID string } }
	c.call("POST", "/v1/journeys", fmt.Sprintf(`{"displayName":"Thanks","entry":{"event":{"event":"Never Sent"}},
		"steps":[{"id":"hook","send":{"channelId":%q,"text":"thanks"}}]}`, ch.Channel.ChannelID), nil, &j)
	stop() // 1. stop the writers

	// 2. Back up the schemas, as the runbook does.
	schemas := []string{}
	for _, svc := range suite.Services {
		if svc != "gateway" {
			schemas = append(schemas, cfg.SchemaPrefix+svc)
		}
	}
	dump := filepath.Join(t.TempDir(), "kizuna.dump")
	args := []string{pg, "-Fc"}
	for _, s := range schemas {
		args = append(args, "-n", s)
	}
	run(t, pgDump, append(args, "-f", dump)...)

	// Restore into a fresh database; the old schemas go, so what the suite
	// finds next can only come from the dump.
	restored := freshDatabase(t, pg, "kizuna_restore_"+id)
	run(t, pgRestore, "-d", restored, "--clean", "--if-exists", "--no-owner", dump)
	dropSchemas(t, pg, schemas)

	cfg.DatabaseURL = restored
	a = startSuite(t, cfg)
	c = &client{t: t, base: "http://" + a.HTTP}
	var profile struct {
		Customer struct {
			CustomerID string
			EventCount string
			Traits     map[string]any
		}
	}
	c.call("GET", "/v1/customers:lookup?email=hanako@example.jp", "", nil, &profile)
	if profile.Customer.EventCount != "3" || profile.Customer.Traits["name"] != "山田花子" {
		t.Errorf("hanako after the restore = %+v, want 3 events and her name", profile.Customer)
	}
	var events struct{ Events []struct{ EventID string } }
	c.call("GET", "/v1/customers/"+profile.Customer.CustomerID+"/events", "", nil, &events)
	if len(events.Events) != 3 {
		t.Errorf("hanako's events after the restore = %+v, want 3", events.Events)
	}
	if size := c.segmentSize(segID); size != "2" {
		t.Errorf("segment size after the restore = %s, want 2", size)
	}
	c.call("POST", "/v1/metrics:compute", `{"kpi":"revenue"}`, nil, &revenue)
	if revenue.Value != 25000 || revenue.OrderCount != "3" {
		t.Errorf("revenue after the restore = %+v, want 25000 over 3 orders", revenue)
	}
	var journey struct{ Journey struct{ DisplayName string } }
	c.call("GET", "/v1/journeys/"+j.Journey.JourneyID, "", nil, &journey)
	if journey.Journey.DisplayName != "Thanks" {
		t.Errorf("journey after the restore = %+v", journey.Journey)
	}
	// Message ids seen before the backup are still duplicates; new events
	// flow through the stream into the restored schemas.
	var br struct{ Accepted, Duplicates int }
	c.segment("/v1/batch", batch, &br)
	if br.Accepted != 0 || br.Duplicates != 5 {
		t.Errorf("batch resent after the restore: %d accepted, %d duplicates; want 0 and 5", br.Accepted, br.Duplicates)
	}
	c.segment("/v1/track", `{"messageId":"bk-6","userId":"jiro","event":"Order Completed","properties":{"order_id":"C-1","revenue":1000}}`, nil)
	eventually(t, "a new buyer joins the restored segment and KPI", func() bool {
		c.call("POST", "/v1/metrics:compute", `{"kpi":"revenue"}`, nil, &revenue)
		return c.segmentSize(segID) == "3" && revenue.OrderCount == "4"
	})
}

// tool returns the path of a PostgreSQL client program: the test skips
// without it, or fails when external backends are required.
func tool(t *testing.T, name string) string {
	t.Helper()
	path, err := exec.LookPath(name)
	if err == nil {
		return path
	}
	if os.Getenv(testenv.RequireExternalVar) == "1" {
		t.Fatalf("%s not found but %s=1: install PostgreSQL's client tools", name, testenv.RequireExternalVar)
	}
	t.Skipf("%s not found; skipping the backup and restore", name)
	return ""
}

func run(t *testing.T, name string, args ...string) {
	t.Helper()
	if out, err := exec.Command(name, args...).CombinedOutput(); err != nil {
		t.Fatalf("%s: %v\n%s", filepath.Base(name), err, out)
	}
}

// freshDatabase creates the database name on pg's server, drops it on
// cleanup, and returns its URL.
func freshDatabase(t *testing.T, pg, name string) string {
	t.Helper()
	ctx := context.Background()
	db, err := sqldb.Open(ctx, sqldb.Options{URL: pg})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if _, err := db.ExecContext(ctx, `CREATE DATABASE `+name); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		db, err := sqldb.Open(ctx, sqldb.Options{URL: pg})
		if err != nil {
			t.Errorf("cleanup: %v", err)
			return
		}
		defer db.Close()
		if _, err := db.ExecContext(ctx, `DROP DATABASE IF EXISTS `+name+` WITH (FORCE)`); err != nil {
			t.Errorf("cleanup: %v", err)
		}
	})
	u, err := url.Parse(pg)
	if err != nil {
		t.Fatal(err)
	}
	u.Path = "/" + name
	return u.String()
}

func dropSchemas(t *testing.T, pg string, schemas []string) {
	t.Helper()
	ctx := context.Background()
	db, err := sqldb.Open(ctx, sqldb.Options{URL: pg})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	for _, s := range schemas {
		if _, err := db.ExecContext(ctx, `DROP SCHEMA `+s+` CASCADE`); err != nil {
			t.Fatal(err)
		}
	}
}
