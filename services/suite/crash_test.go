package suite_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/kizuna/kizuna/services/platform/sqldb"
)

// TestCrashKeepsAckedEvents kills the kizuna binary with SIGKILL while 16
// clients send batches and single track calls, starts it again on the same
// data directory, and checks that every acknowledged event is stored
// exactly once (the events table's key is the message id, so "once" is
// the count of acked ids found).
func TestCrashKeepsAckedEvents(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the kizuna binary")
	}
	bin := filepath.Join(t.TempDir(), "kizuna")
	build := exec.Command("go", "build", "-o", bin, "./cmd/kizuna")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("build: %v\n%s", err, out)
	}
	dir := t.TempDir()
	addr := freeAddr(t)

	stop := startKizuna(t, bin, dir, addr)
	var (
		mu    sync.Mutex
		acked []string
	)
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	for c := range 16 {
		wg.Go(func() {
			for n := 0; ctx.Err() == nil; n++ {
				ids, body, path := crashLoad(c, n)
				req, _ := http.NewRequestWithContext(ctx, "POST", "http://"+addr+path, strings.NewReader(body))
				req.SetBasicAuth(devKey, "")
				resp, err := http.DefaultClient.Do(req)
				if err != nil {
					continue // killed, or the run is over: not acked
				}
				_, _ = io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				if resp.StatusCode == http.StatusOK {
					mu.Lock()
					acked = append(acked, ids...)
					mu.Unlock()
				}
			}
		})
	}
	time.Sleep(3 * time.Second)
	stop(syscall.SIGKILL)
	cancel()
	wg.Wait()
	if len(acked) == 0 {
		t.Fatal("no call was acknowledged before the kill")
	}

	stop = startKizuna(t, bin, dir, addr)
	stop(syscall.SIGTERM)

	db, err := sqldb.Open(context.Background(), sqldb.Options{URL: "sqlite://" + filepath.Join(dir, "ingestion.db")})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var stored, found int
	total := len(acked)
	if err := db.QueryRow(`SELECT COUNT(*) FROM events`).Scan(&stored); err != nil {
		t.Fatal(err)
	}
	for len(acked) > 0 {
		n := min(len(acked), 500)
		in, args := db.Dialect.InList(1, acked[:n])
		var k int
		if err := db.QueryRow(`SELECT COUNT(*) FROM events WHERE event_id IN (`+in+`)`, args...).Scan(&k); err != nil {
			t.Fatal(err)
		}
		found += k
		acked = acked[n:]
	}
	t.Logf("%d events acked before the kill, %d of them stored; %d stored in all", total, found, stored)
	if found != total {
		t.Fatalf("%d of %d acknowledged events are missing after the crash", total-found, total)
	}
}

// crashLoad returns client c's n-th call: every fourth a 50-event batch,
// else a single track call; message ids are unique per client and call.
func crashLoad(c, n int) (ids []string, body, path string) {
	one := func(i int) (string, string) {
		id := fmt.Sprintf("crash-%d-%d-%d", c, n, i)
		return id, fmt.Sprintf(`{"type":"track","messageId":%q,"userId":"user-%d","event":"Viewed","properties":{"i":%d}}`, id, (c*31+n+i)%200, i)
	}
	if n%4 != 0 {
		id, js := one(0)
		return []string{id}, js, "/v1/track"
	}
	var parts []string
	for i := range 50 {
		id, js := one(i)
		ids, parts = append(ids, id), append(parts, js)
	}
	return ids, `{"batch":[` + strings.Join(parts, ",") + `]}`, "/v1/batch"
}

// startKizuna runs the binary on dir, waits until it is ready and returns
// a function that signals it and waits for it to exit.
func startKizuna(t *testing.T, bin, dir, addr string) func(os.Signal) {
	t.Helper()
	cmd := exec.Command(bin, "--data-dir", dir, "--http-addr", addr, "--dev-api-key", devKey,
		"--ingestion-addr", "127.0.0.1:0", "--segmentation-addr", "127.0.0.1:0", "--metrics-addr", "127.0.0.1:0", "--campaign-addr", "127.0.0.1:0")
	cmd.Stdout, cmd.Stderr = io.Discard, io.Discard
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	var once sync.Once
	stop := func(sig os.Signal) {
		once.Do(func() {
			_ = cmd.Process.Signal(sig)
			_ = cmd.Wait()
		})
	}
	t.Cleanup(func() { stop(syscall.SIGKILL) })
	deadline := time.Now().Add(60 * time.Second)
	for {
		resp, err := http.Get("http://" + addr + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return stop
			}
		}
		if time.Now().After(deadline) {
			t.Fatal("kizuna not ready in 60s")
		}
		time.Sleep(200 * time.Millisecond)
	}
}
