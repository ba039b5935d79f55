package store_test

import (
	"context"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/kizuna/kizuna/services/ingestion/internal/conflict"
	"github.com/kizuna/kizuna/services/ingestion/internal/customer"
	"github.com/kizuna/kizuna/services/ingestion/internal/identity"
	"github.com/kizuna/kizuna/services/ingestion/internal/store"
	"github.com/kizuna/kizuna/services/ingestion/internal/workspace"
	"github.com/kizuna/kizuna/services/platform/auth"
)

func anonID(v string) identity.Key { return identity.Key{Kind: identity.AnonymousID, Value: v} }

// merge records a merge of merged into survivor at at.
func merge(ctx context.Context, st *store.Store, ws, id, survivor string, merged []string, at time.Time) error {
	return st.InTx(ctx, func(tx *store.Tx) error {
		_, err := tx.Merge(ctx, ws, customer.Merge{ID: id, SurvivorID: survivor, MergedIDs: merged, Source: customer.SourceManual, Time: at})
		return err
	})
}

func undo(ctx context.Context, st *store.Store, ws, id string, at time.Time) (customer.Undone, error) {
	var u customer.Undone
	err := st.InTx(ctx, func(tx *store.Tx) error {
		var err error
		u, err = tx.Undo(ctx, ws, id, at)
		return err
	})
	return u, err
}

func mergeRefusals(t *testing.T, st *store.Store, ws string) {
	ctx := context.Background()
	inTx(t, st, func(ctx context.Context, tx *store.Tx) error {
		for _, id := range []string{"cus_r1", "cus_r2", "cus_r3"} {
			if err := addCustomer(ctx, tx, ws, id, t0, nil, []identity.Key{userID("u_" + id)}, "ev_"+id); err != nil {
				return err
			}
		}
		return nil
	})
	if err := merge(ctx, st, ws, "mrg_r1", "cus_r1", []string{"cus_r2"}, t0.Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name     string
		survivor string
		merged   []string
		want     string
	}{
		{"into itself", "cus_r1", []string{"cus_r1"}, "MERGE_INTO_ITSELF"},
		{"a customer merged away", "cus_r3", []string{"cus_r2"}, "CUSTOMER_MERGED"},
		{"into a customer merged away", "cus_r2", []string{"cus_r3"}, "CUSTOMER_MERGED"},
	}
	for _, tt := range tests {
		if err := merge(ctx, st, ws, "mrg_x", tt.survivor, tt.merged, t0.Add(2*time.Hour)); conflict.Reason(err) != tt.want {
			t.Errorf("merge %s: err = %v, want %s", tt.name, err, tt.want)
		}
	}
	if err := merge(ctx, st, ws, "mrg_x", "cus_r1", []string{"cus_missing"}, t0.Add(2*time.Hour)); !errors.Is(err, customer.ErrNotFound) {
		t.Errorf("merge of an unknown customer: err = %v, want ErrNotFound", err)
	}
	if c, err := st.Customer(ctx, ws, "cus_r3"); err != nil || c.ID != "cus_r3" || c.EventCount != 1 {
		t.Errorf("a refused merge changed cus_r3: %+v, %v", c, err)
	}
}

