// Package importcli implements `kizuna import`: it loads a CSV export of
// customers or orders, or an NDJSON file of Segment calls, into a running
// Kizuna over its REST API (ImportService), showing a progress bar with the
// rate and the time left on standard error.
//
// Usage:
//
//	kizuna import customers --file customers.csv [--encoding shift_jis|utf-8] [--mapping mapping.yaml]
//	kizuna import orders    --file orders.csv    [--encoding …] [--mapping …]
//	kizuna import events    --file events.ndjson
//	  [--server http://localhost:8080] [--key K (or KIZUNA_API_KEY)] [--rejections FILE.csv]
//
// The file is uploaded in chunks of 2 MiB, the job started and polled. When
// rows were rejected, they are written with their line and reason to
// --rejections (default: the file's name with .rejected.csv). A re-run of
// the same file imports nothing twice; a job cut off by a server restart
// resumes by itself, and the command keeps polling through the restart.
//
// The mapping file (YAML, read with go.yaml.in/yaml/v3) names what each
// column is, and how dates are written:
//
//	columns:
//	  会員番号: user_id
//	  メールアドレス: email
//	  ランク: trait.rank
//	  備考: "-"
//	date_formats: ["%Y/%m/%d %H:%M"]
//	timezone: Asia/Tokyo
//	default_currency: JPY
package importcli

import (
	"bytes"
	"context"
	"encoding/csv"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"

	ingestionv1 "github.com/kizuna/kizuna/gen/kizuna/ingestion/v1"
	"github.com/kizuna/kizuna/services/platform/config"
)

const usage = `usage:
  kizuna import customers --file customers.csv [--encoding shift_jis|utf-8] [--mapping mapping.yaml]
  kizuna import orders    --file orders.csv    [--encoding shift_jis|utf-8] [--mapping mapping.yaml]
  kizuna import events    --file events.ndjson
flags (after the kind):
`

// ChunkSize is the bytes of the file one upload call carries.
const ChunkSize = 2 << 20

