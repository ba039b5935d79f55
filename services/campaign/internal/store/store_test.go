package store_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/kizuna/kizuna/services/campaign/internal/campaign"
	"github.com/kizuna/kizuna/services/campaign/internal/dispatch"
	"github.com/kizuna/kizuna/services/campaign/internal/store"
	"github.com/kizuna/kizuna/services/platform/sqldb"
	"github.com/kizuna/kizuna/services/platform/sqldb/sqldbtest"
)

// The conformance suite: every test runs on SQLite and, when configured,
// PostgreSQL, against the one store implementation.

var t0 = time.Date(2026, 11, 23, 10, 0, 0, 0, time.UTC)

func newStore(t testing.TB, db *sqldb.DB) *store.Store {
	t.Helper()
	ctx := context.Background()
	s, err := store.New(ctx, db)
	if err != nil {
		t.Fatal(err)
	}
	// Migrating again must be a no-op (replicas start concurrently).
	if _, err := store.New(ctx, db); err != nil {
		t.Fatalf("second migration: %v", err)
	}
	return s
}

// seq makes ids that sort in creation order, like UUIDv7.
type seq struct{ n int }

func (s *seq) id(prefix string) string {
	s.n++
	return fmt.Sprintf("%s%08d", prefix, s.n)
}

func createCampaign(t testing.TB, s *store.Store, ids *seq, ws string) campaign.Campaign {
	t.Helper()
	c := campaign.Campaign{
		WorkspaceID:     ws,
		ID:              ids.id(campaign.CampaignIDPrefix),
		DisplayName:     "Spring sale",
		SegmentID:       "seg_1",
		WebhookURL:      "https://example.com/hook",
		MessageTemplate: "Hi {{ customer.customer_id }}",
		State:           campaign.StateDraft,
		CreateTime:      t0,
	}
	if err := s.CreateCampaign(context.Background(), c); err != nil {
		t.Fatal(err)
	}
	return c
}

func pendingDeliveries(ids *seq, customers ...string) []campaign.Delivery {
	ds := make([]campaign.Delivery, len(customers))
	for i, c := range customers {
		ds[i] = campaign.Delivery{ID: ids.id(campaign.DeliveryIDPrefix), CustomerID: c, Status: campaign.DeliveryPending, Message: "Hi " + c}
	}
	return ds
}

// launch inserts pending deliveries for customers and marks c sending.
func launch(t testing.TB, s *store.Store, ids *seq, c campaign.Campaign, customers ...string) {
	t.Helper()
	ctx := context.Background()
	if err := s.InsertDeliveries(ctx, c.WorkspaceID, c.ID, pendingDeliveries(ids, customers...)); err != nil {
		t.Fatal(err)
	}
	if err := s.MarkSending(ctx, c.WorkspaceID, c.ID, t0); err != nil {
		t.Fatal(err)
	}
}

