package main

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/kizuna/kizuna/services/platform/bus/bustest"
	"github.com/kizuna/kizuna/services/platform/sqldb"
	"github.com/kizuna/kizuna/services/platform/sqldb/sqldbtest"
	"github.com/kizuna/kizuna/services/platform/testenv"
)

// TestLeaseHandOver kills (SIGKILL: no drain, no lease released) the
// segmentation replica holding the scheduled-work leases — the outbox
// relay that publishes membership changes, and the segment sweep — while a
// second replica runs beside it, against one PostgreSQL and one NATS
// JetStream. The survivor must take both leases over within the lease TTL
// (-lease-ttl, short here), publish the membership changes of the events
// sent after the kill, and every effect must stay exactly-once: each
// customer enters the segment once and gets the segment-entry journey's
// message once.
func TestLeaseHandOver(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary and starts three processes")
	}
	pg, natsURL := testenv.URL(t, sqldbtest.PostgresURLVar), testenv.URL(t, bustest.NATSURLVar)
	bin := build(t)
	id := randomHex(t, 4)
	schemaPrefix, busPrefix := "lease_"+id+"_", "lease"+id
	t.Cleanup(func() { dropDeployment(t, pg, schemaPrefix, natsURL, busPrefix) })
	const key, ttl = "kz_lease_test_key", 2 * time.Second
	env := []string{"KIZUNA_DATABASE_URL=" + pg, "KIZUNA_DATABASE_SCHEMA_PREFIX=" + schemaPrefix, "KIZUNA_NATS_URL=" + natsURL,
		"KIZUNA_BUS_PREFIX=" + busPrefix, "KIZUNA_SERVICE_SECRET=" + randomHex(t, 32), "KIZUNA_SECRET_KEY=" + randomHex(t, 32),
		"KIZUNA_DEV_API_KEY=" + key, "KIZUNA_LOG_LEVEL=error", "KIZUNA_LEASE_TTL=" + ttl.String()}
	ctx := context.Background()
	db, err := sqldb.Open(ctx, sqldb.Options{URL: pg})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	leases := `SELECT name, holder FROM "` + schemaPrefix + `segmentation".kizuna_leases WHERE name IN ('outbox:segmentation', 'segmentation:sweep')`
	// heldBy reports whether process p holds both leases.
	heldBy := func(p *process) bool {
		rows, err := db.QueryContext(ctx, leases)
		if err != nil {
			return false // the table appears with the first lease
		}
		defer rows.Close()
		n := 0
		for rows.Next() {
			var name, holder string
			if err := rows.Scan(&name, &holder); err != nil {
				t.Fatal(err)
			}
			if strings.Contains(holder, fmt.Sprintf("/%d/", p.cmd.Process.Pid)) {
				n++
			}
		}
		return rows.Err() == nil && n == 2
	}

	// The first segmentation replica starts alone and takes both leases;
	// the second cannot take them while the first lives. The rest of the
	// suite calls the second, so it keeps answering after the kill.
	httpAddr, ingAddr, seg1, seg2 := freeAddr(t), freeAddr(t), freeAddr(t), freeAddr(t)
	first := start(t, bin, env, "-services=segmentation", "-ingestion-target", ingAddr, "-segmentation-addr", seg1)
	within(t, 10*time.Second, "the first replica holds the leases", func() bool { return heldBy(first) })
	second := start(t, bin, env, "-services=segmentation", "-ingestion-target", ingAddr, "-segmentation-addr", seg2)
	start(t, bin, env, "-services=ingestion,gateway,metrics,campaign", "-http-addr", httpAddr, "-ingestion-addr", ingAddr,
		"-segmentation-target", seg2, "-metrics-addr", freeAddr(t), "-campaign-addr", freeAddr(t))

	c := &restClient{t: t, base: "http://" + httpAddr, key: key}
	within(t, 30*time.Second, "gateway ready", func() bool { return c.status("GET", "/readyz") == 200 })
	var seg struct{ Segment struct{ SegmentID string } }
	c.call("POST", "/v1/segments", `{"displayName":"Buyers","rule":{"all":[{"event":{"event":"Order Completed","minCount":1,"withinDays":30}}]}}`, &seg)
	sink := newCounter(t)
	var ch struct{ Channel struct{ ChannelID string } }
	c.call("POST", "/v1/channels", fmt.Sprintf(`{"displayName":"Hook","webhook":{"url":%q}}`, sink.URL), &ch)
	var j struct{ Journey struct{ JourneyID string } }
	c.call("POST", "/v1/journeys", fmt.Sprintf(`{"displayName":"Thanks","entry":{"segmentEntered":{"segmentId":%q}},"reentry":"REENTRY_NEVER",
		"steps":[{"id":"hook","send":{"channelId":%q,"text":"thanks"}}]}`, seg.Segment.SegmentID, ch.Channel.ChannelID), &j)
	c.call("POST", "/v1/journeys/"+j.Journey.JourneyID+":activate", "{}", nil)

	// orders sends one order for each of customers [from, to), in
	// concurrent batches of 20.
	orders := func(from, to int) {
		var wg sync.WaitGroup
		for lo := from; lo < to; lo += 20 {
			wg.Go(func() {
				var msgs []string
				for i := lo; i < min(lo+20, to); i++ {
					msgs = append(msgs, fmt.Sprintf(`{"type":"track","messageId":"l-oc-%d","userId":"u%d","event":"Order Completed","properties":{"revenue":%d}}`, i, i, 100+i))
				}
				c.track(`{"batch":[` + strings.Join(msgs, ",") + `]}`)
			})
		}
		wg.Wait()
	}
	const n = 60
	orders(0, n/2)
	within(t, 30*time.Second, "the first half's messages sent", func() bool { return sink.customers() == n/2 })
	if !heldBy(first) {
		t.Fatal("the first replica lost its leases while alive")
	}

	first.kill(t)
	killed := time.Now()
	orders(n/2, n)
	within(t, ttl+15*time.Second, "the second replica holds the leases", func() bool { return heldBy(second) })
	took := time.Since(killed)
	within(t, ttl+15*time.Second, "the second half's messages sent", func() bool { return sink.customers() == n })
	sent := time.Since(killed)
	t.Logf("lease TTL %v: leases taken over %v after the SIGKILL, every message sent after %v", ttl, took.Round(10*time.Millisecond), sent.Round(10*time.Millisecond))
	if took > ttl+5*time.Second {
		t.Errorf("leases taken over %v after the kill, want within the TTL (%v) and a renewal round", took, ttl)
	}

	time.Sleep(time.Second) // late duplicates, if any, arrive now
	if dup := sink.duplicates(); len(dup) != 0 || sink.customers() != n {
		t.Errorf("%d customers messaged, sent twice to %v; want %d customers, each once", sink.customers(), dup, n)
	}
	var size struct{ Segment struct{ Size string } }
	c.call("GET", "/v1/segments/"+seg.Segment.SegmentID, "", &size)
	if size.Segment.Size != fmt.Sprint(n) {
		t.Errorf("segment size %s, want %d", size.Segment.Size, n)
	}
}
