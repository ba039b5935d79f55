package store_test

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	campaignv1 "github.com/kizuna/kizuna/gen/kizuna/campaign/v1"
	"github.com/kizuna/kizuna/services/campaign/internal/campaign"
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

// launch launches c as a journey whose one send step is "message".
func launch(t testing.TB, s *store.Store, c campaign.Campaign) (store.Channel, store.Journey) {
	t.Helper()
	ch := store.Channel{WorkspaceID: c.WorkspaceID, ID: "chn_" + c.ID, DisplayName: "Campaign", Type: store.ChannelWebhook,
		Config: `{"url":"https://example.com/hook"}`, CreateTime: t0, UpdateTime: t0}
	j := store.Journey{WorkspaceID: c.WorkspaceID, ID: "jny_" + c.ID, State: store.JourneyActive, EntryKind: store.EntryBroadcast,
		EntryKey: c.SegmentID, Definition: &campaignv1.Journey{DisplayName: c.DisplayName}, CreateTime: t0, UpdateTime: t0, ActivateTime: t0}
	if err := s.LaunchCampaign(context.Background(), c.WorkspaceID, c.ID, ch, j, t0); err != nil {
		t.Fatal(err)
	}
	return ch, j
}

// enrol enters customers into the journey with one pending send each.
func enrol(t testing.TB, s *store.Store, j store.Journey, customers ...string) []store.Send {
	t.Helper()
	var runs []store.Run
	var sends []store.Send
	for _, c := range customers {
		e := store.Entry{WorkspaceID: j.WorkspaceID, ID: "ent_" + j.ID + c, JourneyID: j.ID, CustomerID: c, StepID: "message", Event: "{}", EnterTime: t0}
		sd := store.Send{WorkspaceID: j.WorkspaceID, ID: "snd_" + j.ID + c, JourneyID: j.ID, EntryID: e.ID, CustomerID: c, EntryNumber: 1,
			StepID: "message", ChannelID: "chn_1", ChannelType: store.ChannelWebhook, CreateTime: t0, PlannedTime: t0}
		runs = append(runs, store.Run{Entry: e, StepID: "message", End: store.EntryCompleted, Sends: []store.Send{sd}})
		sends = append(sends, sd)
	}
	if n, err := s.EnrollRuns(context.Background(), t0, runs); err != nil || n != len(customers) {
		t.Fatalf("EnrollRuns = %d, %v", n, err)
	}
	return sends
}

// TestLaunchCampaign checks a launch is all or nothing and happens once,
// and that a campaign's counts, state and deliveries are its journey's
// sends.
func TestLaunchCampaign(t *testing.T) {
	sqldbtest.ForEachBackend(t, func(t *testing.T, db *sqldb.DB) {
		ctx := context.Background()
		s := newStore(t, db)
		var ids seq
		c := createCampaign(t, s, &ids, "ws_a")
		ch, j := launch(t, s, c)
		again := store.Journey{WorkspaceID: "ws_a", ID: "jny_other", State: store.JourneyActive, EntryKind: store.EntryBroadcast,
			Definition: &campaignv1.Journey{}, CreateTime: t0, UpdateTime: t0}
		other := ch
		other.ID = "chn_other"
		if err := s.LaunchCampaign(ctx, "ws_a", c.ID, other, again, t0); !errors.Is(err, campaign.ErrNotDraft) {
			t.Fatalf("second launch = %v, want ErrNotDraft", err)
		}
		if _, err := s.GetChannel(ctx, "ws_a", "chn_other"); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("a lost launch left its channel: %v", err)
		}
		if _, err := s.GetJourney(ctx, "ws_a", "jny_other"); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("a lost launch left its journey: %v", err)
		}
		if err := s.LaunchCampaign(ctx, "ws_b", c.ID, other, again, t0); !errors.Is(err, campaign.ErrNotDraft) {
			t.Errorf("launch from another workspace = %v, want ErrNotDraft", err)
		}

		got, err := s.GetCampaign(ctx, "ws_a", c.ID)
		if err != nil {
			t.Fatal(err)
		}
		// Not enrolled yet: still sending, with nothing to count.
		if got.State != campaign.StateSending || got.JourneyID != j.ID || got.ChannelID != ch.ID || !got.LaunchTime.Equal(t0) || got.Counts != (campaign.Counts{}) {
			t.Errorf("launched campaign = %+v", got)
		}

		sends := enrol(t, s, j, "cus_1", "cus_2", "cus_3", "cus_4")
		if err := s.MarkEnrolled(ctx, "ws_a", j.ID); err != nil {
			t.Fatal(err)
		}
		claims, err := s.ClaimDueSends(ctx, t0, t0.Add(time.Minute), "tok", 10)
		if err != nil || len(claims) != len(sends) {
			t.Fatalf("ClaimDueSends = %d, %v", len(claims), err)
		}
		outcomes := []store.Outcome{
			{Send: claims[0], Status: store.SendSent, Attempted: true, SendTime: t0, Body: "Hi \xff\x00"},
			{Send: claims[1], Status: store.SendFailed, Attempted: true, Error: "HTTP 400 bad \xe3\x81", Body: "Hi"},
			{Send: claims[2], Status: store.SendSkipped, Reason: "NO_PROFILE"},
			{Send: claims[3], Status: store.SendDeferred, PlannedTime: t0.Add(time.Hour)},
		}
		if n, err := s.RecordOutcomes(ctx, outcomes); err != nil || n != 4 {
			t.Fatalf("RecordOutcomes = %d, %v", n, err)
		}
		got, err = s.GetCampaign(ctx, "ws_a", c.ID)
		if err != nil {
			t.Fatal(err)
		}
		if want := (campaign.Counts{Total: 4, Pending: 1, Sent: 1, Failed: 2}); got.State != campaign.StateSending || got.Counts != want {
			t.Errorf("campaign = %s %+v, want sending %+v", got.State, got.Counts, want)
		}

		ds, err := s.ListDeliveries(ctx, "ws_a", c.ID, "", 10)
		if err != nil || len(ds) != 4 {
			t.Fatalf("ListDeliveries = %d, %v", len(ds), err)
		}
		want := []struct {
			status           campaign.DeliveryStatus
			message, lastErr string
		}{
			{campaign.DeliverySent, "Hi \uFFFD\uFFFD", ""},
			{campaign.DeliveryFailed, "Hi", "HTTP 400 bad \uFFFD"},
			{campaign.DeliveryFailed, "", "NO_PROFILE"},
			{campaign.DeliveryPending, "", ""},
		}
		for i, w := range want {
			d := ds[i]
			if d.ID != claims[i].ID || d.CampaignID != c.ID || d.Status != w.status || d.Message != w.message || d.LastError != w.lastErr {
				t.Errorf("delivery %d = %+v, want %s %q %q", i, d, w.status, w.message, w.lastErr)
			}
		}
		if page, err := s.ListDeliveries(ctx, "ws_a", c.ID, ds[1].ID, 1); err != nil || len(page) != 1 || page[0].ID != ds[2].ID {
			t.Errorf("page after %s = %+v, %v", ds[1].ID, page, err)
		}
		if other, err := s.ListDeliveries(ctx, "ws_b", c.ID, "", 10); err != nil || len(other) != 0 {
			t.Errorf("another workspace sees %d deliveries, %v", len(other), err)
		}

		// The deferred send goes out: nothing waits, everyone is enrolled.
		later := t0.Add(time.Hour)
		claims, err = s.ClaimDueSends(ctx, later, later.Add(time.Minute), "tok2", 10)
		if err != nil || len(claims) != 1 {
			t.Fatalf("ClaimDueSends later = %d, %v", len(claims), err)
		}
		if _, err := s.RecordOutcomes(ctx, []store.Outcome{{Send: claims[0], Status: store.SendSent, Attempted: true, SendTime: later}}); err != nil {
			t.Fatal(err)
		}
		if got, err := s.GetCampaign(ctx, "ws_a", c.ID); err != nil || got.State != campaign.StateCompleted || got.Counts.Sent != 2 {
			t.Errorf("campaign after the last send = %+v, %v; want completed with 2 sent", got, err)
		}
		cs, err := s.ListCampaigns(ctx, "ws_a", "", 10)
		if err != nil || len(cs) != 1 || cs[0].State != campaign.StateCompleted || cs[0].Counts.Total != 4 {
			t.Errorf("ListCampaigns = %+v, %v", cs, err)
		}
	})
}