// Run executes `kizuna import`; args start after "import".
func Run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 || strings.HasPrefix(args[0], "-") || args[0] == "help" {
		fmt.Fprint(stderr, usage)
		if len(args) > 0 && (args[0] == "help" || args[0] == "-h" || args[0] == "-help" || args[0] == "--help") {
			return nil
		}
		return config.Usage(errors.New("missing kind: customers, orders or events"))
	}
	kind, args := args[0], args[1:]
	switch kind {
	case "customers", "orders", "events":
	default:
		fmt.Fprint(stderr, usage)
		return config.Usage(fmt.Errorf("unknown kind %q: customers, orders or events", kind))
	}
	fs := config.NewFlagSet("kizuna import " + kind)
	fs.SetOutput(stderr)
	fs.Usage = func() { fmt.Fprint(stderr, usage); fs.PrintDefaults() }
	file := fs.String("file", "", "", "the file to import (CSV; NDJSON for events)")
	encoding := fs.String("encoding", "", "utf-8", "the file's encoding: utf-8 (a byte-order mark is fine) or shift_jis")
	mappingPath := fs.String("mapping", "", "", "YAML file mapping columns to fields (see the package documentation)")
	server := fs.String("server", "KIZUNA_SERVER", "http://localhost:8080", "Kizuna's REST address")
	key := fs.String("key", "KIZUNA_API_KEY", "", "API key of the workspace")
	rejections := fs.String("rejections", "", "", "where to write rejected rows (default: FILE.rejected.csv, when there are any)")
	poll := fs.Duration("poll", "", 500*time.Millisecond, "how often to ask for progress")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil
		}
		return err
	}
	switch {
	case fs.NArg() > 0:
		return config.Usage(fmt.Errorf("unexpected argument %q", fs.Arg(0)))
	case *file == "":
		return config.Usage(errors.New("--file is required"))
	case *key == "":
		return config.Usage(errors.New("an API key is required: --key or KIZUNA_API_KEY"))
	case kind == "events" && *mappingPath != "":
		return config.Usage(errors.New("--mapping is for customers and orders; events files are Segment calls"))
	}
	req := &ingestionv1.CreateImportRequest{Kind: kind, Encoding: *encoding}
	if *mappingPath != "" {
		m, err := ReadMapping(*mappingPath)
		if err != nil {
			return err
		}
		req.Mapping = m
	}
	f, err := os.Open(*file)
	if err != nil {
		return err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return err
	}
	c := &client{base: strings.TrimRight(*server, "/"), key: *key, http: &http.Client{Timeout: 2 * time.Minute}}
	bar := newBar(stderr, isTerminal(stderr))

	var created ingestionv1.CreateImportResponse
	if err := c.call(ctx, http.MethodPost, "/v1/imports", req, &created); err != nil {
		return err
	}
	id := created.GetImport().GetImportId()
	fmt.Fprintf(stderr, "import %s: uploading %s (%s)\n", id, *file, bytesText(st.Size()))
	if err := c.upload(ctx, id, f, st.Size(), bar); err != nil {
		return err
	}
	if err := c.call(ctx, http.MethodPost, "/v1/imports/"+url.PathEscape(id)+":start", &ingestionv1.StartImportRequest{}, nil); err != nil {
		return err
	}
	job, err := c.wait(ctx, id, *poll, bar)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "import %s: %s: %d rows read, %d imported (%d already present), %d rejected in %s\n", id,
		strings.ToLower(strings.TrimPrefix(job.GetState().String(), "IMPORT_STATE_")), job.GetRowsRead(), job.GetRowsImported(),
		job.GetRowsDuplicate(), job.GetRowsRejected(), job.GetEndTime().AsTime().Sub(job.GetStartTime().AsTime()).Round(time.Second))
	if job.GetRowsRejected() > 0 {
		path := *rejections
		if path == "" {
			path = strings.TrimSuffix(*file, ".csv") + ".rejected.csv"
			path = strings.TrimSuffix(path, ".ndjson")
		}
		if err := c.saveRejections(ctx, id, path); err != nil {
			return err
		}
		fmt.Fprintf(stdout, "rejected rows with their reasons: %s\n", path)
	}
	if job.GetState() == ingestionv1.ImportState_IMPORT_STATE_FAILED {
		return fmt.Errorf("import %s failed: %s", id, job.GetError())
	}
	return nil
}

// ReadMapping reads a mapping file; unknown keys are an error, so that a
// typo does not silently import a column as a trait.
func ReadMapping(path string) (*ingestionv1.ImportMapping, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var m struct {
		Columns         map[string]string `yaml:"columns"`
		DateFormats     []string          `yaml:"date_formats"`
		Timezone        string            `yaml:"timezone"`
		DefaultCurrency string            `yaml:"default_currency"`
	}
	dec := yaml.NewDecoder(bytes.NewReader(b))
	dec.KnownFields(true)
	if err := dec.Decode(&m); err != nil && !errors.Is(err, io.EOF) {
		return nil, fmt.Errorf("mapping %s: %w", path, err)
	}
	return &ingestionv1.ImportMapping{Columns: m.Columns, DateFormats: m.DateFormats, Timezone: m.Timezone, DefaultCurrency: m.DefaultCurrency}, nil
}

// client calls the REST API.
type client struct {
	base, key string
	http      *http.Client
}

// apiError is an error answer of the API.
type apiError struct {
	status  int
	message string
}

func (e *apiError) Error() string { return fmt.Sprintf("HTTP %d: %s", e.status, e.message) }

