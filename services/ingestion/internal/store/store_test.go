package store_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/kizuna/kizuna/services/ingestion/internal/conflict"
	"github.com/kizuna/kizuna/services/ingestion/internal/consent"
	"github.com/kizuna/kizuna/services/ingestion/internal/customer"
	"github.com/kizuna/kizuna/services/ingestion/internal/identity"
	"github.com/kizuna/kizuna/services/ingestion/internal/imports"
	"github.com/kizuna/kizuna/services/ingestion/internal/store"
	"github.com/kizuna/kizuna/services/platform/sqldb"
	"github.com/kizuna/kizuna/services/platform/sqldb/sqldbtest"
)

// t0 is the tests' clock: times are whole microseconds, as stored.
var t0 = time.Date(2026, 11, 1, 9, 0, 0, 0, time.UTC)

// TestStore is the store's conformance suite: named cases of the
// behaviours the ingest path, merges and their undo, duplicate
// suggestions, API keys, imports and data rights rely on, run on every
// backend (TestStore/<backend>/<case>). Each case has a workspace of its
// own in one store per backend.
func TestStore(t *testing.T) {
	type testCase struct {
		name string
		run  func(t *testing.T, st *store.Store, ws string)
	}
	sqldbtest.ForEachBackend(t, func(t *testing.T, db *sqldb.DB) {
		st, err := store.Open(context.Background(), db)
		if err != nil {
			t.Fatal(err)
		}
		for i, c := range []testCase{
			{"customer written at commit", customerWrittenAtCommit},
			{"buffered rows read back within the transaction", bufferedRowsReadBack},
			{"counters add up over transactions", countersAddUp},
			{"duplicate event ids found", duplicateEventIDs},
			{"rolled back transaction leaves nothing", rolledBack},
			{"merge moves and undo restores", mergeAndUndo},
			{"merge refusals", mergeRefusals},
			{"stale undo", staleUndo},
			{"undo re-resolves later events", undoReresolves},
			{"suggestions", suggestions},
			{"api keys", func(t *testing.T, st *store.Store, ws string) { apiKeys(t, db, st, ws) }},
			{"workspace settings", workspaceSettings},
			{"erasure and suppression", eraseAndSuppress},
			// One case: outboxInOrder counts the outbox's rows, so no other
			// case may change them meanwhile.
			{"outbox in append order, read by cursor, deleted by runs and by list", func(t *testing.T, st *store.Store, ws string) {
				outboxInOrder(t, st, ws)
				outboxCursorAndDelete(t, st, ws)
			}},
			{"event pages", eventPages},
			{"import lease", importLease},
		} {
			t.Run(c.name, func(t *testing.T) {
				t.Parallel()
				c.run(t, st, fmt.Sprintf("ws_case%d", i))
			})
		}
	})
}

func inTx(t *testing.T, st *store.Store, fn func(ctx context.Context, tx *store.Tx) error) {
	t.Helper()
	ctx := context.Background()
	if err := st.InTx(ctx, func(tx *store.Tx) error { return fn(ctx, tx) }); err != nil {
		t.Fatal(err)
	}
}

// addCustomer stores a customer holding keys, with traits and one event
// per entry of events (event ids), as the ingest path would.
func addCustomer(ctx context.Context, tx *store.Tx, ws, id string, at time.Time, traits map[string]any, keys []identity.Key, events ...string) error {
	if err := tx.CreateCustomer(ctx, ws, id, at, at); err != nil {
		return err
	}
	for _, k := range keys {
		if err := tx.AttachIdentity(ctx, ws, k, id, at); err != nil {
			return err
		}
	}
	for i, ev := range events {
		var tr map[string]any
		if i == 0 {
			tr = traits
		}
		evAt := at.Add(time.Duration(i) * time.Minute)
		if err := tx.Touch(ctx, ws, id, evAt, tr, nil, at); err != nil {
			return err
		}
		if err := tx.InsertEvent(ctx, customer.Event{WorkspaceID: ws, EventID: ev, CustomerID: id, Type: "track", Name: "Viewed", Time: evAt, ReceiveTime: at}); err != nil {
			return err
		}
	}
	return nil
}

