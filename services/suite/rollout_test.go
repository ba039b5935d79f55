package suite_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/sync/errgroup"
	"google.golang.org/grpc"
	"google.golang.org/grpc/resolver"
	"google.golang.org/grpc/resolver/manual"

	"github.com/kizuna/kizuna/services/gateway"
	"github.com/kizuna/kizuna/services/ingestion"
	"github.com/kizuna/kizuna/services/platform/bus"
	"github.com/kizuna/kizuna/services/platform/bus/bustest"
	"github.com/kizuna/kizuna/services/platform/grpcclient"
	"github.com/kizuna/kizuna/services/platform/grpcserver"
	"github.com/kizuna/kizuna/services/platform/sqldb"
	"github.com/kizuna/kizuna/services/platform/sqldb/sqldbtest"
	"github.com/kizuna/kizuna/services/platform/testenv"
)

// TestRollingRestartIngestion restarts each of two ingestion replicas (one
// PostgreSQL schema, one NATS) in turn while clients post batches through
// the gateway without pause, as a Kubernetes rolling update does: no request
// may fail, and every event sent is stored exactly once.
func TestRollingRestartIngestion(t *testing.T) {
	pg, natsURL := testenv.URL(t, sqldbtest.PostgresURLVar), testenv.URL(t, bustest.NATSURLVar)
	id := randomID(t)
	schema, prefix := "roll_"+id+"_ingestion", "roll"+id
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	ctx := context.Background()
	t.Cleanup(func() {
		if db, err := sqldb.Open(ctx, sqldb.Options{URL: pg}); err == nil {
			_, _ = db.ExecContext(ctx, `DROP SCHEMA IF EXISTS `+schema+` CASCADE`)
			db.Close()
		}
		if b, err := bus.Connect(ctx, bus.ConnectOptions{URL: natsURL, Prefix: prefix}); err == nil {
			_ = b.DeleteStreams(ctx)
			b.Close()
		}
	})

	// start runs one ingestion replica on addr, as its binary does, until
	// the returned stop (a SIGTERM) has drained it.
	start := func(addr string) (stop func()) {
		t.Helper()
		rctx, cancel := context.WithCancel(ctx)
		db, err := sqldb.Open(rctx, sqldb.Options{URL: pg, Schema: schema})
		if err != nil {
			t.Fatal(err)
		}
		b, err := bus.Connect(rctx, bus.ConnectOptions{URL: natsURL, Prefix: prefix, Name: "ingestion", Logger: quiet})
		if err != nil {
			t.Fatal(err)
		}
		svc, err := ingestion.New(rctx, ingestion.Options{DB: db, Bus: b, Logger: quiet})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := svc.Bootstrap(rctx, devKey); err != nil {
			t.Fatal(err)
		}
		srv := grpcserver.New(grpcserver.Options{Logger: quiet, Verifier: svc, PublicMethods: ingestion.PublicMethods, Scopes: ingestion.Scopes})
		svc.Register(srv.Server)
		var lis net.Listener
		for range 50 { // the old replica's port may take a moment to free
			if lis, err = net.Listen("tcp", addr); err == nil {
				break
			}
			time.Sleep(20 * time.Millisecond)
		}
		if err != nil {
			t.Fatal(err)
		}
		var g errgroup.Group
		g.Go(func() error { return srv.Serve(rctx, lis) })
		g.Go(func() error { return svc.Run(rctx) })
		return func() {
			cancel()
			if err := g.Wait(); err != nil {
				t.Errorf("replica on %s: %v", addr, err)
			}
			b.Close()
			db.Close()
		}
	}
	addrs := []string{freeAddr(t), freeAddr(t)}
	stops := []func(){start(addrs[0]), start(addrs[1])}
	defer func() {
		for _, stop := range stops {
			stop()
		}
	}()

	// The gateway balances over both replicas, as over a headless Service.
	r := manual.NewBuilderWithScheme("rolling")
	r.InitialState(resolver.State{Addresses: []resolver.Address{{Addr: addrs[0]}, {Addr: addrs[1]}}})
	conn, err := grpcclient.Dial("rolling:///ingestion", grpc.WithResolvers(r))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	unused, err := grpcclient.Dial(freeAddr(t))
	if err != nil {
		t.Fatal(err)
	}
	defer unused.Close()
	// The gateway's log says why a request failed (the dial error).
	gwlog := &syncBuffer{}
	gw, err := gateway.New(ctx, gateway.Options{Ingestion: conn, Segmentation: unused, Metrics: unused, Campaign: unused,
		Logger: slog.New(slog.NewTextHandler(gwlog, &slog.HandlerOptions{Level: slog.LevelWarn}))})
	if err != nil {
		t.Fatal(err)
	}
	web := httptest.NewServer(gw.Handler())
	defer web.Close()

	// Steady load: four clients, batches of five events with unique ids.
	var (
		sent, accepted atomic.Int64
		mu             sync.Mutex
		failures       []string
		done           = make(chan struct{})
		load           sync.WaitGroup
	)
	for w := range 4 {
		load.Go(func() {
			for seq := 0; ; seq++ {
				select {
				case <-done:
					return
				default:
				}
				var events []string
				for i := range 5 {
					events = append(events, fmt.Sprintf(`{"type":"track","messageId":"r-%d-%d-%d","userId":"u-%d","event":"Viewed"}`, w, seq, i, w))
				}
				req, _ := http.NewRequest("POST", web.URL+"/v1/batch", strings.NewReader(`{"batch":[`+strings.Join(events, ",")+`]}`))
				req.SetBasicAuth(devKey, "")
				resp, err := web.Client().Do(req)
				if err != nil {
					mu.Lock()
					failures = append(failures, err.Error())
					mu.Unlock()
					continue
				}
				body, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				var br struct{ Accepted, Duplicates int }
				if resp.StatusCode != http.StatusOK || json.Unmarshal(body, &br) != nil || br.Accepted != 5 {
					mu.Lock()
					failures = append(failures, fmt.Sprintf("%d %s", resp.StatusCode, body))
					mu.Unlock()
					continue
				}
				sent.Add(5)
				accepted.Add(int64(br.Accepted))
			}
		})
	}

	// One replica at a time, a second apart: the pause before the next stop
	// stands for the new pod's readiness and the chart's pre-stop sleep.
	for i, addr := range addrs {
		time.Sleep(time.Second)
		stops[i]()
		stops[i] = start(addr)
	}
	time.Sleep(time.Second)
	close(done)
	load.Wait()

	if len(failures) > 0 {
		t.Errorf("%d requests failed during the rollout, e.g. %s; gateway log:\n%.2000s", len(failures), failures[0], gwlog.String())
	}
	if sent.Load() < 100 {
		t.Fatalf("only %d events sent: the load did not run", sent.Load())
	}
	db, err := sqldb.Open(ctx, sqldb.Options{URL: pg, Schema: schema})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var stored int64
	if err := db.QueryRowContext(ctx, `SELECT COUNT(*) FROM events WHERE event_id LIKE 'r-%'`).Scan(&stored); err != nil {
		t.Fatal(err)
	}
	if stored != sent.Load() || accepted.Load() != sent.Load() {
		t.Errorf("sent %d events, %d accepted, %d stored; want all equal", sent.Load(), accepted.Load(), stored)
	}
	t.Logf("%d events in %d-event batches through two restarts, none failed", sent.Load(), 5)
}

// freeAddr returns a loopback address free at the time of the call.
func freeAddr(t *testing.T) string {
	t.Helper()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer lis.Close()
	return lis.Addr().String()
}

// syncBuffer is a log destination safe for concurrent writers.
type syncBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}
