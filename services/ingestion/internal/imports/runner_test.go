package imports_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/kizuna/kizuna/services/ingestion/internal/conflict"
	"github.com/kizuna/kizuna/services/ingestion/internal/identity"
	"github.com/kizuna/kizuna/services/ingestion/internal/imports"
	"github.com/kizuna/kizuna/services/ingestion/internal/ingest"
	"github.com/kizuna/kizuna/services/ingestion/internal/store"
	"github.com/kizuna/kizuna/services/ingestion/internal/tracking"
	"github.com/kizuna/kizuna/services/ingestion/internal/workspace"
	"github.com/kizuna/kizuna/services/platform/sqldb"
	"github.com/kizuna/kizuna/services/platform/sqldb/sqldbtest"
)

const ws = "ws_import"

type fixture struct {
	st    *store.Store
	in    *ingest.Ingester
	clock time.Time
	jobs  int
	// chunk is the upload chunk size; 7 bytes unless set.
	chunk int
}

func (f *fixture) now() time.Time { return f.clock }

func newFixture(t testing.TB, db *sqldb.DB) *fixture {
	t.Helper()
	ctx := context.Background()
	st, err := store.Open(ctx, db)
	if err != nil {
		t.Fatal(err)
	}
	f := &fixture{st: st, clock: time.Now().UTC()}
	f.in = ingest.New(store.For[ingest.Tx](st), time.Now, nil)
	if err := st.CreateWorkspace(ctx, workspace.Workspace{ID: ws, DisplayName: "t", PhoneRegion: "JP", CreateTime: f.clock}, workspace.APIKey{}, "hash-"+ws); err != nil {
		t.Fatal(err)
	}
	return f
}

// runner returns a runner storing through the ingester; hook, when set,
// runs before every batch and may fail it.
func (f *fixture) runner(batch int, hook func(ctx context.Context) error) *imports.Runner {
	return imports.NewRunner(f.st, func(ctx context.Context, ws string, msgs []tracking.Message) (int, int, error) {
		if hook != nil {
			if err := hook(ctx); err != nil {
				return 0, 0, err
			}
		}
		res, err := f.in.Ingest(ctx, ws, msgs)
		return res.Accepted, res.Duplicates, err
	}, f.now, slog.New(slog.NewTextHandler(io.Discard, nil)), imports.Options{Batch: batch, Lease: time.Minute})
}

// start creates a job for file, uploads it in chunks (of 7 bytes by default) (one sent
// twice, as a client retrying would) and starts it.
func (f *fixture) start(t testing.TB, kind, file string) string {
	t.Helper()
	ctx := context.Background()
	f.jobs++
	id := fmt.Sprintf("imp_%d", f.jobs)
	if err := f.st.CreateImport(ctx, imports.Import{WorkspaceID: ws, ID: id, Kind: kind, Encoding: imports.UTF8, Mapping: "{}", CreateTime: f.clock}); err != nil {
		t.Fatal(err)
	}
	size := f.chunk
	if size == 0 {
		size = 7
	}
	for off := 0; off < len(file); off += size {
		chunk := []byte(file[off:min(off+size, len(file))])
		for range 2 {
			total, err := f.st.AppendImportChunk(ctx, ws, id, int64(off), chunk, 1<<30, f.clock)
			if err != nil || total != int64(off+len(chunk)) {
				t.Fatalf("upload at %d = %d, %v", off, total, err)
			}
		}
	}
	if _, err := f.st.AppendImportChunk(ctx, ws, id, int64(len(file)+5), []byte("x"), 1<<20, f.clock); !errors.Is(err, conflict.ErrConflict) {
		t.Errorf("a chunk after a gap: %v, want a conflict", err)
	}
	if _, err := f.st.AppendImportChunk(ctx, ws, id, int64(len(file)), []byte("xx"), int64(len(file)+1), f.clock); !errors.Is(err, imports.ErrImportTooLarge) {
		t.Errorf("a chunk over the size limit: %v", err)
	}
	im, err := f.st.StartImport(ctx, ws, id, f.clock)
	if err != nil || im.State != imports.ImportRunning {
		t.Fatalf("start = %+v, %v", im, err)
	}
	return id
}

func (f *fixture) job(t testing.TB, id string) imports.Import {
	t.Helper()
	im, err := f.st.Import(context.Background(), ws, id)
	if err != nil {
		t.Fatal(err)
	}
	return im
}

// customersFile has 9 good rows and a bad one on line 6.
func customersFile() string {
	var b strings.Builder
	b.WriteString("user_id,email,name,plan\n")
	for i := 1; i <= 10; i++ {
		if i == 5 {
			b.WriteString("u5,x,y\n")
			continue
		}
		fmt.Fprintf(&b, "u%d,user%d@example.jp,顧客%d,basic\n", i, i, i)
	}
	return b.String()
}