func TestCampaigns(t *testing.T) {
	sqldbtest.ForEachBackend(t, func(t *testing.T, db *sqldb.DB) {
		ctx := context.Background()
		s := newStore(t, db)
		var ids seq
		a1 := createCampaign(t, s, &ids, "ws_a")
		b1 := createCampaign(t, s, &ids, "ws_b")
		a2 := createCampaign(t, s, &ids, "ws_a")
		a3 := createCampaign(t, s, &ids, "ws_a")

		got, err := s.GetCampaign(ctx, "ws_a", a1.ID)
		if err != nil {
			t.Fatal(err)
		}
		if got != a1 {
			t.Errorf("GetCampaign = %+v, want %+v", got, a1)
		}
		if got, err := s.LookupCampaign(ctx, "ws_a", a1.ID); err != nil || got != a1 {
			t.Errorf("LookupCampaign = %+v, %v; want %+v", got, err, a1)
		}

		notFound := []struct{ name, ws, id string }{
			{name: "other workspace", ws: "ws_b", id: a1.ID},
			{name: "unknown id", ws: "ws_a", id: "cmp_nope"},
		}
		for _, tt := range notFound {
			t.Run(tt.name, func(t *testing.T) {
				if _, err := s.GetCampaign(ctx, tt.ws, tt.id); !errors.Is(err, campaign.ErrNotFound) {
					t.Errorf("GetCampaign(%s, %s) = %v, want ErrNotFound", tt.ws, tt.id, err)
				}
				if _, err := s.LookupCampaign(ctx, tt.ws, tt.id); !errors.Is(err, campaign.ErrNotFound) {
					t.Errorf("LookupCampaign(%s, %s) = %v, want ErrNotFound", tt.ws, tt.id, err)
				}
			})
		}

		pages := []struct {
			name  string
			ws    string
			after string
			limit int
			want  []string
		}{
			{name: "first page newest first", ws: "ws_a", limit: 2, want: []string{a3.ID, a2.ID}},
			{name: "next page", ws: "ws_a", after: a2.ID, limit: 2, want: []string{a1.ID}},
			{name: "past the end", ws: "ws_a", after: a1.ID, limit: 2, want: nil},
			{name: "other workspace", ws: "ws_b", limit: 10, want: []string{b1.ID}},
			{name: "empty workspace", ws: "ws_c", limit: 10, want: nil},
		}
		for _, tt := range pages {
			t.Run(tt.name, func(t *testing.T) {
				cs, err := s.ListCampaigns(ctx, tt.ws, tt.after, tt.limit)
				if err != nil {
					t.Fatal(err)
				}
				var gotIDs []string
				for _, c := range cs {
					gotIDs = append(gotIDs, c.ID)
				}
				if fmt.Sprint(gotIDs) != fmt.Sprint(tt.want) {
					t.Errorf("ListCampaigns = %v, want %v", gotIDs, tt.want)
				}
			})
		}
	})
}

func TestDeliveriesAndCounts(t *testing.T) {
	sqldbtest.ForEachBackend(t, func(t *testing.T, db *sqldb.DB) {
		ctx := context.Background()
		s := newStore(t, db)
		var ids seq
		c := createCampaign(t, s, &ids, "ws_a")
		other := createCampaign(t, s, &ids, "ws_b")

		first := pendingDeliveries(&ids, "cus_1", "cus_2")
		first[1].Status, first[1].LastError = campaign.DeliveryFailed, "render message: boom"
		if err := s.InsertDeliveries(ctx, "ws_a", c.ID, first); err != nil {
			t.Fatal(err)
		}
		// A retried launch re-inserts cus_2 with a new id: ignored.
		if err := s.InsertDeliveries(ctx, "ws_a", c.ID, pendingDeliveries(&ids, "cus_2", "cus_3")); err != nil {
			t.Fatal(err)
		}
		// A workspace cannot add deliveries to another's campaign.
		if err := s.InsertDeliveries(ctx, "ws_b", c.ID, pendingDeliveries(&ids, "cus_9")); !errors.Is(err, campaign.ErrNotDraft) {
			t.Errorf("InsertDeliveries into another workspace's campaign = %v, want ErrNotDraft", err)
		}
		if err := s.MarkSending(ctx, "ws_a", c.ID, t0.Add(time.Minute)); err != nil {
			t.Fatal(err)
		}
		if err := s.InsertDeliveries(ctx, "ws_a", c.ID, pendingDeliveries(&ids, "cus_4")); !errors.Is(err, campaign.ErrNotDraft) {
			t.Errorf("InsertDeliveries after MarkSending = %v, want ErrNotDraft", err)
		}
		// MarkSending again must not move the launch time.
		if err := s.MarkSending(ctx, "ws_a", c.ID, t0.Add(time.Hour)); err != nil {
			t.Fatal(err)
		}

		got, err := s.GetCampaign(ctx, "ws_a", c.ID)
		if err != nil {
			t.Fatal(err)
		}
		wantCounts := campaign.Counts{Total: 3, Pending: 2, Failed: 1}
		if got.State != campaign.StateSending || got.Counts != wantCounts || !got.LaunchTime.Equal(t0.Add(time.Minute)) {
			t.Errorf("campaign = state %s counts %+v launch %v; want sending %+v %v", got.State, got.Counts, got.LaunchTime, wantCounts, t0.Add(time.Minute))
		}
		cs, err := s.ListCampaigns(ctx, "ws_a", "", 10)
		if err != nil || len(cs) != 1 || cs[0].Counts != wantCounts {
			t.Errorf("ListCampaigns = %+v, %v; want counts %+v", cs, err, wantCounts)
		}

		pages := []struct {
			name      string
			ws        string
			campaign  string
			after     string
			limit     int
			customers []string
		}{
			{name: "all", ws: "ws_a", campaign: c.ID, limit: 10, customers: []string{"cus_1", "cus_2", "cus_3"}},
			{name: "first page", ws: "ws_a", campaign: c.ID, limit: 2, customers: []string{"cus_1", "cus_2"}},
			{name: "second page", ws: "ws_a", campaign: c.ID, after: first[1].ID, limit: 2, customers: []string{"cus_3"}},
			{name: "other workspace sees none", ws: "ws_b", campaign: c.ID, limit: 10},
			{name: "campaign without deliveries", ws: "ws_b", campaign: other.ID, limit: 10},
		}
		for _, tt := range pages {
			t.Run(tt.name, func(t *testing.T) {
				ds, err := s.ListDeliveries(ctx, tt.ws, tt.campaign, tt.after, tt.limit)
				if err != nil {
					t.Fatal(err)
				}
				var customers []string
				for _, d := range ds {
					customers = append(customers, d.CustomerID)
				}
				if fmt.Sprint(customers) != fmt.Sprint(tt.customers) {
					t.Errorf("ListDeliveries customers = %v, want %v", customers, tt.customers)
				}
			})
		}
		ds, err := s.ListDeliveries(ctx, "ws_a", c.ID, "", 10)
		if err != nil {
			t.Fatal(err)
		}
		want := campaign.Delivery{WorkspaceID: "ws_a", ID: first[1].ID, CampaignID: c.ID, CustomerID: "cus_2",
			Status: campaign.DeliveryFailed, LastError: "render message: boom", Message: "Hi cus_2"}
		if ds[1] != want {
			t.Errorf("delivery = %+v, want %+v", ds[1], want)
		}
	})
}