// TestLegacyDeliveriesMigrate checks that deliveries of campaigns launched
// before campaigns ran as journeys survive the migration as sends.
func TestLegacyDeliveriesMigrate(t *testing.T) {
	sqldbtest.ForEachBackend(t, func(t *testing.T, db *sqldb.DB) {
		ctx := context.Background()
		if err := sqldb.Migrate(ctx, db, store.MigrationsBefore("0003")); err != nil {
			t.Fatal(err)
		}
		if _, err := db.ExecContext(ctx, `INSERT INTO campaigns (workspace_id, campaign_id, display_name, segment_id, webhook_url,
			message_template, state, create_time, launch_time) VALUES
			('ws_a', 'cmp_1', 'Old', 'seg_1', 'https://example.com', 'Hi', 'sending', 1, 2),
			('ws_a', 'cmp_2', 'Draft', 'seg_1', 'https://example.com', 'Hi', 'draft', 1, 0)`); err != nil {
			t.Fatal(err)
		}
		if _, err := db.ExecContext(ctx, `INSERT INTO deliveries (workspace_id, delivery_id, campaign_id, customer_id, status, message,
			attempts, last_error, send_time) VALUES
			('ws_a', 'dlv_1', 'cmp_1', 'cus_1', 'sent', 'Hi one', 1, '', 5),
			('ws_a', 'dlv_2', 'cmp_1', 'cus_2', 'pending', 'Hi two', 0, '', 0)`); err != nil {
			t.Fatal(err)
		}
		s := newStore(t, db)
		c, err := s.GetCampaign(ctx, "ws_a", "cmp_1")
		if err != nil || c.State != campaign.StateCompleted || c.Counts != (campaign.Counts{Total: 2, Sent: 1, Failed: 1}) {
			t.Fatalf("migrated campaign = %+v, %v", c, err)
		}
		ds, err := s.ListDeliveries(ctx, "ws_a", "cmp_1", "", 10)
		if err != nil || len(ds) != 2 || ds[0].Message != "Hi one" || ds[0].Status != campaign.DeliverySent ||
			ds[1].Status != campaign.DeliveryFailed || ds[1].LastError == "" {
			t.Errorf("migrated deliveries = %+v, %v", ds, err)
		}
		if d, err := s.GetCampaign(ctx, "ws_a", "cmp_2"); err != nil || d.State != campaign.StateDraft || d.JourneyID != "" {
			t.Errorf("draft after migration = %+v, %v", d, err)
		}
	})
}
