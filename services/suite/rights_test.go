package suite_test

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"testing"

	"github.com/kizuna/kizuna/services/platform/bus/bustest"
	"github.com/kizuna/kizuna/services/platform/sqldb"
	"github.com/kizuna/kizuna/services/platform/sqldb/sqldbtest"
	"github.com/kizuna/kizuna/services/platform/testenv"
	"github.com/kizuna/kizuna/services/suite"
)

// TestDataRights exports a person, deletes them and then reads every row
// of every table of every service looking for anything that identifies
// them; and suppresses a person across a merge and its undo. On the
// embedded defaults and, when configured, on PostgreSQL with NATS.
func TestDataRights(t *testing.T) {
	t.Run("embedded", func(t *testing.T) {
		rights(t, suite.Config{DataDir: t.TempDir()})
	})
	t.Run("postgres+nats", func(t *testing.T) {
		pg, nats := testenv.URL(t, sqldbtest.PostgresURLVar), testenv.URL(t, bustest.NATSURLVar)
		id := randomID(t)
		cfg := suite.Config{DataDir: t.TempDir(), DatabaseURL: pg, SchemaPrefix: "rights_" + id + "_", NATSURL: nats, BusPrefix: "rights" + id}
		t.Cleanup(func() { dropExternal(t, cfg) })
		rights(t, cfg)
	})
}

type regulation struct {
	Regulation struct {
		RegulationID, State, Target string
		CustomerIDs                 []string `json:"customerIds"`
		Services                    []struct{ Service, State string }
	}
}

func (c *client) regulate(body string) regulation {
	c.t.Helper()
	var r regulation
	c.call("POST", "/v1/regulations", body, nil, &r)
	eventually(c.t, "regulation done in every service", func() bool {
		c.call("GET", "/v1/regulations/"+r.Regulation.RegulationID, "", nil, &r)
		return r.Regulation.State == "DONE"
	})
	if len(r.Regulation.Services) != 4 {
		c.t.Errorf("regulation services = %+v, want 4", r.Regulation.Services)
	}
	return r
}

