package dedupe_test

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"

	ingestionv1 "github.com/kizuna/kizuna/gen/kizuna/ingestion/v1"
	"github.com/kizuna/kizuna/services/ingestion/internal/conflict"
	"github.com/kizuna/kizuna/services/ingestion/internal/customer"
	"github.com/kizuna/kizuna/services/ingestion/internal/dedupe"
	"github.com/kizuna/kizuna/services/ingestion/internal/identity"
	"github.com/kizuna/kizuna/services/ingestion/internal/ingest"
	"github.com/kizuna/kizuna/services/ingestion/internal/store"
	"github.com/kizuna/kizuna/services/ingestion/internal/tracking"
	"github.com/kizuna/kizuna/services/platform/sqldb"
	"github.com/kizuna/kizuna/services/platform/sqldb/sqldbtest"
)

var t0 = time.Date(2026, 11, 1, 9, 0, 0, 0, time.UTC)

// clock advances a second per reading, so every write happens at its own
// time, as in production.
type clock struct{ n atomic.Int64 }

func (c *clock) now() time.Time { return t0.Add(time.Duration(c.n.Add(1)) * time.Second) }

type fixture struct {
	ctx context.Context
	st  *store.Store
	in  *ingest.Ingester
	dd  *dedupe.Service
	ws  string
}

// parse reads the messages of a batch body.
func parse(t *testing.T, batch string) []tracking.Message {
	t.Helper()
	var req ingestionv1.BatchRequest
	if err := protojson.Unmarshal([]byte(`{"batch":[`+batch+`]}`), &req); err != nil {
		t.Error(err)
		return nil
	}
	msgs, err := tracking.ParseBatch(&req, t0)
	if err != nil {
		t.Error(err)
	}
	return msgs
}

func (f *fixture) ingest(t *testing.T, batch string) []string {
	t.Helper()
	res, err := f.in.Ingest(f.ctx, f.ws, parse(t, batch))
	if err != nil {
		t.Fatal(err)
	}
	return res.CustomerIDs
}