func TestClaimAndRecord(t *testing.T) {
	sqldbtest.ForEachBackend(t, func(t *testing.T, db *sqldb.DB) {
		ctx := context.Background()
		s := newStore(t, db)
		var ids seq
		draft := createCampaign(t, s, &ids, "ws_a")
		if err := s.InsertDeliveries(ctx, "ws_a", draft.ID, pendingDeliveries(&ids, "cus_d")); err != nil {
			t.Fatal(err)
		}
		c := createCampaign(t, s, &ids, "ws_a")
		launch(t, s, &ids, c, "cus_1", "cus_2")
		lease := time.Minute

		claims, err := s.ClaimDue(ctx, t0, t0.Add(lease), "tok1", 10)
		if err != nil {
			t.Fatal(err)
		}
		if len(claims) != 2 {
			t.Fatalf("claimed %d deliveries, want the 2 of the sending campaign (not the draft's)", len(claims))
		}
		for _, cl := range claims {
			if cl.WebhookURL != c.WebhookURL || cl.LeaseToken != "tok1" || cl.CampaignID != c.ID || cl.WorkspaceID != "ws_a" {
				t.Errorf("claim = %+v", cl)
			}
		}
		if again, err := s.ClaimDue(ctx, t0.Add(lease/2), t0.Add(2*lease), "tok2", 10); err != nil || len(again) != 0 {
			t.Fatalf("claim while leased = %d, %v; want none", len(again), err)
		}

		// The first is retried later, the second sent.
		retryAt := t0.Add(10 * time.Second)
		steps := []struct {
			name    string
			claim   dispatch.Claim
			outcome dispatch.Outcome
			want    bool
		}{
			{
				name:    "retry",
				claim:   claims[0],
				outcome: dispatch.Outcome{Status: campaign.DeliveryPending, ResponseCode: 500, LastError: "HTTP 500", RetryAt: retryAt},
				want:    true,
			},
			{
				name:    "sent",
				claim:   claims[1],
				outcome: dispatch.Outcome{Status: campaign.DeliverySent, ResponseCode: 200, SendTime: t0.Add(time.Second)},
				want:    true,
			},
			{
				name:    "stale lease is refused",
				claim:   claims[1],
				outcome: dispatch.Outcome{Status: campaign.DeliveryFailed, ResponseCode: 400},
				want:    false,
			},
		}
		for _, st := range steps {
			ok, err := s.Record(ctx, st.claim, st.outcome)
			if err != nil || ok != st.want {
				t.Fatalf("%s: Record = %v, %v; want %v", st.name, ok, err, st.want)
			}
		}
		if early, err := s.ClaimDue(ctx, retryAt.Add(-time.Microsecond), retryAt.Add(lease), "tok3", 10); err != nil || len(early) != 0 {
			t.Fatalf("claim before retry time = %d, %v; want none", len(early), err)
		}
		if n, err := s.CompleteCampaigns(ctx); err != nil || n != 0 {
			t.Fatalf("CompleteCampaigns with a pending delivery = %d, %v; want 0", n, err)
		}
		retry, err := s.ClaimDue(ctx, retryAt, retryAt.Add(lease), "tok4", 10)
		if err != nil || len(retry) != 1 || retry[0].CustomerID != claims[0].CustomerID || retry[0].Attempts != 1 {
			t.Fatalf("claim at retry time = %+v, %v; want the retried delivery with 1 attempt", retry, err)
		}
		// An expired lease is claimable again, and then the old one is dead.
		expired, err := s.ClaimDue(ctx, retryAt.Add(lease), retryAt.Add(2*lease), "tok5", 10)
		if err != nil || len(expired) != 1 {
			t.Fatalf("claim after lease expiry = %d, %v; want 1", len(expired), err)
		}
		if ok, err := s.Record(ctx, retry[0], dispatch.Outcome{Status: campaign.DeliverySent}); err != nil || ok {
			t.Fatalf("Record on an expired lease = %v, %v; want false", ok, err)
		}
		if ok, err := s.Record(ctx, expired[0], dispatch.Outcome{Status: campaign.DeliveryFailed, ResponseCode: 503, LastError: "HTTP 503"}); err != nil || !ok {
			t.Fatalf("Record = %v, %v; want true", ok, err)
		}

		if n, err := s.CompleteCampaigns(ctx); err != nil || n != 1 {
			t.Fatalf("CompleteCampaigns = %d, %v; want 1", n, err)
		}
		got, err := s.GetCampaign(ctx, "ws_a", c.ID)
		if err != nil {
			t.Fatal(err)
		}
		if want := (campaign.Counts{Total: 2, Sent: 1, Failed: 1}); got.State != campaign.StateCompleted || got.Counts != want {
			t.Errorf("campaign = %s %+v, want completed %+v", got.State, got.Counts, want)
		}
		if d, err := s.GetCampaign(ctx, "ws_a", draft.ID); err != nil || d.State != campaign.StateDraft {
			t.Errorf("draft campaign = %s, %v; want untouched", d.State, err)
		}
		ds, err := s.ListDeliveries(ctx, "ws_a", c.ID, "", 10)
		if err != nil {
			t.Fatal(err)
		}
		byCustomer := map[string]campaign.Delivery{}
		for _, d := range ds {
			byCustomer[d.CustomerID] = d
		}
		if d := byCustomer[claims[0].CustomerID]; d.Status != campaign.DeliveryFailed || d.Attempts != 2 || d.ResponseCode != 503 || d.LastError != "HTTP 503" {
			t.Errorf("retried delivery = %+v", d)
		}
		if d := byCustomer[claims[1].CustomerID]; d.Status != campaign.DeliverySent || d.Attempts != 1 || !d.SendTime.Equal(t0.Add(time.Second)) {
			t.Errorf("sent delivery = %+v", d)
		}
	})
}

