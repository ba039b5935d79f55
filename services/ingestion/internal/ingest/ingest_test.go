package ingest_test

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"google.golang.org/protobuf/encoding/protojson"

	ingestionv1 "github.com/kizuna/kizuna/gen/kizuna/ingestion/v1"
	"github.com/kizuna/kizuna/services/ingestion/internal/customer"
	"github.com/kizuna/kizuna/services/ingestion/internal/identity"
	"github.com/kizuna/kizuna/services/ingestion/internal/ingest"
	"github.com/kizuna/kizuna/services/ingestion/internal/store"
	"github.com/kizuna/kizuna/services/ingestion/internal/tracking"
	"github.com/kizuna/kizuna/services/platform/sqldb"
	"github.com/kizuna/kizuna/services/platform/sqldb/sqldbtest"
)

var t0 = time.Date(2026, 11, 1, 9, 0, 0, 0, time.UTC)

func messages(t testing.TB, js string) []tracking.Message {
	t.Helper()
	var req ingestionv1.BatchRequest
	if err := protojson.Unmarshal([]byte(js), &req); err != nil {
		t.Fatal(err)
	}
	msgs, err := tracking.ParseBatch(&req, t0)
	if err != nil {
		t.Fatal(err)
	}
	return msgs
}

// TestIngestConformance runs the ingestion store through the real ingest path
// on every backend.
func TestIngestConformance(t *testing.T) {
	sqldbtest.ForEachBackend(t, func(t *testing.T, db *sqldb.DB) {
		ctx := context.Background()
		st, err := store.Open(ctx, db)
		if err != nil {
			t.Fatal(err)
		}
		in := ingest.New(store.For[ingest.Tx](st), func() time.Time { return t0 }, nil)

		t.Run("anonymous visitor who identifies is one customer", func(t *testing.T) {
			res, err := in.Ingest(ctx, "ws1", messages(t, `{"batch":[
				{"type":"page","messageId":"p1","anonymousId":"anon-1","name":"Pricing","timestamp":"2026-10-01T00:00:00Z"},
				{"type":"identify","messageId":"i1","anonymousId":"anon-1","userId":"u-1","traits":{"email":"Hanako@Example.JP","name":"花子"}},
				{"type":"track","messageId":"o1","userId":"u-1","event":"Order Completed","properties":{"order_id":"A-1","revenue":3000,"currency":"JPY"}}
			]}`))
			if err != nil {
				t.Fatal(err)
			}
			if res.Accepted != 3 || res.CustomerIDs[0] != res.CustomerIDs[1] || res.CustomerIDs[1] != res.CustomerIDs[2] {
				t.Fatalf("result = %+v, want 3 accepted for one customer", res)
			}
			c, err := st.Lookup(ctx, "ws1", identity.Key{Kind: identity.Email, Value: "hanako@example.jp"})
			if err != nil {
				t.Fatal(err)
			}
			if c.ID != res.CustomerIDs[0] || c.EventCount != 3 || c.Traits["name"] != "花子" || len(c.Identities) != 3 {
				t.Errorf("customer = %+v", c)
			}
			if !c.FirstSeen.Equal(time.Date(2026, 10, 1, 0, 0, 0, 0, time.UTC)) {
				t.Errorf("first seen = %v", c.FirstSeen)
			}
		})

		t.Run("duplicate message ids are stored once", func(t *testing.T) {
			res, err := in.Ingest(ctx, "ws1", messages(t, `{"batch":[
				{"type":"page","messageId":"p1","anonymousId":"anon-1","name":"Pricing"},
				{"type":"page","messageId":"p2","anonymousId":"anon-1","name":"Pricing"},
				{"type":"page","messageId":"p2","anonymousId":"anon-1","name":"Pricing"}
			]}`))
			if err != nil {
				t.Fatal(err)
			}
			if res.Accepted != 1 || res.Duplicates != 2 {
				t.Errorf("accepted %d duplicates %d, want 1 and 2", res.Accepted, res.Duplicates)
			}
		})

		t.Run("workspaces are isolated", func(t *testing.T) {
			if _, err := st.Lookup(ctx, "ws2", identity.Key{Kind: identity.UserID, Value: "u-1"}); !errors.Is(err, customer.ErrNotFound) {
				t.Errorf("lookup in another workspace: err = %v, want ErrNotFound", err)
			}
			res, err := in.Ingest(ctx, "ws2", messages(t, `{"batch":[{"type":"page","messageId":"p1","anonymousId":"anon-1"}]}`))
			if err != nil || res.Accepted != 1 {
				t.Fatalf("same message id in another workspace: %+v, %v", res, err)
			}
		})

		t.Run("identify joining two customers merges them, old id redirects", func(t *testing.T) {
			a, err := in.Ingest(ctx, "ws1", messages(t, `{"batch":[{"type":"page","messageId":"m-a","anonymousId":"dev-9"}]}`))
			if err != nil {
				t.Fatal(err)
			}
			b, err := in.Ingest(ctx, "ws1", messages(t, `{"batch":[{"type":"identify","messageId":"m-b","userId":"u-9","traits":{"plan":"pro"}}]}`))
			if err != nil {
				t.Fatal(err)
			}
			c, err := in.Ingest(ctx, "ws1", messages(t, `{"batch":[{"type":"identify","messageId":"m-c","userId":"u-9","anonymousId":"dev-9"}]}`))
			if err != nil {
				t.Fatal(err)
			}
			survivor := c.CustomerIDs[0]
			if survivor != a.CustomerIDs[0] {
				t.Errorf("survivor %s, want the older customer %s", survivor, a.CustomerIDs[0])
			}
			got, err := st.Customer(ctx, "ws1", b.CustomerIDs[0])
			if err != nil {
				t.Fatal(err)
			}
			if got.ID != survivor || got.Traits["plan"] != "pro" || got.EventCount != 3 {
				t.Errorf("merged customer read = %+v", got)
			}
			page, err := st.CustomerEvents(ctx, "ws1", survivor, 2, "")
			if err != nil {
				t.Fatal(err)
			}
			if len(page.Events) != 2 || page.NextToken == "" {
				t.Fatalf("page 1 = %d events, token %q", len(page.Events), page.NextToken)
			}
			rest, err := st.CustomerEvents(ctx, "ws1", survivor, 2, page.NextToken)
			if err != nil {
				t.Fatal(err)
			}
			if len(rest.Events) != 1 || rest.NextToken != "" {
				t.Errorf("page 2 = %d events, token %q", len(rest.Events), rest.NextToken)
			}
		})

		t.Run("outbox holds one message per event and merge", func(t *testing.T) {
			out, err := st.PendingOutbox(ctx, 0, 100)
			if err != nil {
				t.Fatal(err)
			}
			kinds := map[string]int{}
			for _, m := range out {
				kinds[m.Kind]++
			}
			// 3 + 1 events in ws1's first two runs, 1 in ws2, 3 in the merge test.
			if kinds[ingest.KindEvent] != 8 || kinds[ingest.KindMerged] != 1 {
				t.Errorf("outbox kinds = %v", kinds)
			}
			seqs := make([]int64, len(out))
			for i, m := range out {
				seqs[i] = m.Seq
			}
			if err := st.DeleteOutbox(ctx, seqs); err != nil {
				t.Fatal(err)
			}
			if out, _ := st.PendingOutbox(ctx, 0, 100); len(out) != 0 {
				t.Errorf("%d rows left after delete", len(out))
			}
		})

		t.Run("batch read follows merges and skips unknown ids", func(t *testing.T) {
			a, err := in.Ingest(ctx, "ws1", messages(t, `{"batch":[{"type":"page","messageId":"x-a","anonymousId":"dev-x"}]}`))
			if err != nil {
				t.Fatal(err)
			}
			b, err := in.Ingest(ctx, "ws1", messages(t, `{"batch":[{"type":"identify","messageId":"x-b","userId":"u-x"}]}`))
			if err != nil {
				t.Fatal(err)
			}
			if _, err := in.Ingest(ctx, "ws1", messages(t, `{"batch":[{"type":"identify","messageId":"x-c","userId":"u-x","anonymousId":"dev-x"}]}`)); err != nil {
				t.Fatal(err)
			}
			hanako, err := st.Lookup(ctx, "ws1", identity.Key{Kind: identity.UserID, Value: "u-1"})
			if err != nil {
				t.Fatal(err)
			}
			got, err := st.Customers(ctx, "ws1", []string{b.CustomerIDs[0], "cus_unknown", hanako.ID, a.CustomerIDs[0]})
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != 3 || got[0].ID != a.CustomerIDs[0] || got[1].ID != hanako.ID || got[2] != got[0] {
				t.Fatalf("Customers = %d profiles %v", len(got), got)
			}
			if len(got[0].Identities) != 2 || len(got[1].Identities) != 3 {
				t.Errorf("identities = %v and %v, want 2 and 3", got[0].Identities, got[1].Identities)
			}
			if other, err := st.Customers(ctx, "ws2", []string{hanako.ID}); err != nil || len(other) != 0 {
				t.Errorf("another workspace's read = %v, %v; want none", other, err)
			}
		})
	})
}