func email(v string) identity.Key  { return identity.Key{Kind: identity.Email, Value: v} }
func userID(v string) identity.Key { return identity.Key{Kind: identity.UserID, Value: v} }

func customerWrittenAtCommit(t *testing.T, st *store.Store, ws string) {
	ctx := context.Background()
	inTx(t, st, func(ctx context.Context, tx *store.Tx) error {
		if err := addCustomer(ctx, tx, ws, "cus_a", t0, map[string]any{"name": "山田太郎", "plan": "pro"},
			[]identity.Key{userID("u1"), email("taro@example.jp")}, "ev1", "ev2"); err != nil {
			return err
		}
		return tx.Touch(ctx, ws, "cus_a", t0, nil, []consent.Statement{{Purpose: consent.MarketingEmail, Granted: true, Time: t0, Source: "test"}}, t0)
	})
	c, err := st.Customer(ctx, ws, "cus_a")
	if err != nil {
		t.Fatal(err)
	}
	if c.Traits["name"] != "山田太郎" || c.Traits["plan"] != "pro" {
		t.Errorf("traits = %v", c.Traits)
	}
	if c.EventCount != 3 || !c.FirstSeen.Equal(t0) || !c.LastSeen.Equal(t0.Add(time.Minute)) {
		t.Errorf("counters = %d, %v – %v; want 3, %v – %v", c.EventCount, c.FirstSeen, c.LastSeen, t0, t0.Add(time.Minute))
	}
	if r, ok := c.Consents[consent.MarketingEmail]; !ok || !r.Granted {
		t.Errorf("consents = %v", c.Consents)
	}
	if len(c.Identities) != 2 {
		t.Errorf("identities = %v", c.Identities)
	}
	found, err := st.Lookup(ctx, ws, email("taro@example.jp"))
	if err != nil || found.ID != "cus_a" {
		t.Errorf("Lookup(email) = %v, %v", found, err)
	}
	if _, err := st.Customer(ctx, ws, "cus_unknown"); !errors.Is(err, customer.ErrNotFound) {
		t.Errorf("unknown customer: %v, want ErrNotFound", err)
	}
}

// Rows the write set holds in memory must be what every read within the
// transaction sees.
func bufferedRowsReadBack(t *testing.T, st *store.Store, ws string) {
	inTx(t, st, func(ctx context.Context, tx *store.Tx) error {
		if err := addCustomer(ctx, tx, ws, "cus_b", t0, map[string]any{"name": "佐藤花子"}, []identity.Key{userID("u2"), email("hanako@example.jp")}, "ev_b1"); err != nil {
			return err
		}
		traits, err := tx.CustomerTraits(ctx, ws, []string{"cus_b"})
		if err != nil {
			return err
		}
		if traits["cus_b"]["name"] != "佐藤花子" {
			t.Errorf("CustomerTraits = %v", traits)
		}
		info, err := tx.LiveInfo(ctx, ws, "cus_b")
		if err != nil {
			return err
		}
		if info.ID != "cus_b" || info.UserID != "u2" {
			t.Errorf("LiveInfo = %+v", info)
		}
		if id, err := tx.IdentityCustomer(ctx, ws, email("hanako@example.jp")); err != nil || id != "cus_b" {
			t.Errorf("IdentityCustomer = %q, %v", id, err)
		}
		matches, err := tx.FindIdentities(ctx, ws, []identity.Key{userID("u2")})
		if err != nil {
			return err
		}
		if len(matches) != 1 || matches[0].Customer.ID != "cus_b" || matches[0].Customer.UserID != "u2" {
			t.Errorf("FindIdentities = %+v", matches)
		}
		// A change after the read-back is kept too.
		return tx.Touch(ctx, ws, "cus_b", t0, map[string]any{"plan": "team"}, nil, t0)
	})
	c, err := st.Customer(context.Background(), ws, "cus_b")
	if err != nil {
		t.Fatal(err)
	}
	if c.Traits["name"] != "佐藤花子" || c.Traits["plan"] != "team" || c.EventCount != 2 {
		t.Errorf("customer = %+v", c)
	}
}