func rights(t *testing.T, cfg suite.Config) {
	a := startSuite(t, cfg)
	c := &client{t: t, base: "http://" + a.HTTP}
	eventually(t, "ready", func() bool { return c.status("GET", "/readyz", "", nil) == 200 })

	// Erin: every kind of data about her, in every service.
	c.segment("/v1/batch", `{"batch":[
		{"type":"page","messageId":"r-1","anonymousId":"anon-erin-5521","name":"Pricing"},
		{"type":"identify","messageId":"r-2","anonymousId":"anon-erin-5521","userId":"erin-del-7731","traits":{"email":"Erin.Del7731@Example.jp","phone":"090-5555-7731","name":"消去恵理子","address":"東京都千代田区丸の内9-9-9"}},
		{"type":"track","messageId":"r-3","userId":"erin-del-7731","event":"Order Completed","properties":{"order_id":"ORD-ERIN-7731","revenue":4321,"currency":"JPY"}},
		{"type":"identify","messageId":"r-4","userId":"keeper","traits":{"email":"keeper@example.jp","name":"残留太郎"}},
		{"type":"track","messageId":"r-5","userId":"keeper","event":"Order Completed","properties":{"order_id":"ORD-KEEP-1","revenue":1000}}
	]}`, nil)
	erin := lookup(c, "user_id=erin-del-7731")
	var seg struct{ Segment struct{ SegmentID string } }
	c.call("POST", "/v1/segments", `{"displayName":"Buyers","rule":{"all":[{"event":{"event":"Order Completed","minCount":1,"withinDays":30}}]}}`, nil, &seg)
	eventually(t, "both buyers in the segment", func() bool { return c.segmentSize(seg.Segment.SegmentID) == "2" })
	sink := newSink(t)
	var cmp struct{ Campaign struct{ CampaignID string } }
	c.call("POST", "/v1/campaigns", fmt.Sprintf(`{"displayName":"Thanks","segmentId":%q,"webhook":{"url":%q},"messageTemplate":"{{ customer.traits.name }}様"}`, seg.Segment.SegmentID, sink.URL), nil, &cmp)
	c.call("POST", "/v1/campaigns/"+cmp.Campaign.CampaignID+":launch", "", nil, nil)
	eventually(t, "erin's send recorded", func() bool {
		var sends struct {
			Sends []struct{ Status, Text string }
		}
		c.call("GET", "/v1/customers/"+erin+"/sends", "", nil, &sends)
		return len(sends.Sends) == 1 && sends.Sends[0].Text != ""
	})
	var ltv struct{ Value float64 }
	eventually(t, "metrics has both orders", func() bool {
		c.call("POST", "/v1/metrics:compute", `{"kpi":"revenue"}`, nil, &ltv)
		return ltv.Value == 5321
	})

	// Export: one document with every service's part.
	code, body := c.do("GET", "/v1/customers/"+erin+":export", "", bearer)
	if code != 200 {
		t.Fatalf("export: status %d: %s", code, body)
	}
	for _, want := range []string{`"erin.del7731@example.jp"`, `"Erin.Del7731@Example.jp"`, `"+819055557731"`, `"ORD-ERIN-7731"`, `"anon-erin-5521"`,
		`"segmentation"`, `"features"`, seg.Segment.SegmentID, `"campaign"`, `消去恵理子様`} {
		if !strings.Contains(string(body), want) {
			t.Errorf("export lacks %s: %s", want, body)
		}
	}
	code, body = c.do("GET", "/v1/customers/"+erin+":export?format=ndjson", "", bearer)
	if lines := strings.Count(string(body), "\n"); code != 200 || lines < 6 || !strings.Contains(string(body), `{"kind":"event","record":`) {
		t.Errorf("ndjson export: status %d, %d lines: %s", code, lines, body)
	}

	// Delete her by e-mail, in any spelling.
	r := c.regulate(`{"type":"DELETE","email":"ＥＲＩＮ.del7731@example.jp"}`)
	if len(r.Regulation.CustomerIDs) != 1 || r.Regulation.CustomerIDs[0] != erin || strings.Contains(r.Regulation.Target, "del7731") {
		t.Errorf("regulation = %+v", r.Regulation)
	}
	// Her events' message ids stay in the consumers' applied_messages
	// until pruned: bare ids the client chose, and what keeps a
	// redelivered event of hers from being applied again.
	identifiers := []string{"erin-del-7731", "anon-erin-5521", "del7731@example.jp", "Del7731@Example.jp", "+819055557731", "090-5555-7731",
		"消去恵理子", "ORD-ERIN-7731", "丸の内9-9-9"}
	eventually(t, "nothing about erin in any table", func() bool {
		return len(scanTables(t, cfg, identifiers, erin)) == 0
	})
	if found := scanTables(t, cfg, []string{"keeper", "ORD-KEEP-1"}, ""); len(found) == 0 {
		t.Error("the scan found nothing about the customer kept: it cannot see the data")
	}
	if code := c.status("GET", "/v1/customers/"+erin, "", bearer); code != 404 {
		t.Errorf("deleted customer: status %d, want 404", code)
	}
	// A late event with her identity is accepted and dropped.
	var br struct{ Accepted int }
	c.segment("/v1/batch", `{"batch":[{"type":"identify","messageId":"r-late","userId":"someone-new","traits":{"email":"erin.del7731@example.jp"}}]}`, &br)
	if br.Accepted != 1 {
		t.Errorf("late event: accepted %d, want 1", br.Accepted)
	}
	if code := c.status("GET", "/v1/customers:lookup?user_id=someone-new", "", bearer); code != 404 {
		t.Errorf("late event for a deleted identity was stored: status %d", code)
	}
	c.call("POST", "/v1/metrics:compute", `{"kpi":"revenue"}`, nil, &ltv)
	if ltv.Value != 1000 {
		t.Errorf("revenue after deletion = %v, want 1000", ltv.Value)
	}

	suppression(t, c)
}