// call sends req (nil: no body) and reads the answer into resp (nil:
// discarded).
func (c *client) call(ctx context.Context, method, path string, req, resp proto.Message) error {
	var body io.Reader
	if req != nil {
		b, err := protojson.Marshal(req)
		if err != nil {
			return err
		}
		body = bytes.NewReader(b)
	}
	r, err := http.NewRequestWithContext(ctx, method, c.base+path, body)
	if err != nil {
		return err
	}
	r.Header.Set("Authorization", "Bearer "+c.key)
	r.Header.Set("Content-Type", "application/json")
	res, err := c.http.Do(r)
	if err != nil {
		return err
	}
	defer res.Body.Close()
	b, err := io.ReadAll(io.LimitReader(res.Body, 64<<20))
	if err != nil {
		return err
	}
	if res.StatusCode != http.StatusOK {
		var e struct {
			Message string `json:"message"`
		}
		msg := strings.TrimSpace(string(b))
		if jerr := json.Unmarshal(b, &e); jerr == nil && e.Message != "" {
			msg = e.Message
		}
		return &apiError{status: res.StatusCode, message: msg}
	}
	if resp == nil {
		return nil
	}
	return protojson.UnmarshalOptions{DiscardUnknown: true}.Unmarshal(b, resp)
}

// retryable reports whether a call may be tried again: the server could
// not be reached, or answered that it is unavailable.
func retryable(err error) bool {
	var e *apiError
	if errors.As(err, &e) {
		return e.status == http.StatusServiceUnavailable || e.status == http.StatusBadGateway || e.status == http.StatusGatewayTimeout
	}
	return err != nil && !errors.Is(err, context.Canceled)
}

// callRetrying retries a call that may be repeated safely, for up to a
// minute (a server restart).
func (c *client) callRetrying(ctx context.Context, method, path string, req, resp proto.Message) error {
	deadline := time.Now().Add(time.Minute)
	for {
		err := c.call(ctx, method, path, req, resp)
		if err == nil || !retryable(err) || time.Now().After(deadline) {
			return err
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(time.Second):
		}
	}
}

// upload sends the file in chunks; a chunk sent again after a lost answer
// is accepted by the server as the same chunk.
func (c *client) upload(ctx context.Context, id string, f io.Reader, size int64, bar *bar) error {
	buf := make([]byte, ChunkSize)
	var offset int64
	start := time.Now()
	for {
		n, err := io.ReadFull(f, buf)
		if n > 0 {
			var resp ingestionv1.UploadImportChunkResponse
			if err := c.callRetrying(ctx, http.MethodPost, "/v1/imports/"+url.PathEscape(id)+":upload",
				&ingestionv1.UploadImportChunkRequest{Offset: offset, Data: buf[:n]}, &resp); err != nil {
				return fmt.Errorf("upload at byte %d: %w", offset, err)
			}
			offset += int64(n)
			elapsed := time.Since(start).Seconds()
			bar.draw("upload", offset, size, fmt.Sprintf("%s/s", bytesText(int64(float64(offset)/max(elapsed, 1e-3)))), eta(offset, size, elapsed))
		}
		if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
			break
		}
		if err != nil {
			return err
		}
	}
	bar.done()
	if offset == 0 {
		return errors.New("the file is empty")
	}
	return nil
}

// wait polls the job until it ends.
func (c *client) wait(ctx context.Context, id string, every time.Duration, bar *bar) (*ingestionv1.ImportJob, error) {
	for {
		var resp ingestionv1.GetImportResponse
		if err := c.callRetrying(ctx, http.MethodGet, "/v1/imports/"+url.PathEscape(id), nil, &resp); err != nil {
			return nil, err
		}
		j := resp.GetImport()
		elapsed := time.Since(j.GetStartTime().AsTime()).Seconds()
		if j.GetStartTime() == nil {
			elapsed = 0
		}
		rate := j.GetRowsPerSecond()
		bar.draw("import", j.GetBytesRead(), j.GetBytesTotal(),
			fmt.Sprintf("%d rows (%d rejected), %.0f rows/s", j.GetRowsRead(), j.GetRowsRejected(), rate), eta(j.GetBytesRead(), j.GetBytesTotal(), elapsed))
		switch j.GetState() {
		case ingestionv1.ImportState_IMPORT_STATE_SUCCEEDED, ingestionv1.ImportState_IMPORT_STATE_FAILED:
			bar.done()
			return j, nil
		}
		select {
		case <-ctx.Done():
			bar.done()
			return nil, fmt.Errorf("stopped waiting; the import %s goes on on the server: %w", id, ctx.Err())
		case <-time.After(every):
		}
	}
}