func countersAddUp(t *testing.T, st *store.Store, ws string) {
	inTx(t, st, func(ctx context.Context, tx *store.Tx) error {
		return addCustomer(ctx, tx, ws, "cus_c", t0, nil, []identity.Key{userID("u3")}, "ev_c1")
	})
	later, earlier := t0.Add(48*time.Hour), t0.Add(-48*time.Hour)
	inTx(t, st, func(ctx context.Context, tx *store.Tx) error {
		// Counters alone, then traits, then counters alone again: the
		// write set keeps the first aside and folds it into the row the
		// second loads.
		if err := tx.Touch(ctx, ws, "cus_c", later, nil, nil, later); err != nil {
			return err
		}
		if err := tx.Touch(ctx, ws, "cus_c", t0, map[string]any{"rank": "gold"}, nil, later); err != nil {
			return err
		}
		return tx.Touch(ctx, ws, "cus_c", earlier, nil, nil, later)
	})
	inTx(t, st, func(ctx context.Context, tx *store.Tx) error {
		return tx.Touch(ctx, ws, "cus_c", t0, nil, nil, later)
	})
	c, err := st.Customer(context.Background(), ws, "cus_c")
	if err != nil {
		t.Fatal(err)
	}
	if c.EventCount != 5 || !c.FirstSeen.Equal(earlier) || !c.LastSeen.Equal(later) || c.Traits["rank"] != "gold" || !c.UpdateTime.Equal(later) {
		t.Errorf("customer = count %d, seen %v – %v, traits %v, updated %v", c.EventCount, c.FirstSeen, c.LastSeen, c.Traits, c.UpdateTime)
	}
}

func duplicateEventIDs(t *testing.T, st *store.Store, ws string) {
	inTx(t, st, func(ctx context.Context, tx *store.Tx) error {
		return addCustomer(ctx, tx, ws, "cus_d", t0, nil, []identity.Key{userID("u4")}, "ev_d1")
	})
	inTx(t, st, func(ctx context.Context, tx *store.Tx) error {
		if err := tx.Prefetch(ctx, ws, []string{"ev_d1", "ev_d2"}, []identity.Key{userID("u4")}); err != nil {
			return err
		}
		for _, c := range []struct {
			id   string
			want bool
		}{{"ev_d1", true}, {"ev_d2", false}} {
			customer, ok, err := tx.EventCustomer(ctx, ws, c.id)
			if err != nil {
				return err
			}
			if ok != c.want || (ok && customer != "cus_d") {
				t.Errorf("EventCustomer(%s) = %q, %v; want found %v", c.id, customer, ok, c.want)
			}
		}
		// The same id in another workspace is another event.
		_, ok, err := tx.EventCustomer(ctx, ws+"_other", "ev_d1")
		if err != nil || ok {
			t.Errorf("ev_d1 in another workspace: %v, %v", ok, err)
		}
		return nil
	})
}

func rolledBack(t *testing.T, st *store.Store, ws string) {
	ctx := context.Background()
	boom := errors.New("boom")
	err := st.InTx(ctx, func(tx *store.Tx) error {
		if err := addCustomer(ctx, tx, ws, "cus_r", t0, map[string]any{"name": "x"}, []identity.Key{userID("u5")}, "ev_r1"); err != nil {
			return err
		}
		// Read back, so that the rows reach the database before the
		// rollback.
		if _, err := tx.LiveInfo(ctx, ws, "cus_r"); err != nil {
			return err
		}
		return boom
	})
	if !errors.Is(err, boom) {
		t.Fatalf("InTx = %v, want boom", err)
	}
	if _, err := st.Customer(ctx, ws, "cus_r"); !errors.Is(err, customer.ErrNotFound) {
		t.Errorf("customer after rollback: %v", err)
	}
	if _, err := st.Lookup(ctx, ws, userID("u5")); !errors.Is(err, customer.ErrNotFound) {
		t.Errorf("identity after rollback: %v", err)
	}
}