// staleUndo: a merge whose survivor was merged away since cannot be
// undone before that later merge is; a merge undone cannot be undone again.
func staleUndo(t *testing.T, st *store.Store, ws string) {
	ctx := context.Background()
	inTx(t, st, func(ctx context.Context, tx *store.Tx) error {
		for _, id := range []string{"cus_s1", "cus_s2", "cus_s3"} {
			if err := addCustomer(ctx, tx, ws, id, t0, nil, []identity.Key{email(id + "@example.jp")}, "ev_"+id); err != nil {
				return err
			}
		}
		return nil
	})
	if err := merge(ctx, st, ws, "mrg_s1", "cus_s1", []string{"cus_s2"}, t0.Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	if err := merge(ctx, st, ws, "mrg_s2", "cus_s3", []string{"cus_s1"}, t0.Add(2*time.Hour)); err != nil {
		t.Fatal(err)
	}
	if _, err := undo(ctx, st, ws, "mrg_s1", t0.Add(3*time.Hour)); conflict.Reason(err) != "SURVIVOR_MERGED_SINCE" {
		t.Errorf("undo of a merge whose survivor was merged since: err = %v, want SURVIVOR_MERGED_SINCE", err)
	}
	if _, err := undo(ctx, st, ws, "mrg_s2", t0.Add(3*time.Hour)); err != nil {
		t.Fatal(err)
	}
	if _, err := undo(ctx, st, ws, "mrg_s1", t0.Add(4*time.Hour)); err != nil {
		t.Fatalf("undo once the later merge is undone: %v", err)
	}
	if _, err := undo(ctx, st, ws, "mrg_s1", t0.Add(5*time.Hour)); conflict.Reason(err) != "MERGE_ALREADY_UNDONE" {
		t.Errorf("second undo: err = %v, want MERGE_ALREADY_UNDONE", err)
	}
	if _, err := undo(ctx, st, ws, "mrg_none", t0.Add(5*time.Hour)); !errors.Is(err, customer.ErrNotFound) {
		t.Errorf("undo of an unknown merge: err = %v, want ErrNotFound", err)
	}
	for _, id := range []string{"cus_s1", "cus_s2", "cus_s3"} {
		if c, err := st.Customer(ctx, ws, id); err != nil || c.ID != id || c.EventCount != 1 {
			t.Errorf("after both undos %s = %+v, %v", id, c, err)
		}
	}
	m, err := st.Merge(ctx, ws, "mrg_s1")
	if err != nil || m.State != customer.MergeUndone || !m.UndoTime.Equal(t0.Add(4*time.Hour)) {
		t.Errorf("merge record = %+v, %v", m, err)
	}
}

// undoReresolves: an event that reached the survivor after the merge goes
// back with the undo when it carries a restored customer's identity.
func undoReresolves(t *testing.T, st *store.Store, ws string) {
	ctx := context.Background()
	inTx(t, st, func(ctx context.Context, tx *store.Tx) error {
		if err := addCustomer(ctx, tx, ws, "cus_l1", t0, nil, []identity.Key{anonID("a1")}, "ev_l1"); err != nil {
			return err
		}
		return addCustomer(ctx, tx, ws, "cus_l2", t0, nil, []identity.Key{anonID("a2")}, "ev_l2")
	})
	if err := merge(ctx, st, ws, "mrg_l", "cus_l1", []string{"cus_l2"}, t0.Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	inTx(t, st, func(ctx context.Context, tx *store.Tx) error {
		for i, anon := range []string{"a2", "a1"} {
			at := t0.Add(2*time.Hour + time.Duration(i)*time.Minute)
			if err := tx.Touch(ctx, ws, "cus_l1", at, nil, nil, at); err != nil {
				return err
			}
			e := customer.Event{WorkspaceID: ws, EventID: "ev_after_" + anon, CustomerID: "cus_l1", Type: "track", Name: "Viewed", AnonymousID: anon, Time: at, ReceiveTime: at}
			if err := tx.InsertEvent(ctx, e); err != nil {
				return err
			}
		}
		return nil
	})
	u, err := undo(ctx, st, ws, "mrg_l", t0.Add(3*time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	if len(u.Restored) != 1 || !slices.Equal(u.Restored[0].EventIDs, []string{"ev_after_a2", "ev_l2"}) || len(u.Survivor.EventIDs) != 0 {
		t.Errorf("undo = %+v", u)
	}
	for id, want := range map[string]int64{"cus_l1": 2, "cus_l2": 2} {
		if c, err := st.Customer(ctx, ws, id); err != nil || c.EventCount != want {
			t.Errorf("after undo %s = %+v, %v; want %d events", id, c, err, want)
		}
	}
}

func suggestions(t *testing.T, st *store.Store, ws string) {
	ctx := context.Background()
	inTx(t, st, func(ctx context.Context, tx *store.Tx) error {
		for _, s := range []struct {
			sg   customer.Suggestion
			want bool
		}{
			{customer.Suggestion{ID: "sug_1", CustomerA: "cus_b", CustomerB: "cus_a", Score: 0.9, Reasons: []string{"email"}, CreateTime: t0}, true},
			{customer.Suggestion{ID: "sug_again", CustomerA: "cus_a", CustomerB: "cus_b", Score: 0.95, CreateTime: t0}, false},
			{customer.Suggestion{ID: "sug_2", CustomerA: "cus_a", CustomerB: "cus_c", Score: 0.5, Reasons: []string{"name"}, CreateTime: t0}, true},
		} {
			if ok, err := tx.InsertSuggestion(ctx, ws, s.sg); err != nil || ok != s.want {
				t.Errorf("insert %s = %v, %v; want %v", s.sg.ID, ok, err, s.want)
			}
		}
		sg, err := tx.Suggestion(ctx, ws, "sug_1")
		if err != nil || sg.CustomerA != "cus_a" || sg.CustomerB != "cus_b" || sg.State != customer.SuggestionPending || !slices.Equal(sg.Reasons, []string{"email"}) {
			t.Errorf("sug_1 = %+v, %v; want the pair in id order, pending", sg, err)
		}
		if _, err := tx.Suggestion(ctx, ws, "sug_missing"); !errors.Is(err, customer.ErrNotFound) {
			t.Errorf("unknown suggestion: err = %v, want ErrNotFound", err)
		}
		return tx.DecideSuggestion(ctx, ws, "sug_2", customer.SuggestionRejected, "", t0.Add(time.Hour))
	})
	var ids []string
	for token := ""; ; {
		page, err := st.Suggestions(ctx, ws, customer.SuggestionPending, 1, token)
		if err != nil {
			t.Fatal(err)
		}
		for _, s := range page.Suggestions {
			ids = append(ids, s.ID)
		}
		if token = page.NextToken; token == "" {
			break
		}
	}
	if !slices.Equal(ids, []string{"sug_1"}) {
		t.Errorf("pending = %v, want [sug_1]", ids)
	}
	inTx(t, st, func(ctx context.Context, tx *store.Tx) error {
		for _, p := range []struct {
			a, b string
			want bool
		}{{"cus_c", "cus_a", true}, {"cus_a", "cus_b", false}, {"cus_b", "cus_c", false}} {
			if got, err := tx.PairRejected(ctx, ws, p.a, p.b); err != nil || got != p.want {
				t.Errorf("PairRejected(%s, %s) = %v, %v; want %v", p.a, p.b, got, err, p.want)
			}
		}
		return nil
	})
}

func workspaceSettings(t *testing.T, st *store.Store, ws string) {
	ctx := context.Background()
	key := workspace.APIKey{ID: "key_" + ws, DisplayName: "default", Kind: workspace.KeyKindSecret, Scopes: []string{auth.ScopeAdmin}, CreateTime: t0}
	if err := st.CreateWorkspace(ctx, workspace.Workspace{ID: ws, DisplayName: "shop", PhoneRegion: "JP", CreateTime: t0}, key, auth.HashKey("kz_"+ws)); err != nil {
		t.Fatal(err)
	}
	w, err := st.Workspace(ctx, ws)
	if err != nil || w.Timezone != workspace.DefaultTimezone || len(w.FrequencyCaps) != 0 || !w.CreateTime.Equal(t0) {
		t.Errorf("new workspace = %+v, %v; want the defaults", w, err)
	}
	caps := []workspace.FrequencyCap{{Channel: workspace.ChannelEmail, MaxSends: 2, Period: 24 * time.Hour}}
	w, err = st.UpdateWorkspace(ctx, ws, func(w *workspace.Workspace) error {
		w.QuietHours, w.FrequencyCaps, w.EventRetentionDays = workspace.QuietHours{Start: "21:00", End: "08:00"}, caps, 30
		return nil
	})
	if err != nil || w.QuietHours.Start != "21:00" || !slices.Equal(w.FrequencyCaps, caps) || w.EventRetentionDays != 30 || w.DisplayName != "shop" {
		t.Errorf("updated workspace = %+v, %v", w, err)
	}
	refused := errors.New("refused")
	if _, err := st.UpdateWorkspace(ctx, ws, func(w *workspace.Workspace) error { w.DisplayName = "x"; return refused }); !errors.Is(err, refused) {
		t.Errorf("a refused change: err = %v", err)
	}
	if w, err := st.Workspace(ctx, ws); err != nil || w.DisplayName != "shop" {
		t.Errorf("after a refused change = %+v, %v", w, err)
	}
	if _, err := st.Workspace(ctx, ws+"_none"); !errors.Is(err, workspace.ErrNotFound) {
		t.Errorf("unknown workspace: err = %v, want ErrNotFound", err)
	}
}