func (f *fixture) customer(t *testing.T, id string) *customer.Customer {
	t.Helper()
	c, err := f.st.Customer(f.ctx, f.ws, id)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func (f *fixture) events(t *testing.T, id string) []string {
	t.Helper()
	page, err := f.st.CustomerEvents(f.ctx, f.ws, id, 1000, "")
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, e := range page.Events {
		ids = append(ids, e.EventID)
	}
	slices.Sort(ids)
	return ids
}

// scan runs a duplicate scan to its end.
func (f *fixture) scan(t *testing.T, autoMerge bool) dedupe.Scan {
	t.Helper()
	sc, err := f.dd.StartScan(f.ctx, f.ws, autoMerge)
	if err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(30 * time.Second)
	for sc.State == dedupe.ScanRunning {
		if time.Now().After(deadline) {
			t.Fatalf("scan still running: %+v", sc)
		}
		time.Sleep(10 * time.Millisecond)
		if sc, err = f.dd.Scan(f.ctx, f.ws, sc.ID); err != nil {
			t.Fatal(err)
		}
	}
	if sc.State != dedupe.ScanSucceeded {
		t.Fatalf("scan = %+v", sc)
	}
	return sc
}

func (f *fixture) pending(t *testing.T) []customer.Suggestion {
	t.Helper()
	page, err := f.st.Suggestions(f.ctx, f.ws, customer.SuggestionPending, 100, "")
	if err != nil {
		t.Fatal(err)
	}
	return page.Suggestions
}

// outbox decodes the queued bus messages of one kind.
func (f *fixture) outbox(t *testing.T, kind string) []*ingestionv1.IngestionBusMessage {
	t.Helper()
	msgs, err := f.st.PendingOutbox(f.ctx, 0, 100000)
	if err != nil {
		t.Fatal(err)
	}
	var out []*ingestionv1.IngestionBusMessage
	for _, m := range msgs {
		if m.WorkspaceID != f.ws || m.Kind != kind {
			continue
		}
		var pb ingestionv1.IngestionBusMessage
		if err := proto.Unmarshal(m.Payload, &pb); err != nil {
			t.Fatal(err)
		}
		out = append(out, &pb)
	}
	return out
}

func TestDeduplication(t *testing.T) {
	sqldbtest.ForEachBackend(t, func(t *testing.T, db *sqldb.DB) {
		ctx := context.Background()
		st, err := store.Open(ctx, db)
		if err != nil {
			t.Fatal(err)
		}
		var c clock
		newFixture := func(ws string) *fixture {
			dd := dedupe.New(store.For[dedupe.Tx](st), c.now, slog.New(slog.NewTextHandler(io.Discard, nil)), func() {})
			t.Cleanup(dd.Close)
			return &fixture{ctx: ctx, st: st, in: ingest.New(store.For[ingest.Tx](st), c.now, nil), dd: dd, ws: ws}
		}

		t.Run("identity traits are stored original and normalised; mobiles resolve", func(t *testing.T) {
			f := newFixture("ws-traits")
			ids := f.ingest(t, `
				{"type":"identify","messageId":"t1","anonymousId":"a1","traits":{"name":"齋藤 花子 様","name_kana":"ｻｲﾄｳ ﾊﾅｺ","phone":"０９０－１２３４－５６７８",
					"email":"Ｈａｎａｋｏ@Example.JP","company":"トヨクモ㈱","address":{"state":"東京都","city":"千代田区","street":"丸の内一丁目2番3号","postalCode":"〒100-0005"}}},
				{"type":"page","messageId":"t2","anonymousId":"a2","context":{"traits":{"phone":"+81 90 1234 5678"}},"name":"Pricing"}`)
			if ids[0] != ids[1] {
				t.Fatalf("the same mobile number in two spellings made customers %v", ids)
			}
			cust := f.customer(t, ids[0])
			got := map[string]string{}
			for _, tr := range cust.IdentityTraits {
				got[tr.Trait] = tr.Original + " → " + tr.Normalized
			}
			want := map[string]string{
				"email":       "Ｈａｎａｋｏ@Example.JP → hanako@example.jp",
				"phone":       "０９０－１２３４－５６７８ → +819012345678",
				"name":        "齋藤 花子 様 → 齋藤 花子",
				"name_kana":   "ｻｲﾄｳ ﾊﾅｺ → サイトウハナコ",
				"company":     "トヨクモ㈱ → トヨクモ(株)",
				"postal_code": "〒100-0005 → 100-0005",
				"address":     "東京都千代田区丸の内一丁目2番3号 → 東京都千代田区丸の内1-2-3",
			}
			for k, w := range want {
				if got[k] != w {
					t.Errorf("%s: got %q, want %q", k, got[k], w)
				}
			}
			if _, err := f.st.Lookup(ctx, f.ws, identity.Key{Kind: identity.Phone, Value: "+819012345678"}); err != nil {
				t.Errorf("lookup by phone: %v", err)
			}
		})

		t.Run("scan, accept, undo with events that arrived in between", func(t *testing.T) {
			f := newFixture("ws-review")
			yamada := f.ingest(t, `
				{"type":"identify","messageId":"y1","userId":"u-yamada","traits":{"name":"山田 太郎","phone":"03-1234-5678","plan":"gold"}},
				{"type":"track","messageId":"y2","userId":"u-yamada","event":"Order Completed","properties":{"order_id":"Y-1","revenue":5000}}`)[0]
			// The same person from a paper form: half-width kana, a
			// full-width landline with brackets, no user id.
			form := f.ingest(t, `
				{"type":"identify","messageId":"f1","anonymousId":"form-7","traits":{"name":"山田太郎","phone":"０３（１２３４）５６７８","plan":"silver","source":"form"}},
				{"type":"page","messageId":"f2","anonymousId":"form-7","name":"Pricing"}`)[0]
			// Traps: a namesake, and a household member on the same line.
			f.ingest(t, `
				{"type":"identify","messageId":"n1","userId":"u-namesake","traits":{"name":"山田太郎","phone":"06-9876-5432"}},
				{"type":"identify","messageId":"h1","userId":"u-hanako","traits":{"name":"山田 花子","phone":"03-1234-5678"}}`)

			sc := f.scan(t, false)
			if sc.CustomersTotal != 4 || sc.CustomersScanned != 4 || sc.SuggestionsCreated != 1 || sc.MergesApplied != 0 || sc.Progress != 100 {
				t.Fatalf("scan = %+v, want 4 customers and 1 suggestion", sc)
			}
			sugs := f.pending(t)
			if len(sugs) != 1 {
				t.Fatalf("suggestions = %+v", sugs)
			}
			sg := sugs[0]
			if pair := []string{sg.CustomerA, sg.CustomerB}; !slices.Contains(pair, yamada) || !slices.Contains(pair, form) {
				t.Fatalf("suggested %v, want %s and %s", pair, yamada, form)
			}
			if !strings.Contains(strings.Join(sg.Reasons, ";"), "phone") || sg.Score < 0.5 {
				t.Errorf("suggestion = %+v, want a phone reason", sg)
			}
			if again := f.scan(t, false); again.SuggestionsCreated != 0 {
				t.Errorf("a second scan suggested the pair again: %+v", again)
			}

			_, m, err := f.dd.Accept(ctx, f.ws, sg.ID)
			if err != nil {
				t.Fatal(err)
			}
			if m.SurvivorID != yamada || !slices.Equal(m.MergedIDs, []string{form}) || m.MovedEvents != 2 || m.Source != customer.SourceSuggestion {
				t.Fatalf("merge = %+v", m)
			}
			if _, _, err := f.dd.Accept(ctx, f.ws, sg.ID); !errors.Is(err, conflict.ErrConflict) {
				t.Errorf("accepting twice: %v, want conflict", err)
			}
			merged := f.customer(t, form)
			if merged.ID != yamada || merged.EventCount != 4 || merged.Traits["plan"] != "silver" || merged.Traits["source"] != "form" {
				t.Errorf("merged customer = %+v; want the latest identify's plan and the form's source", merged)
			}
			if n := len(f.outbox(t, ingest.KindMerged)); n != 1 {
				t.Errorf("%d merge messages queued, want 1", n)
			}

			// Events after the merge: one from the form's device, one from
			// the user, and a new device introduced by the form's device.
			f.ingest(t, `
				{"type":"page","messageId":"after-form","anonymousId":"form-7","name":"Cart"},
				{"type":"page","messageId":"after-user","userId":"u-yamada","name":"Account"},
				{"type":"identify","messageId":"after-form-id","anonymousId":"form-7","traits":{"email":"taro@example.jp"}}`)
			f.ingest(t, `{"type":"page","messageId":"after-mail","anonymousId":"tablet-1","context":{"traits":{"email":"taro@example.jp"}},"name":"Top"}`)
			if got := f.events(t, yamada); len(got) != 8 {
				t.Fatalf("survivor holds %v, want 8 events", got)
			}

			undone, err := f.dd.Undo(ctx, f.ws, m.ID)
			if err != nil {
				t.Fatal(err)
			}
			if undone.State != customer.MergeUndone || undone.UndoTime.IsZero() {
				t.Errorf("undone merge = %+v", undone)
			}
			if got, want := f.events(t, yamada), []string{"after-user", "y1", "y2"}; !slices.Equal(got, want) {
				t.Errorf("survivor events after undo = %v, want %v", got, want)
			}
			if got, want := f.events(t, form), []string{"after-form", "after-form-id", "after-mail", "f1", "f2"}; !slices.Equal(got, want) {
				t.Errorf("restored events after undo = %v, want %v", got, want)
			}
			restored, survivor := f.customer(t, form), f.customer(t, yamada)
			if restored.ID != form || restored.EventCount != 5 || restored.Traits["plan"] != "silver" || restored.Traits["email"] != "taro@example.jp" {
				t.Errorf("restored = %+v", restored)
			}
			if survivor.EventCount != 3 || survivor.Traits["plan"] != "gold" || survivor.Traits["source"] != nil {
				t.Errorf("survivor = %+v", survivor)
			}
			if c, err := f.st.Lookup(ctx, f.ws, identity.Key{Kind: identity.Email, Value: "taro@example.jp"}); err != nil || c.ID != form {
				t.Errorf("the e-mail introduced after the merge belongs to %v (%v), want %s", c, err, form)
			}
			if c, err := f.st.Lookup(ctx, f.ws, identity.Key{Kind: identity.AnonymousID, Value: "tablet-1"}); err != nil || c.ID != form {
				t.Errorf("the device introduced after the merge belongs to %v (%v), want %s", c, err, form)
			}
			unmerged := f.outbox(t, ingest.KindUnmerged)
			if len(unmerged) != 1 {
				t.Fatalf("%d unmerge messages, want 1", len(unmerged))
			}
			u := unmerged[0].GetCustomerUnmerged()
			if u.GetRestoredCustomerId() != form || u.GetSurvivorCustomerId() != yamada || len(u.GetEventIds()) != 5 ||
				u.GetRestoredTraits().GetFields()["plan"].GetStringValue() != "silver" || u.GetSurvivorTraits().GetFields()["plan"].GetStringValue() != "gold" {
				t.Errorf("unmerge message = %v", u)
			}
			if _, err := f.dd.Undo(ctx, f.ws, m.ID); !errors.Is(err, conflict.ErrConflict) {
				t.Errorf("undoing twice: %v, want conflict", err)
			}
			if f.pending(t) != nil {
				t.Errorf("pending after undo: %+v", f.pending(t))
			}
			if again := f.scan(t, false); again.SuggestionsCreated != 0 {
				t.Errorf("a pair whose merge was undone was suggested again: %+v", again)
			}
		})

		t.Run("reject keeps both customers", func(t *testing.T) {
			f := newFixture("ws-reject")
			f.ingest(t, `
				{"type":"identify","messageId":"r1","userId":"u-1","traits":{"name":"佐藤 一郎","company":"株式会社トヨクモ"}},
				{"type":"identify","messageId":"r2","anonymousId":"a-2","traits":{"name":"佐藤一郎","company":"ﾄﾖｸﾓ(株)"}}`)
			f.scan(t, false)
			sugs := f.pending(t)
			if len(sugs) != 1 {
				t.Fatalf("suggestions = %+v", sugs)
			}
			sg, err := f.dd.Reject(ctx, f.ws, sugs[0].ID)
			if err != nil || sg.State != customer.SuggestionRejected {
				t.Fatalf("reject = %+v, %v", sg, err)
			}
			if _, _, err := f.dd.Accept(ctx, f.ws, sg.ID); !errors.Is(err, conflict.ErrConflict) {
				t.Errorf("accepting a rejected suggestion: %v, want conflict", err)
			}
			if _, err := f.dd.Reject(ctx, f.ws, "sug_missing"); !errors.Is(err, customer.ErrNotFound) {
				t.Errorf("rejecting a missing suggestion: %v, want not found", err)
			}
		})

		t.Run("auto-merge merges certain pairs and suggests the rest", func(t *testing.T) {
			f := newFixture("ws-auto")
			f.ingest(t, `
				{"type":"identify","messageId":"m1","userId":"u-1","traits":{"name":"鈴木 次郎","phone":"045-111-2222"}},
				{"type":"identify","messageId":"m2","anonymousId":"a-2","traits":{"name":"鈴木次郎","phone":"045(111)2222"}},
				{"type":"identify","messageId":"m3","anonymousId":"a-3","traits":{"name":"高橋 三郎","company":"株式会社トヨクモ"}},
				{"type":"identify","messageId":"m4","anonymousId":"a-4","traits":{"name":"髙橋三郎","company":"トヨクモ"}}`)
			sc := f.scan(t, true)
			if sc.MergesApplied != 1 || sc.SuggestionsCreated != 1 {
				t.Errorf("scan = %+v, want one merge and one suggestion", sc)
			}
			page, err := f.st.Merges(ctx, f.ws, "", 10, "")
			if err != nil || len(page.Merges) != 1 || page.Merges[0].Source != customer.SourceScan {
				t.Errorf("merges = %+v, %v", page, err)
			}
		})

		t.Run("undo of a merge made inside a batch keeps what came before it", func(t *testing.T) {
			f := newFixture("ws-batch")
			b := f.ingest(t, `{"type":"page","messageId":"b0","anonymousId":"dev-b","name":"Top"}`)[0]
			c := f.ingest(t, `{"type":"identify","messageId":"c0","anonymousId":"dev-c","traits":{"email":"c@example.jp","plan":"c"}}`)[0]
			got := f.ingest(t, `
				{"type":"identify","messageId":"b1","anonymousId":"dev-b","userId":"u-b","traits":{"plan":"b"},"timestamp":"2026-10-01T10:00:00Z"},
				{"type":"identify","messageId":"b2","userId":"u-b","traits":{"email":"c@example.jp"},"timestamp":"2026-10-01T09:00:00Z"}`)
			if got[0] != b || got[1] != b {
				t.Fatalf("batch resolved to %v, want %s", got, b)
			}
			page, err := f.st.Merges(ctx, f.ws, c, 10, "")
			if err != nil || len(page.Merges) != 1 {
				t.Fatalf("merges = %+v, %v", page, err)
			}
			if _, err := f.dd.Undo(ctx, f.ws, page.Merges[0].ID); err != nil {
				t.Fatal(err)
			}
			if got, want := f.events(t, b), []string{"b0", "b1", "b2"}; !slices.Equal(got, want) {
				t.Errorf("b holds %v, want %v", got, want)
			}
			if got, want := f.events(t, c), []string{"c0"}; !slices.Equal(got, want) {
				t.Errorf("c holds %v, want %v", got, want)
			}
			if cust := f.customer(t, b); cust.Traits["plan"] != "b" {
				t.Errorf("b's traits = %v", cust.Traits)
			}
			if cust, err := f.st.Lookup(ctx, f.ws, identity.Key{Kind: identity.UserID, Value: "u-b"}); err != nil || cust.ID != b {
				t.Errorf("u-b belongs to %v (%v), want %s", cust, err, b)
			}
		})

		t.Run("alias across two user ids keeps resolving the new one", func(t *testing.T) {
			f := newFixture("ws-alias")
			a := f.ingest(t, `{"type":"page","messageId":"p1","anonymousId":"dev-a","name":"Top"}`)[0]
			f.ingest(t, `{"type":"identify","messageId":"i1","userId":"u-old"}`)
			f.ingest(t, `{"type":"identify","messageId":"i2","anonymousId":"dev-a","userId":"u-new"}`)
			f.ingest(t, `{"type":"alias","messageId":"al","userId":"u-new","previousId":"u-old"}`)
			later := f.ingest(t, `{"type":"track","messageId":"t1","userId":"u-new","event":"Login"}`)[0]
			if later != a {
				t.Errorf("after the alias u-new's events go to %s, want %s", later, a)
			}
			old := f.ingest(t, `{"type":"track","messageId":"t2","userId":"u-old","event":"Login"}`)[0]
			if old != a {
				t.Errorf("after the alias u-old's events go to %s, want %s", old, a)
			}
		})

		t.Run("auto-merge respects rejections, undos and user ids", func(t *testing.T) {
			f := newFixture("ws-auto-rules")
			ids := f.ingest(t, `
				{"type":"identify","messageId":"r1","anonymousId":"a-1","traits":{"name":"中村 一郎","phone":"052-111-2222"}},
				{"type":"identify","messageId":"r2","anonymousId":"a-2","traits":{"name":"中村一郎","phone":"052(111)2222"}},
				{"type":"identify","messageId":"u0","anonymousId":"a-3","traits":{"name":"小林 二郎","phone":"011-333-4444"}},
				{"type":"identify","messageId":"u1","userId":"u-1","traits":{"name":"小林二郎","phone":"011-333-4444"}},
				{"type":"identify","messageId":"u2","userId":"u-2","traits":{"name":"小林 二郎","phone":"０１１-３３３-４４４４"}}`)
			f.scan(t, false)
			for _, sg := range f.pending(t) {
				if slices.Contains([]string{sg.CustomerA, sg.CustomerB}, ids[0]) {
					if _, err := f.dd.Reject(ctx, f.ws, sg.ID); err != nil {
						t.Fatal(err)
					}
				}
			}
			sc := f.scan(t, true)
			if sc.MergesApplied != 1 {
				t.Errorf("auto scan = %+v, want exactly one merge (the anonymous 小林 into one account)", sc)
			}
			if c := f.customer(t, ids[1]); c.ID != ids[1] {
				t.Errorf("the rejected pair was merged: %s is now %s", ids[1], c.ID)
			}
			for _, id := range ids[3:] {
				c := f.customer(t, id)
				n := 0
				for _, k := range c.Identities {
					if k.Kind == identity.UserID {
						n++
					}
				}
				if n != 1 {
					t.Errorf("customer %s holds %d user ids: %v", c.ID, n, c.Identities)
				}
			}
			page, err := f.st.Merges(ctx, f.ws, "", 10, "")
			if err != nil || len(page.Merges) != 1 {
				t.Fatalf("merges = %+v, %v", page, err)
			}
			undone, err := f.dd.Undo(ctx, f.ws, page.Merges[0].ID)
			if err != nil {
				t.Fatal(err)
			}
			f.scan(t, true)
			if c := f.customer(t, undone.MergedIDs[0]); c.ID != undone.MergedIDs[0] {
				t.Errorf("an undone merge was made again: %s is now %s", undone.MergedIDs[0], c.ID)
			}
		})

		t.Run("concurrent starts share one scan", func(t *testing.T) {
			f := newFixture("ws-starts")
			f.ingest(t, `{"type":"identify","messageId":"s1","anonymousId":"s-1","traits":{"name":"山本 花子"}}`)
			ids := make([]string, 4)
			var wg sync.WaitGroup
			for i := range ids {
				wg.Add(1)
				go func() {
					defer wg.Done()
					sc, err := f.dd.StartScan(ctx, f.ws, false)
					if err != nil {
						t.Error(err)
					}
					ids[i] = sc.ID
				}()
			}
			wg.Wait()
			var recorded int
			if err := db.QueryRowContext(ctx, `SELECT COUNT(*) FROM duplicate_scans WHERE workspace_id = $1`, f.ws).Scan(&recorded); err != nil {
				t.Fatal(err)
			}
			// A scan may finish before a later start, which then runs the
			// next one: every id returned was recorded once.
			if distinct := slices.Compact(slices.Sorted(slices.Values(ids))); len(distinct) != recorded {
				t.Errorf("starts returned %v but %d scans were recorded", ids, recorded)
			}
			// Two running scans cannot be recorded, whatever the timing.
			insert := `INSERT INTO duplicate_scans (workspace_id, scan_id, state, phase, auto_merge, create_time, update_time) VALUES ($1, $2, 'running', 'loading', false, 0, 0)`
			if _, err := db.ExecContext(ctx, insert, "ws-two", "scan-1"); err != nil {
				t.Fatal(err)
			}
			if _, err := db.ExecContext(ctx, insert, "ws-two", "scan-2"); !sqldb.IsUniqueViolation(err) {
				t.Errorf("a second running scan: %v, want a unique violation", err)
			}
		})

		t.Run("no scans after close", func(t *testing.T) {
			dd := dedupe.New(store.For[dedupe.Tx](st), c.now, slog.New(slog.NewTextHandler(io.Discard, nil)), func() {})
			dd.Close()
			if _, err := dd.StartScan(ctx, "ws-closed", false); !errors.Is(err, dedupe.ErrClosed) {
				t.Errorf("StartScan after Close: %v, want ErrClosed", err)
			}
		})

		t.Run("concurrent ingestion and merges leave nothing on merged customers", func(t *testing.T) {
			f := newFixture("ws-race")
			for round := range 10 {
				r := strconv.Itoa(round)
				a := f.ingest(t, `{"type":"page","messageId":"a`+r+`","anonymousId":"ra-`+r+`","name":"A"}`)[0]
				b := f.ingest(t, `{"type":"page","messageId":"b`+r+`","anonymousId":"rb-`+r+`","name":"B"}`)[0]
				c := f.ingest(t, `{"type":"page","messageId":"c`+r+`","anonymousId":"rc-`+r+`","name":"C"}`)[0]
				var wg sync.WaitGroup
				for i := range 6 {
					wg.Add(1)
					go func() {
						defer wg.Done()
						id := r + "-" + strconv.Itoa(i)
						msgs := parse(t, `{"type":"page","messageId":"x`+id+`","anonymousId":"rb-`+r+`","name":"X"},
							{"type":"identify","messageId":"y`+id+`","anonymousId":"rb-`+r+`","traits":{"email":"`+id+`@example.jp"}}`)
						if _, err := f.in.Ingest(ctx, f.ws, msgs); err != nil {
							t.Error(err)
						}
					}()
				}
				for _, pair := range [][2]string{{a, b}, {b, c}} {
					wg.Add(1)
					go func() {
						defer wg.Done()
						if _, err := f.dd.Merge(ctx, f.ws, pair[0], pair[1:]); err != nil && !errors.Is(err, conflict.ErrConflict) {
							t.Error(err)
						}
					}()
				}
				wg.Wait()
			}
			for _, q := range []string{
				`SELECT COUNT(*) FROM events e JOIN customers c ON c.workspace_id = e.workspace_id AND c.customer_id = e.customer_id WHERE e.workspace_id = $1 AND c.merged_into <> ''`,
				`SELECT COUNT(*) FROM identities i JOIN customers c ON c.workspace_id = i.workspace_id AND c.customer_id = i.customer_id WHERE i.workspace_id = $1 AND c.merged_into <> ''`,
			} {
				var n int
				if err := db.QueryRowContext(ctx, q, f.ws).Scan(&n); err != nil {
					t.Fatal(err)
				}
				if n != 0 {
					t.Errorf("%d rows left on merged-away customers: %s", n, q)
				}
			}
		})

		t.Run("manual merges undo in reverse order", func(t *testing.T) {
			f := newFixture("ws-manual")
			a := f.ingest(t, `{"type":"page","messageId":"x1","anonymousId":"x-a","name":"A"}`)[0]
			b := f.ingest(t, `{"type":"page","messageId":"x2","anonymousId":"x-b","name":"B"}`)[0]
			c := f.ingest(t, `{"type":"page","messageId":"x3","anonymousId":"x-c","name":"C"}`)[0]
			first, err := f.dd.Merge(ctx, f.ws, b, []string{c})
			if err != nil {
				t.Fatal(err)
			}
			second, err := f.dd.Merge(ctx, f.ws, a, []string{b})
			if err != nil {
				t.Fatal(err)
			}
			if got := f.events(t, c); len(got) != 3 {
				t.Fatalf("after two merges c shows %v", got)
			}
			if _, err := f.dd.Merge(ctx, f.ws, a, []string{c}); !errors.Is(err, conflict.ErrConflict) {
				t.Errorf("merging a merged customer: %v, want conflict", err)
			}
			if _, err := f.dd.Merge(ctx, f.ws, a, []string{"cus_missing"}); !errors.Is(err, customer.ErrNotFound) {
				t.Errorf("merging a missing customer: %v, want not found", err)
			}
			if _, err := f.dd.Undo(ctx, f.ws, first.ID); !errors.Is(err, conflict.ErrConflict) {
				t.Errorf("undoing the first merge while its survivor is merged away: %v, want conflict", err)
			}
			if _, err := f.dd.Undo(ctx, f.ws, second.ID); err != nil {
				t.Fatal(err)
			}
			if got := f.events(t, b); !slices.Equal(got, []string{"x2", "x3"}) {
				t.Errorf("after undoing the second merge b holds %v", got)
			}
			if c := f.customer(t, c); c.ID != b {
				t.Errorf("c resolves to %s, want %s (the first merge still holds)", c.ID, b)
			}
			if _, err := f.dd.Undo(ctx, f.ws, first.ID); err != nil {
				t.Fatal(err)
			}
			for id, want := range map[string]string{a: "x1", b: "x2", c: "x3"} {
				if got := f.events(t, id); !slices.Equal(got, []string{want}) {
					t.Errorf("%s holds %v, want [%s]", id, got, want)
				}
			}
			page, err := f.st.Merges(ctx, f.ws, c, 10, "")
			if err != nil || len(page.Merges) != 1 || page.Merges[0].ID != first.ID {
				t.Errorf("merges of c = %+v, %v", page, err)
			}
			var paged []string
			for token := ""; ; {
				page, err := f.st.Merges(ctx, f.ws, "", 1, token)
				if err != nil {
					t.Fatal(err)
				}
				for _, m := range page.Merges {
					paged = append(paged, m.ID)
				}
				if token = page.NextToken; token == "" {
					break
				}
			}
			if want := []string{second.ID, first.ID}; !slices.Equal(paged, want) {
				t.Errorf("merges one per page = %v, want newest first %v", paged, want)
			}
		})
	})
}