func mergeAndUndo(t *testing.T, st *store.Store, ws string) {
	ctx := context.Background()
	inTx(t, st, func(ctx context.Context, tx *store.Tx) error {
		if err := addCustomer(ctx, tx, ws, "cus_m1", t0, map[string]any{"name": "A"}, []identity.Key{userID("u6")}, "ev_m1"); err != nil {
			return err
		}
		return addCustomer(ctx, tx, ws, "cus_m2", t0.Add(time.Hour), map[string]any{"plan": "pro"}, []identity.Key{email("m2@example.jp")}, "ev_m2", "ev_m3")
	})
	var merged customer.Merge
	inTx(t, st, func(ctx context.Context, tx *store.Tx) error {
		var err error
		merged, err = tx.Merge(ctx, ws, customer.Merge{ID: "mrg_1", SurvivorID: "cus_m1", MergedIDs: []string{"cus_m2"}, Source: customer.SourceManual, Time: t0.Add(2 * time.Hour)})
		return err
	})
	if merged.State != customer.MergeApplied || merged.MovedEvents != 2 {
		t.Errorf("merge = %+v", merged)
	}
	c, err := st.Customer(ctx, ws, "cus_m2")
	if err != nil {
		t.Fatal(err)
	}
	if c.ID != "cus_m1" || c.EventCount != 3 || c.Traits["name"] != "A" || c.Traits["plan"] != "pro" || len(c.Identities) != 2 {
		t.Errorf("merged customer = %+v", c)
	}
	if found, err := st.Lookup(ctx, ws, email("m2@example.jp")); err != nil || found.ID != "cus_m1" {
		t.Errorf("the merged e-mail resolves to %v, %v", found, err)
	}
	inTx(t, st, func(ctx context.Context, tx *store.Tx) error {
		undone, err := tx.Undo(ctx, ws, "mrg_1", t0.Add(3*time.Hour))
		if err != nil {
			return err
		}
		if undone.Merge.State != customer.MergeUndone || len(undone.Restored) != 1 || undone.Restored[0].ID != "cus_m2" {
			t.Errorf("undo = %+v", undone)
		}
		return nil
	})
	for id, want := range map[string]int64{"cus_m1": 1, "cus_m2": 2} {
		c, err := st.Customer(ctx, ws, id)
		if err != nil {
			t.Fatal(err)
		}
		if c.ID != id || c.EventCount != want || len(c.Identities) != 1 {
			t.Errorf("after undo %s = %+v", id, c)
		}
	}
	err = st.InTx(ctx, func(tx *store.Tx) error {
		_, err := tx.Undo(ctx, ws, "mrg_1", t0.Add(4*time.Hour))
		return err
	})
	if !errors.Is(err, conflict.ErrConflict) {
		t.Errorf("second undo: %v, want ErrConflict", err)
	}
}

func eraseAndSuppress(t *testing.T, st *store.Store, ws string) {
	ctx := context.Background()
	keys := []identity.Key{userID("u7"), email("gone@example.jp")}
	inTx(t, st, func(ctx context.Context, tx *store.Tx) error {
		return addCustomer(ctx, tx, ws, "cus_e", t0, map[string]any{"name": "消える人"}, keys, "ev_e1", "ev_e2")
	})
	inTx(t, st, func(ctx context.Context, tx *store.Tx) error {
		n, err := tx.ErasePerson(ctx, ws, []string{"cus_e"}, keys)
		if err != nil {
			return err
		}
		if n < 5 { // the customer, two identities, two events
			t.Errorf("erased %d rows, want at least 5", n)
		}
		return tx.Suppress(ctx, ws, []string{"hash_a", "hash_b"}, "reg_1", t0)
	})
	if _, err := st.Customer(ctx, ws, "cus_e"); !errors.Is(err, customer.ErrNotFound) {
		t.Errorf("customer after erasure: %v", err)
	}
	if _, err := st.Lookup(ctx, ws, keys[1]); !errors.Is(err, customer.ErrNotFound) {
		t.Errorf("identity after erasure: %v", err)
	}
	page, err := st.CustomerEvents(ctx, ws, "cus_e", 10, "")
	if err == nil && len(page.Events) > 0 {
		t.Errorf("events after erasure: %d", len(page.Events))
	}
	got, err := st.SuppressedHashes(ctx, ws, []string{"hash_a", "hash_b", "hash_c"})
	if err != nil {
		t.Fatal(err)
	}
	if !got["hash_a"] || !got["hash_b"] || got["hash_c"] {
		t.Errorf("suppressed = %v", got)
	}
	inTx(t, st, func(ctx context.Context, tx *store.Tx) error {
		n, err := tx.Unsuppress(ctx, ws, []string{"hash_a"})
		if err == nil && n != 1 {
			t.Errorf("unsuppressed %d, want 1", n)
		}
		return err
	})
	if got, err := st.SuppressedHashes(ctx, ws, []string{"hash_a", "hash_b"}); err != nil || got["hash_a"] || !got["hash_b"] {
		t.Errorf("suppressed after unsuppress = %v, %v", got, err)
	}
}