// TestClaimConcurrent checks that concurrent claimers (replicas) never
// receive the same delivery while its lease holds.
func TestClaimConcurrent(t *testing.T) {
	sqldbtest.ForEachBackend(t, func(t *testing.T, db *sqldb.DB) {
		ctx := context.Background()
		s := newStore(t, db)
		var ids seq
		c := createCampaign(t, s, &ids, "ws_a")
		const members = 200
		customers := make([]string, members)
		for i := range customers {
			customers[i] = fmt.Sprintf("cus_%03d", i)
		}
		launch(t, s, &ids, c, customers...)

		var (
			mu      sync.Mutex
			claimed = map[string]int{}
			wg      sync.WaitGroup
			errs    = make(chan error, 8)
		)
		for w := range 8 {
			wg.Go(func() {
				for {
					cs, err := s.ClaimDue(ctx, t0, t0.Add(time.Hour), fmt.Sprintf("tok%d", w), 7)
					if err != nil {
						errs <- err
						return
					}
					if len(cs) == 0 {
						return
					}
					mu.Lock()
					for _, cl := range cs {
						claimed[cl.CustomerID]++
					}
					mu.Unlock()
				}
			})
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Fatal(err)
		}
		if len(claimed) != members {
			t.Errorf("claimed %d distinct deliveries, want %d", len(claimed), members)
		}
		for customer, n := range claimed {
			if n != 1 {
				t.Errorf("%s claimed %d times", customer, n)
			}
		}
	})
}