// TestLineUserID resolves LINE user ids on every backend: a LINE follower
// known only by its id becomes the identified user's customer, two
// customers holding a user id and a LINE id merge through the usual merge
// path, and undoing that merge gives the LINE id back.
func TestLineUserID(t *testing.T) {
	sqldbtest.ForEachBackend(t, func(t *testing.T, db *sqldb.DB) {
		ctx := context.Background()
		st, err := store.Open(ctx, db)
		if err != nil {
			t.Fatal(err)
		}
		var tick time.Duration
		in := ingest.New(store.For[ingest.Tx](st), func() time.Time { tick += time.Second; return t0.Add(tick) }, nil)
		ingestOne := func(t *testing.T, js string) string {
			t.Helper()
			res, err := in.Ingest(ctx, "ws1", messages(t, `{"batch":[`+js+`]}`))
			if err != nil {
				t.Fatal(err)
			}
			return res.CustomerIDs[0]
		}
		const lineID = "U4af4980629c0ffee00000000000000ab"
		lookup := func(t *testing.T, kind, value string) *customer.Customer {
			t.Helper()
			c, err := st.Lookup(ctx, "ws1", identity.Key{Kind: kind, Value: value})
			if err != nil {
				t.Fatalf("lookup %s %s: %v", kind, value, err)
			}
			return c
		}

		t.Run("a LINE follower who identifies is one customer", func(t *testing.T) {
			follower := ingestOne(t, `{"type":"track","messageId":"f1","anonymousId":"line:`+lineID+`","event":"LINE Followed"}`)
			taro := ingestOne(t, `{"type":"identify","messageId":"f2","userId":"taro","traits":{"lineUserId":" `+lineID+` ","name":"太郎"}}`)
			if taro != follower {
				t.Fatalf("identify went to %s, the follow to %s", taro, follower)
			}
			c := lookup(t, identity.LineUserID, lineID)
			want := []identity.Key{{Kind: identity.AnonymousID, Value: "line:" + lineID}, {Kind: identity.LineUserID, Value: lineID}, {Kind: identity.UserID, Value: "taro"}}
			if c.ID != follower || c.EventCount != 2 || c.Traits["name"] != "太郎" || !slices.Equal(c.Identities, want) {
				t.Errorf("customer = %+v, want identities %v", c, want)
			}
			// Later LINE events find the customer by the LINE id alone.
			if again := ingestOne(t, `{"type":"track","messageId":"f3","anonymousId":"line:`+lineID+`","event":"LINE Unfollowed"}`); again != follower {
				t.Errorf("a later LINE event went to %s, want %s", again, follower)
			}
		})

		t.Run("bad LINE ids are no identity and no error", func(t *testing.T) {
			long := strings.Repeat("U", tracking.MaxIDLength+1)
			id := ingestOne(t, `{"type":"identify","messageId":"b1","userId":"hanako","traits":{"lineUserId":12345,"line_user_id":"`+long+`"}}`)
			c := lookup(t, identity.UserID, "hanako")
			if c.ID != id || len(c.Identities) != 1 || c.Traits["lineUserId"] != 12345.0 {
				t.Errorf("customer = %+v; want only the user id and the raw trait kept", c)
			}
		})

		t.Run("a user id and a LINE id held by two customers merge, and the merge undoes", func(t *testing.T) {
			jiro := ingestOne(t, `{"type":"identify","messageId":"m1","userId":"jiro","traits":{"plan":"pro"}}`)
			liff := ingestOne(t, `{"type":"identify","messageId":"m2","anonymousId":"liff-1","traits":{"line_user_id":"Ujiro"}}`)
			if liff == jiro {
				t.Fatal("two customers expected before the merge")
			}
			joined := ingestOne(t, `{"type":"identify","messageId":"m3","userId":"jiro","traits":{"lineUserId":"Ujiro"}}`)
			if joined != jiro {
				t.Fatalf("identify went to %s, want the older customer %s", joined, jiro)
			}
			if c := lookup(t, identity.LineUserID, "Ujiro"); c.ID != jiro || c.EventCount != 3 {
				t.Fatalf("after the merge the LINE id is held by %+v", c)
			}
			page, err := st.Merges(ctx, "ws1", liff, 10, "")
			if err != nil || len(page.Merges) != 1 {
				t.Fatalf("merges of %s = %+v, %v", liff, page, err)
			}
			m := page.Merges[0]
			if m.SurvivorID != jiro || !slices.Equal(m.MergedIDs, []string{liff}) || m.Source != customer.SourceResolution {
				t.Errorf("merge = %+v", m)
			}
			// A LINE event after the merge: undo re-resolves it by the LINE
			// id its "line:" anonymous id carries.
			if after := ingestOne(t, `{"type":"track","messageId":"m4","anonymousId":"line:Ujiro","event":"LINE Followed"}`); after != jiro {
				t.Fatalf("LINE event after the merge went to %s, want %s", after, jiro)
			}
			if err := st.InTx(ctx, func(tx *store.Tx) error {
				_, err := ingest.Undo(ctx, tx, "ws1", m.ID, t0.Add(time.Hour))
				return err
			}); err != nil {
				t.Fatal(err)
			}
			if c := lookup(t, identity.LineUserID, "Ujiro"); c.ID != liff || c.EventCount != 2 {
				t.Errorf("after undo the LINE id is held by %+v, want %s with the LINE event", c, liff)
			}
			if c := lookup(t, identity.AnonymousID, "line:Ujiro"); c.ID != liff {
				t.Errorf("after undo the LINE event's anonymous id is held by %s, want %s", c.ID, liff)
			}
			if c := lookup(t, identity.UserID, "jiro"); c.ID != jiro || c.EventCount != 2 {
				t.Errorf("after undo jiro = %+v", c)
			}
			out, err := st.PendingOutbox(ctx, 0, 1000)
			if err != nil {
				t.Fatal(err)
			}
			kinds := map[string]int{}
			for _, o := range out {
				kinds[o.Kind]++
			}
			if kinds[ingest.KindMerged] != 1 || kinds[ingest.KindUnmerged] != 1 {
				t.Errorf("outbox kinds = %v, want one merge and one unmerge", kinds)
			}
		})
	})
}