// suppression suppresses one customer, merges it with another and undoes
// the merge: the suppression follows the identities, never the ids.
func suppression(t *testing.T, c *client) {
	c.segment("/v1/batch", `{"batch":[
		{"type":"identify","messageId":"s-1","userId":"sup-1","traits":{"email":"sup@example.jp"}},
		{"type":"identify","messageId":"s-2","userId":"other-1","traits":{"email":"other@example.jp"}}
	]}`, nil)
	sup, other := lookup(c, "user_id=sup-1"), lookup(c, "user_id=other-1")
	suppressed := func(id string) bool {
		var p struct{ Customer struct{ Suppressed bool } }
		c.call("GET", "/v1/customers/"+id, "", nil, &p)
		return p.Customer.Suppressed
	}
	c.regulate(`{"type":"SUPPRESS","customerId":"` + sup + `"}`)
	if !suppressed(sup) || suppressed(other) {
		t.Fatalf("after SUPPRESS: sup %v other %v, want true false", suppressed(sup), suppressed(other))
	}
	dropped := func(msgID, userID string) bool {
		c.segment("/v1/batch", `{"batch":[{"type":"identify","messageId":"`+msgID+`","userId":"`+userID+`","traits":{"email":"sup@example.jp"}}]}`, nil)
		return c.status("GET", "/v1/customers:lookup?user_id="+userID, "", bearer) == 404
	}
	if !dropped("s-3", "newcomer-1") {
		t.Error("an event with a suppressed e-mail was stored")
	}
	var merge struct {
		Merge struct{ MergeID, SurvivorCustomerID string }
	}
	c.call("POST", "/v1/merges", `{"survivorCustomerId":"`+other+`","mergedCustomerIds":["`+sup+`"]}`, nil, &merge)
	if !suppressed(other) {
		t.Error("the survivor of a merge with a suppressed customer is not suppressed")
	}
	if !dropped("s-4", "newcomer-2") {
		t.Error("after the merge, an event with the suppressed e-mail was stored")
	}
	c.call("POST", "/v1/merges/"+merge.Merge.MergeID+":undo", `{}`, nil, nil)
	if !suppressed(sup) || suppressed(other) {
		t.Errorf("after the undo: sup %v other %v, want true false", suppressed(sup), suppressed(other))
	}
	if !dropped("s-5", "newcomer-3") {
		t.Error("after the undo, an event with the suppressed e-mail was stored")
	}
	c.regulate(`{"type":"UNSUPPRESS","customerId":"` + sup + `"}`)
	if suppressed(sup) {
		t.Error("still suppressed after UNSUPPRESS")
	}
	if dropped("s-6", "newcomer-4") {
		t.Error("after UNSUPPRESS, an event with the e-mail was dropped")
	}
	if code := c.status("POST", "/v1/regulations", `{"type":"SUPPRESS"}`, bearer); code != 400 {
		t.Errorf("regulation without a target: status %d, want 400", code)
	}
	if code := c.status("POST", "/v1/regulations", `{"type":"DELETE","customerId":"cus_nobody"}`, bearer); code != 404 {
		t.Errorf("regulation of an unknown customer: status %d, want 404", code)
	}
}

// scanTables reads every row of every table of every service's database
// and returns "service.table: identifier" for each identifier found; the
// customer id, when given, is looked for everywhere but in the regulation
// records, which keep ids only.
func scanTables(t *testing.T, cfg suite.Config, identifiers []string, customerID string) []string {
	t.Helper()
	ctx := context.Background()
	var found []string
	for _, svc := range []string{"ingestion", "segmentation", "metrics", "campaign"} {
		opts := sqldb.Options{URL: "sqlite:" + filepath.Join(cfg.DataDir, svc+".db")}
		if cfg.DatabaseURL != "" {
			opts = sqldb.Options{URL: cfg.DatabaseURL, Schema: cfg.SchemaPrefix + svc}
		}
		db, err := sqldb.Open(ctx, opts)
		if err != nil {
			t.Fatalf("open %s: %v", svc, err)
		}
		q := `SELECT name FROM sqlite_master WHERE type = 'table'`
		args := []any{}
		if cfg.DatabaseURL != "" {
			q, args = `SELECT table_name FROM information_schema.tables WHERE table_schema = $1`, []any{opts.Schema}
		}
		tables, err := strings2(ctx, db, q, args...)
		if err != nil {
			t.Fatalf("list %s tables: %v", svc, err)
		}
		for _, table := range tables {
			rows, err := db.QueryContext(ctx, `SELECT * FROM `+table)
			if err != nil {
				t.Fatalf("read %s.%s: %v", svc, table, err)
			}
			cols, _ := rows.Columns()
			for rows.Next() {
				vals := make([]any, len(cols))
				ptrs := make([]any, len(cols))
				for i := range vals {
					ptrs[i] = &vals[i]
				}
				if err := rows.Scan(ptrs...); err != nil {
					t.Fatalf("scan %s.%s: %v", svc, table, err)
				}
				var b strings.Builder
				for _, v := range vals {
					if bs, ok := v.([]byte); ok {
						b.Write(bs)
					} else {
						fmt.Fprint(&b, v)
					}
					b.WriteByte('\x00')
				}
				row := b.String()
				for _, id := range identifiers {
					if strings.Contains(row, id) {
						found = append(found, svc+"."+table+": "+id)
					}
				}
				if customerID != "" && table != "regulations" && strings.Contains(row, customerID) {
					found = append(found, svc+"."+table+": "+customerID)
				}
			}
			rows.Close()
		}
		db.Close()
	}
	if len(found) > 0 {
		t.Logf("found: %v", found)
	}
	return found
}

func strings2(ctx context.Context, db *sqldb.DB, q string, args ...any) ([]string, error) {
	rows, err := db.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var s string
		if err := rows.Scan(&s); err != nil {
			return nil, err
		}
		out = append(out, s)
	}
	return out, rows.Err()
}