// TestRunnerResumes cuts a job off after its first batch, checks that the
// lease keeps a second runner away while held, and that the job resumes
// where it stopped and ends with every row counted once; a re-run of the
// file then imports nothing twice. On every backend.
func TestRunnerResumes(t *testing.T) {
	sqldbtest.ForEachBackend(t, func(t *testing.T, db *sqldb.DB) {
		ctx := context.Background()
		f := newFixture(t, db)
		id := f.start(t, imports.Customers, customersFile())

		// A process that stops during the second batch.
		cctx, cancel := context.WithCancel(ctx)
		calls := 0
		crashing := f.runner(3, func(context.Context) error {
			if calls++; calls == 2 {
				cancel()
				return context.Canceled
			}
			return nil
		})
		if ran, err := crashing.RunOne(cctx); !ran || err != nil {
			t.Fatalf("first run = %v, %v", ran, err)
		}
		im := f.job(t, id)
		if im.State != imports.ImportRunning || im.Progress.RowsRead != 3 || im.Progress.RowsImported != 3 {
			t.Fatalf("after the cut = %+v", im)
		}

		// Another replica holds the lease: nobody else runs the job.
		if _, ok, err := f.st.ClaimImport(ctx, "other", f.clock, f.clock.Add(time.Minute)); !ok || err != nil {
			t.Fatalf("claim = %v, %v", ok, err)
		}
		resumer := f.runner(3, nil)
		if ran, err := resumer.RunOne(ctx); ran || err != nil {
			t.Fatalf("run under a held lease = %v, %v", ran, err)
		}
		// Its lease lapses (it stopped): the job is taken over and ends.
		f.clock = f.clock.Add(2 * time.Minute)
		if ran, err := resumer.RunOne(ctx); !ran || err != nil {
			t.Fatalf("resumed run = %v, %v", ran, err)
		}
		im = f.job(t, id)
		p := im.Progress
		if im.State != imports.ImportSucceeded || p.RowsRead != 10 || p.RowsImported != 9 || p.RowsRejected != 1 || p.RowsDuplicate != 0 ||
			p.BytesRead != im.BytesTotal {
			t.Errorf("done = %+v", im)
		}
		rej, next, err := f.st.ImportRejections(ctx, ws, id, 10, "")
		if err != nil || next != "" || len(rej) != 1 || rej[0].Line != 6 || !strings.HasPrefix(rej[0].Reason, "row: has 3 fields") || rej[0].Row != "u5,x,y" {
			t.Errorf("rejections = %+v, %q, %v", rej, next, err)
		}
		if _, err := f.st.ImportChunk(ctx, ws, id, 0); !errors.Is(err, imports.ErrNotFound) {
			t.Errorf("the file was kept after the import: %v", err)
		}
		c, err := f.st.Lookup(ctx, ws, identity.Key{Kind: identity.Email, Value: "user7@example.jp"})
		if err != nil || c.Traits["name"] != "顧客7" || c.Traits["plan"] != "basic" || c.EventCount != 1 {
			t.Fatalf("customer 7 = %+v, %v", c, err)
		}

		// A re-run stores nothing new.
		again := f.start(t, imports.Customers, customersFile())
		if ran, err := resumer.RunOne(ctx); !ran || err != nil {
			t.Fatalf("re-run = %v, %v", ran, err)
		}
		p = f.job(t, again).Progress
		if p.RowsImported != 9 || p.RowsDuplicate != 9 || p.RowsRejected != 1 {
			t.Errorf("re-run = %+v", p)
		}
		if c, err := f.st.Lookup(ctx, ws, identity.Key{Kind: identity.UserID, Value: "u7"}); err != nil || c.EventCount != 1 {
			t.Errorf("customer 7 after the re-run = %+v, %v", c, err)
		}
	})
}

// TestRunnerFails: a file whose header cannot be mapped fails its job with
// the reason.
func TestRunnerFails(t *testing.T) {
	sqldbtest.ForEachBackend(t, func(t *testing.T, db *sqldb.DB) {
		ctx := context.Background()
		f := newFixture(t, db)
		id := f.start(t, imports.Customers, "user_id,user_id\nu1,u2\n")
		if ran, err := f.runner(10, nil).RunOne(ctx); !ran || err != nil {
			t.Fatalf("run = %v, %v", ran, err)
		}
		if im := f.job(t, id); im.State != imports.ImportFailed || !strings.Contains(im.Error, `column "user_id" twice`) {
			t.Errorf("job = %+v", im)
		}
	})
}