// TestConcurrentLaunches checks that racing launches give each member one
// delivery.
func TestConcurrentLaunches(t *testing.T) {
	sqldbtest.ForEachBackend(t, func(t *testing.T, db *sqldb.DB) {
		ctx := context.Background()
		s := newStore(t, db)
		var ids seq
		c := createCampaign(t, s, &ids, "ws_a")
		var wg sync.WaitGroup
		errs := make(chan error, 4)
		batches := make([][]campaign.Delivery, 4)
		for i := range batches {
			batches[i] = pendingDeliveries(&ids, "cus_1", "cus_2", "cus_3")
		}
		for _, b := range batches {
			wg.Go(func() {
				err := s.InsertDeliveries(ctx, "ws_a", c.ID, b)
				if err == nil {
					err = s.MarkSending(ctx, "ws_a", c.ID, t0)
				}
				if errors.Is(err, campaign.ErrNotDraft) {
					err = nil
				}
				errs <- err
			})
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			if err != nil {
				t.Fatal(err)
			}
		}
		got, err := s.GetCampaign(ctx, "ws_a", c.ID)
		if err != nil {
			t.Fatal(err)
		}
		if got.Counts.Total != 3 || got.State != campaign.StateSending {
			t.Errorf("campaign = %s with %d deliveries, want sending with 3", got.State, got.Counts.Total)
		}
	})
}

func TestPublishOutbox(t *testing.T) {
	sqldbtest.ForEachBackend(t, func(t *testing.T, db *sqldb.DB) {
		ctx := context.Background()
		s := newStore(t, db)
		var ids seq
		a := createCampaign(t, s, &ids, "ws_a")
		b := createCampaign(t, s, &ids, "ws_b")
		launch(t, s, &ids, a, "cus_1", "cus_2")
		launch(t, s, &ids, b, "cus_3")
		claims, err := s.ClaimDue(ctx, t0, t0.Add(time.Minute), "tok", 10)
		if err != nil || len(claims) != 3 {
			t.Fatalf("ClaimDue = %d, %v", len(claims), err)
		}
		for _, cl := range claims {
			if cl.CustomerID == "cus_2" {
				continue // stays pending
			}
			if ok, err := s.Record(ctx, cl, dispatch.Outcome{Status: campaign.DeliverySent, ResponseCode: 204, SendTime: t0}); err != nil || !ok {
				t.Fatalf("Record = %v, %v", ok, err)
			}
		}
		fs, err := s.Unpublished(ctx, 10)
		if err != nil {
			t.Fatal(err)
		}
		if len(fs) != 2 {
			t.Fatalf("Unpublished = %d rows, want the 2 final ones", len(fs))
		}
		for _, f := range fs {
			if f.SegmentID != "seg_1" || f.Status != campaign.DeliverySent || f.ResponseCode != 204 {
				t.Errorf("final = %+v", f)
			}
		}
		if one, err := s.Unpublished(ctx, 1); err != nil || len(one) != 1 {
			t.Errorf("Unpublished(limit 1) = %d, %v", len(one), err)
		}
		// Marking in the wrong workspace does nothing.
		wrong := fs[0]
		wrong.WorkspaceID = "ws_other"
		if err := s.MarkPublished(ctx, []dispatch.Final{wrong}); err != nil {
			t.Fatal(err)
		}
		if still, err := s.Unpublished(ctx, 10); err != nil || len(still) != 2 {
			t.Errorf("Unpublished after marking in another workspace = %d, %v; want 2", len(still), err)
		}
		if err := s.MarkPublished(ctx, fs); err != nil {
			t.Fatal(err)
		}
		if left, err := s.Unpublished(ctx, 10); err != nil || len(left) != 0 {
			t.Errorf("Unpublished after marking = %d, %v; want 0", len(left), err)
		}
	})
}