func outboxInOrder(t *testing.T, st *store.Store, ws string) {
	ctx := context.Background()
	inTx(t, st, func(ctx context.Context, tx *store.Tx) error {
		for i := range 3 {
			if err := tx.AppendOutbox(ctx, ws, "event", fmt.Sprintf("msg_%d", i), []byte{byte(i)}, t0); err != nil {
				return err
			}
		}
		return nil
	})
	pending, err := st.PendingOutbox(ctx, 0, 100)
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	var seqs []int64
	for _, m := range pending {
		if m.WorkspaceID == ws {
			ids = append(ids, m.MsgID)
			seqs = append(seqs, m.Seq)
		}
	}
	if !slices.Equal(ids, []string{"msg_0", "msg_1", "msg_2"}) {
		t.Fatalf("pending = %v", ids)
	}
	before, err := st.OutboxBacklog(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := st.DeleteOutbox(ctx, seqs); err != nil {
		t.Fatal(err)
	}
	if after, err := st.OutboxBacklog(ctx); err != nil || after != before-3 {
		t.Errorf("backlog %d → %d (%v), want 3 fewer", before, after, err)
	}
}

// outboxCursorAndDelete: PendingOutbox reads above a cursor, and
// DeleteOutbox removes exactly the given rows, whether they form a few
// runs of consecutive numbers (range deletes) or many (a list).
func outboxCursorAndDelete(t *testing.T, st *store.Store, ws string) {
	ctx := context.Background()
	inTx(t, st, func(ctx context.Context, tx *store.Tx) error {
		for i := range 40 {
			if err := tx.AppendOutbox(ctx, ws, "event", fmt.Sprintf("msg_%d", i), []byte{byte(i)}, t0); err != nil {
				return err
			}
		}
		return nil
	})
	// pending returns the workspace's pending sequence numbers above after.
	pending := func(after int64) []int64 {
		t.Helper()
		msgs, err := st.PendingOutbox(ctx, after, 100000)
		if err != nil {
			t.Fatal(err)
		}
		var seqs []int64
		for _, m := range msgs {
			if m.WorkspaceID == ws {
				seqs = append(seqs, m.Seq)
			}
		}
		return seqs
	}
	all := pending(0)
	if len(all) != 40 {
		t.Fatalf("%d pending rows, want 40", len(all))
	}
	if got := pending(all[9]); !slices.Equal(got, all[10:]) {
		t.Errorf("pending after the 10th = %v, want %v", got, all[10:])
	}
	// deleteAndCheck deletes the rows at the given positions of all.
	left := slices.Clone(all)
	deleteAndCheck := func(positions ...int) {
		t.Helper()
		var seqs []int64
		for _, i := range positions {
			seqs = append(seqs, all[i])
			left = slices.DeleteFunc(left, func(s int64) bool { return s == all[i] })
		}
		if err := st.DeleteOutbox(ctx, seqs); err != nil {
			t.Fatal(err)
		}
		if got := pending(0); !slices.Equal(got, left) {
			t.Fatalf("after deleting %v: pending %v, want %v", seqs, got, left)
		}
	}
	deleteAndCheck(2, 0, 1, 5, 9, 8, 7)                        // a few runs, unsorted
	deleteAndCheck(11, 13, 15, 17, 19, 21, 23, 25, 27, 29, 31) // more runs than ranges are used for
	deleteAndCheck(3, 4, 6, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30, 32, 33, 34, 35, 36, 37, 38, 39)
}

func eventPages(t *testing.T, st *store.Store, ws string) {
	ctx := context.Background()
	inTx(t, st, func(ctx context.Context, tx *store.Tx) error {
		return addCustomer(ctx, tx, ws, "cus_p", t0, nil, []identity.Key{userID("u8")}, "ev_p1", "ev_p2", "ev_p3")
	})
	var all []string
	token := ""
	for pages := 0; ; pages++ {
		if pages > 3 {
			t.Fatal("paging does not end")
		}
		page, err := st.CustomerEvents(ctx, ws, "cus_p", 2, token)
		if err != nil {
			t.Fatal(err)
		}
		if len(page.Events) > 2 {
			t.Fatalf("page of %d, want at most 2", len(page.Events))
		}
		for _, e := range page.Events {
			all = append(all, e.EventID)
		}
		if token = page.NextToken; token == "" {
			break
		}
	}
	slices.Sort(all)
	if !slices.Equal(all, []string{"ev_p1", "ev_p2", "ev_p3"}) {
		t.Errorf("events over pages = %v", all)
	}
	if _, err := st.CustomerEvents(ctx, ws, "cus_p", 2, "not-a-token"); !errors.Is(err, store.ErrBadPageToken) {
		t.Errorf("bad token: %v, want ErrBadPageToken", err)
	}
}

func importLease(t *testing.T, st *store.Store, ws string) {
	ctx := context.Background()
	if err := st.CreateImport(ctx, imports.Import{WorkspaceID: ws, ID: "imp_1", Kind: "customers", Encoding: "utf-8", Mapping: "{}", CreateTime: t0}); err != nil {
		t.Fatal(err)
	}
	if _, err := st.StartImport(ctx, ws, "imp_1", t0); !errors.Is(err, conflict.ErrConflict) {
		t.Errorf("start without a file: %v, want ErrConflict", err)
	}
	if _, err := st.AppendImportChunk(ctx, ws, "imp_1", 0, []byte("user_id\nu1\n"), 1<<20, t0); err != nil {
		t.Fatal(err)
	}
	if _, err := st.StartImport(ctx, ws, "imp_1", t0); err != nil {
		t.Fatal(err)
	}
	lease := time.Minute
	im, ok, err := st.ClaimImport(ctx, "owner_a", t0, t0.Add(lease))
	if err != nil || !ok || im.ID != "imp_1" {
		t.Fatalf("first claim = %v, %v, %v", im.ID, ok, err)
	}
	if _, ok, err := st.ClaimImport(ctx, "owner_b", t0.Add(lease/2), t0.Add(lease/2+lease)); err != nil || ok {
		t.Errorf("claim of a held lease = %v, %v", ok, err)
	}
	progress := imports.ImportProgress{RowsRead: 1, RowsImported: 1}
	if err := st.SaveImportProgress(ctx, ws, "imp_1", "owner_b", progress, nil, t0, t0.Add(lease)); !errors.Is(err, imports.ErrLeaseLost) {
		t.Errorf("progress by a non-holder: %v, want ErrLeaseLost", err)
	}
	later := t0.Add(2 * lease)
	if _, ok, err := st.ClaimImport(ctx, "owner_b", later, later.Add(lease)); err != nil || !ok {
		t.Fatalf("claim of a lapsed lease = %v, %v", ok, err)
	}
	if err := st.SaveImportProgress(ctx, ws, "imp_1", "owner_a", progress, nil, later, later.Add(lease)); !errors.Is(err, imports.ErrLeaseLost) {
		t.Errorf("progress by the old holder: %v, want ErrLeaseLost", err)
	}
	if err := st.SaveImportProgress(ctx, ws, "imp_1", "owner_b", progress, []imports.Rejection{{Line: 3, Reason: "bad", Row: "x"}}, later, later.Add(lease)); err != nil {
		t.Fatal(err)
	}
	rejected, _, err := st.ImportRejections(ctx, ws, "imp_1", 10, "")
	if err != nil || len(rejected) != 1 || rejected[0].Line != 3 {
		t.Errorf("rejections = %+v, %v", rejected, err)
	}
}