// saveRejections writes every rejected row to path as CSV.
func (c *client) saveRejections(ctx context.Context, id, path string) error {
	out, err := os.Create(path)
	if err != nil {
		return err
	}
	w := csv.NewWriter(out)
	_ = w.Write([]string{"line", "reason", "row"})
	token := ""
	for {
		var resp ingestionv1.ListImportRejectionsResponse
		q := url.Values{"pageSize": {"1000"}}
		if token != "" {
			q.Set("pageToken", token)
		}
		if err := c.callRetrying(ctx, http.MethodGet, "/v1/imports/"+url.PathEscape(id)+"/rejections?"+q.Encode(), nil, &resp); err != nil {
			out.Close()
			return err
		}
		for _, r := range resp.GetRejections() {
			_ = w.Write([]string{strconv.FormatInt(r.GetLine(), 10), r.GetReason(), r.GetRow()})
		}
		if token = resp.GetNextPageToken(); token == "" {
			break
		}
	}
	w.Flush()
	if err := w.Error(); err != nil {
		out.Close()
		return err
	}
	return out.Close()
}

// eta estimates the time left from the part done after elapsed seconds;
// "" when it cannot tell yet.
func eta(done, total int64, elapsed float64) string {
	if done <= 0 || total <= 0 || elapsed < 0.5 {
		return ""
	}
	if done >= total {
		return "ETA 0s"
	}
	left := time.Duration(elapsed * float64(total-done) / float64(done) * float64(time.Second))
	return "ETA " + left.Round(time.Second).String()
}

func bytesText(n int64) string {
	switch {
	case n >= 1<<30:
		return fmt.Sprintf("%.1f GiB", float64(n)/(1<<30))
	case n >= 1<<20:
		return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20))
	case n >= 1<<10:
		return fmt.Sprintf("%.1f KiB", float64(n)/(1<<10))
	}
	return fmt.Sprintf("%d B", n)
}

// isTerminal reports whether w is a character device (a terminal).
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	st, err := f.Stat()
	return err == nil && st.Mode()&os.ModeCharDevice != 0
}

// bar draws progress: redrawn in place on a terminal, a line every few
// seconds otherwise (logs, CI).
type bar struct {
	w     io.Writer
	tty   bool
	last  time.Time
	drawn bool
	line  string
}

func newBar(w io.Writer, tty bool) *bar { return &bar{w: w, tty: tty} }

const barWidth = 30

func (b *bar) draw(phase string, done, total int64, rate, eta string) {
	frac := 0.0
	if total > 0 {
		frac = min(float64(done)/float64(total), 1)
	}
	fill := int(frac * barWidth)
	line := fmt.Sprintf("%-6s [%s%s] %3.0f%%  %s  %s", phase, strings.Repeat("=", fill), strings.Repeat(" ", barWidth-fill), frac*100, rate, eta)
	b.line = line
	if b.tty {
		fmt.Fprintf(b.w, "\r%-100s", line)
		b.drawn = true
		return
	}
	if time.Since(b.last) >= 2*time.Second {
		fmt.Fprintln(b.w, line)
		b.last = time.Now()
	}
}

// done ends the bar's line (and shows its last state).
func (b *bar) done() {
	switch {
	case b.tty && b.drawn:
		fmt.Fprintln(b.w)
	case !b.tty && b.line != "":
		fmt.Fprintln(b.w, b.line)
	}
	b.drawn, b.line, b.last = false, "", time.Time{}
}