// TestPublishOutboxBatches checks MarkPublished over more outcomes than one
// UPDATE takes.
func TestPublishOutboxBatches(t *testing.T) {
	sqldbtest.ForEachBackend(t, func(t *testing.T, db *sqldb.DB) {
		ctx := context.Background()
		s := newStore(t, db)
		var ids seq
		c := createCampaign(t, s, &ids, "ws_a")
		const members = 250
		customers := make([]string, members)
		for i := range customers {
			customers[i] = fmt.Sprintf("cus_%03d", i)
		}
		launch(t, s, &ids, c, customers...)
		claims, err := s.ClaimDue(ctx, t0, t0.Add(time.Minute), "tok", members)
		if err != nil || len(claims) != members {
			t.Fatalf("ClaimDue = %d, %v", len(claims), err)
		}
		for _, cl := range claims {
			if ok, err := s.Record(ctx, cl, dispatch.Outcome{Status: campaign.DeliveryFailed, ResponseCode: 400}); err != nil || !ok {
				t.Fatalf("Record = %v, %v", ok, err)
			}
		}
		fs, err := s.Unpublished(ctx, members)
		if err != nil || len(fs) != members {
			t.Fatalf("Unpublished = %d, %v; want %d", len(fs), err, members)
		}
		if err := s.MarkPublished(ctx, fs[:members-1]); err != nil {
			t.Fatal(err)
		}
		left, err := s.Unpublished(ctx, members)
		if err != nil || len(left) != 1 || left[0].ID != fs[members-1].ID {
			t.Errorf("Unpublished after marking all but the last = %+v, %v; want the last", left, err)
		}
		if err := s.MarkPublished(ctx, nil); err != nil {
			t.Errorf("MarkPublished(nil) = %v", err)
		}
	})
}

// TestStorableText checks that text the store did not produce (a rendered
// message, a webhook's answer) is stored with invalid UTF-8 and NUL
// replaced, which PostgreSQL would otherwise reject.
func TestStorableText(t *testing.T) {
	sqldbtest.ForEachBackend(t, func(t *testing.T, db *sqldb.DB) {
		ctx := context.Background()
		s := newStore(t, db)
		var ids seq
		c := createCampaign(t, s, &ids, "ws_a")
		ds := pendingDeliveries(&ids, "cus_1", "cus_2")
		ds[0].Message = "Hi \xff\x00"
		ds[1].Status, ds[1].LastError = campaign.DeliveryFailed, "render message: bad \xe3\x81"
		if err := s.InsertDeliveries(ctx, "ws_a", c.ID, ds); err != nil {
			t.Fatal(err)
		}
		if err := s.MarkSending(ctx, "ws_a", c.ID, t0); err != nil {
			t.Fatal(err)
		}
		claims, err := s.ClaimDue(ctx, t0, t0.Add(time.Minute), "tok", 10)
		if err != nil || len(claims) != 1 {
			t.Fatalf("ClaimDue = %d, %v", len(claims), err)
		}
		if ok, err := s.Record(ctx, claims[0], dispatch.Outcome{Status: campaign.DeliveryFailed, LastError: "bad \xff\x00"}); err != nil || !ok {
			t.Fatalf("Record = %v, %v", ok, err)
		}
		got, err := s.ListDeliveries(ctx, "ws_a", c.ID, "", 10)
		if err != nil || len(got) != 2 {
			t.Fatalf("ListDeliveries = %d, %v", len(got), err)
		}
		want := []struct{ message, lastError string }{
			{message: "Hi \uFFFD\uFFFD", lastError: "bad \uFFFD\uFFFD"},
			{message: "Hi cus_2", lastError: "render message: bad \uFFFD"},
		}
		for i, w := range want {
			if got[i].Message != w.message || got[i].LastError != w.lastError {
				t.Errorf("delivery %d: message %q, last error %q; want %q, %q", i, got[i].Message, got[i].LastError, w.message, w.lastError)
			}
		}
	})
}
