package cleansecli

import (
	"bufio"
	"context"
	"encoding/csv"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/kizuna/kizuna/services/ingestion/internal/match"
	"github.com/kizuna/kizuna/services/ingestion/internal/normalize"
)

// progressEvery is how often (in records) progress is reported on stderr.
const progressEvery = 100_000

// batchSize records are normalised in parallel at a time: large enough to
// keep every core busy, small enough that the normalize command streams.
const batchSize = 8192

const usage = `usage:
  cleanse normalize --input FILE.csv [--output normalized.csv] [--gmail-rules] [--region JP]
  cleanse dedupe    --input FILE.csv [--output clusters.csv] [--review review.csv] [--gmail-rules] [--region JP]
`

// Run executes the cleanse command line. args start after "cleanse".
func Run(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return errors.New("missing subcommand (normalize or dedupe)")
	}
	cmd, args := args[0], args[1:]
	fs := flag.NewFlagSet("cleanse "+cmd, flag.ContinueOnError)
	fs.SetOutput(stderr)
	input := fs.String("input", "-", "input CSV file (\"-\" for standard input)")
	output := fs.String("output", "", "output CSV file (default standard output)")
	gmail := fs.Bool("gmail-rules", false, "apply Gmail dot/+tag rules to e-mail addresses")
	region := fs.String("region", normalize.DefaultRegion, "default phone region (ISO 3166 code)")
	var review *string
	switch cmd {
	case "normalize":
	case "dedupe":
		review = fs.String("review", "", "write review suggestions (pairs to check by hand) to this CSV file")
	case "-h", "--help", "help":
		fmt.Fprint(stdout, usage)
		return nil
	default:
		fmt.Fprint(stderr, usage)
		return fmt.Errorf("unknown subcommand %q", cmd)
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil
		}
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	*region = strings.ToUpper(*region)
	if !normalize.ValidRegion(*region) {
		return fmt.Errorf("--region %q is not an ISO 3166-1 region with a phone numbering plan (e.g. JP, US)", *region)
	}
	opt := normalize.Options{Region: *region, Email: normalize.EmailOptions{ProviderRules: *gmail}}

	in, name, err := openInput(*input, stdin)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := createOutput(*output, stdout)
	if err != nil {
		return err
	}
	c := &command{ctx: ctx, stderr: stderr, opt: opt, inputName: name, start: time.Now()}
	switch cmd {
	case "normalize":
		err = c.normalize(in, out)
	default:
		err = c.dedupe(in, out, *review)
	}
	if cerr := out.Close(); err == nil {
		err = cerr
	}
	if err != nil && out.f != nil {
		// A half-written output would look like a complete result to the
		// next step of a pipeline; remove it.
		os.Remove(out.f.Name())
	}
	return err
}

type command struct {
	ctx       context.Context
	stderr    io.Writer
	opt       normalize.Options
	inputName string
	start     time.Time
}

func openInput(path string, stdin io.Reader) (io.ReadCloser, string, error) {
	if path == "-" || path == "" {
		return io.NopCloser(stdin), "stdin", nil
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, "", err
	}
	return f, path, nil
}

// bufferedOutput flushes its buffer and closes the file (if any) once.
type bufferedOutput struct {
	*bufio.Writer
	f *os.File
}

func (b *bufferedOutput) Close() error {
	err := b.Flush()
	if b.f != nil {
		if cerr := b.f.Close(); err == nil {
			err = cerr
		}
	}
	return err
}

func createOutput(path string, stdout io.Writer) (*bufferedOutput, error) {
	if path == "" || path == "-" {
		return &bufferedOutput{Writer: bufio.NewWriterSize(stdout, 1<<16)}, nil
	}
	f, err := os.Create(path)
	if err != nil {
		return nil, err
	}
	return &bufferedOutput{Writer: bufio.NewWriterSize(f, 1<<16), f: f}, nil
}

// columns maps the known header names to their position (-1 if absent).
type columns struct {
	id, name, kana, email, phone, company, postal, address int
}

func parseHeader(h []string) (columns, error) {
	c := columns{-1, -1, -1, -1, -1, -1, -1, -1}
	for i, name := range h {
		if i == 0 {
			name = strings.TrimPrefix(name, "\ufeff")
		}
		var p *int
		switch strings.ToLower(strings.TrimSpace(name)) {
		case "record_id":
			p = &c.id
		case "name":
			p = &c.name
		case "name_kana":
			p = &c.kana
		case "email":
			p = &c.email
		case "phone":
			p = &c.phone
		case "company":
			p = &c.company
		case "postal_code":
			p = &c.postal
		case "address":
			p = &c.address
		default:
			continue // extra columns are allowed and ignored
		}
		if *p >= 0 {
			return c, fmt.Errorf("header: column %q appears twice", name)
		}
		*p = i
	}
	if c.id < 0 {
		return c, errors.New("header: required column record_id is missing")
	}
	return c, nil
}

func (c columns) record(row []string) normalize.Record {
	get := func(i int) string {
		if i < 0 || i >= len(row) {
			return ""
		}
		return row[i]
	}
	return normalize.Record{
		ID: get(c.id), Name: get(c.name), NameKana: get(c.kana), Email: get(c.email),
		Phone: get(c.phone), Company: get(c.company), PostalCode: get(c.postal), Address: get(c.address),
	}
}

// reader yields batches of raw records with CSV errors reported by line.
type reader struct {
	cr   *csv.Reader
	cols columns
	name string
}

func newReader(in io.Reader, name string) (*reader, error) {
	cr := csv.NewReader(bufio.NewReaderSize(in, 1<<16))
	// ReuseRecord only reuses the []string; the field strings themselves
	// are fresh per line, so keeping them in a normalize.Record is safe.
	cr.ReuseRecord = true
	h, err := cr.Read()
	if err == io.EOF {
		return nil, fmt.Errorf("%s: empty input, a header line is required", name)
	}
	if err != nil {
		return nil, csvError(name, err)
	}
	cols, err := parseHeader(h)
	if err != nil {
		return nil, fmt.Errorf("%s line 1: %w", name, err)
	}
	return &reader{cr: cr, cols: cols, name: name}, nil
}

// csvError turns encoding/csv errors into "FILE line N: problem".
func csvError(name string, err error) error {
	var pe *csv.ParseError
	if errors.As(err, &pe) {
		return fmt.Errorf("%s line %d: malformed CSV: %v", name, pe.StartLine, pe.Err)
	}
	return fmt.Errorf("%s: %w", name, err)
}

// next reads up to batchSize records; it returns an empty batch at EOF.
// Each batch is new: batches are handed to other goroutines.
func (r *reader) next() ([]normalize.Record, error) {
	batch := make([]normalize.Record, 0, batchSize)
	for len(batch) < batchSize {
		row, err := r.cr.Read()
		if err == io.EOF {
			break
		}
		if err != nil {
			return batch, csvError(r.name, err)
		}
		line, _ := r.cr.FieldPos(0)
		rec := r.cols.record(row)
		if rec.ID == "" {
			return batch, fmt.Errorf("%s line %d: empty record_id", r.name, line)
		}
		batch = append(batch, rec)
	}
	return batch, nil
}

// normalizeBatch normalises a batch on all cores, preserving order.
func normalizeBatch(batch []normalize.Record, opt normalize.Options, out []normalize.Result) []normalize.Result {
	if cap(out) < len(batch) {
		out = make([]normalize.Result, len(batch))
	}
	out = out[:len(batch)] // every element is overwritten below
	workers := runtime.GOMAXPROCS(0)
	var wg sync.WaitGroup
	for w := range workers {
		lo, hi := w*len(batch)/workers, (w+1)*len(batch)/workers
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := lo; i < hi; i++ {
				out[i] = normalize.NormalizeRecord(batch[i], opt)
			}
		}()
	}
	wg.Wait()
	return out
}

// each reads the whole input, normalising batch by batch, and calls fn
// with each normalised batch in input order. Reading and parsing CSV runs
// in its own goroutine so that it overlaps with normalisation, which is
// where the time goes.
func (c *command) each(in io.Reader, fn func([]normalize.Result) error) (int, error) {
	r, err := newReader(in, c.inputName)
	if err != nil {
		return 0, err
	}
	type batchOrErr struct {
		recs []normalize.Record
		err  error
	}
	ctx, cancel := context.WithCancel(c.ctx)
	defer cancel()
	batches := make(chan batchOrErr, 2)
	go func() {
		defer close(batches)
		for {
			b, err := r.next()
			if len(b) == 0 && err == nil {
				return
			}
			select {
			case batches <- batchOrErr{b, err}:
			case <-ctx.Done():
				return
			}
			if err != nil {
				return
			}
		}
	}()
	var res []normalize.Result
	n, lastReport := 0, 0
	for b := range batches {
		if b.err != nil {
			return n, b.err
		}
		if err := c.ctx.Err(); err != nil {
			return n, err
		}
		res = normalizeBatch(b.recs, c.opt, res)
		if err := fn(res); err != nil {
			return n, err
		}
		n += len(b.recs)
		if n-lastReport >= progressEvery {
			lastReport = n - n%progressEvery
			c.progress("normalized %d records", n)
		}
	}
	return n, c.ctx.Err()
}

func (c *command) progress(format string, args ...any) {
	fmt.Fprintf(c.stderr, "cleanse: %s (%.1fs)\n", fmt.Sprintf(format, args...), time.Since(c.start).Seconds())
}

var normalizeHeader = []string{
	"record_id", "name", "name_kana", "email", "phone", "phone_type", "company", "company_key",
	"legal_form", "postal_code", "prefecture", "address", "address_key", "issues",
}

func (c *command) normalize(in io.Reader, out io.Writer) error {
	cw := csv.NewWriter(out)
	if err := cw.Write(normalizeHeader); err != nil {
		return err
	}
	row := make([]string, len(normalizeHeader))
	n, err := c.each(in, func(rs []normalize.Result) error {
		for i := range rs {
			r := &rs[i]
			issues := make([]string, len(r.Issues))
			for k, is := range r.Issues {
				issues[k] = string(is)
			}
			row = append(row[:0], r.ID, r.Name.Value, r.Kana.Value, r.Email.Value, r.Phone.E164,
				string(r.Phone.Type), r.Company.Value, r.Company.Key, r.Company.LegalForm, r.Postal.Value,
				r.Address.Prefecture, r.Address.Value, r.Address.Key, strings.Join(issues, ";"))
			if err := cw.Write(row); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return err
	}
	cw.Flush()
	if err := cw.Error(); err != nil {
		return err
	}
	c.progress("normalized %d records, done", n)
	return nil
}

func (c *command) dedupe(in io.Reader, out io.Writer, reviewPath string) error {
	// Keep one slice per batch and concatenate once at the end: growing a
	// single slice of a million records would copy it ~20 times.
	var parts [][]match.Record
	n, err := c.each(in, func(rs []normalize.Result) error {
		part := make([]match.Record, len(rs))
		for i := range rs {
			part[i] = match.FromNormalized(rs[i])
		}
		parts = append(parts, part)
		return nil
	})
	if err != nil {
		return err
	}
	recs := slices.Concat(parts...)
	parts = nil
	c.progress("normalized %d records, matching", n)
	res := match.Find(recs, match.DefaultOptions())
	clusters := match.Clusters(len(recs), res.Pairs)
	if err := c.ctx.Err(); err != nil {
		return err
	}

	cw := csv.NewWriter(out)
	if err := cw.Write([]string{"record_id", "cluster_id"}); err != nil {
		return err
	}
	row := make([]string, 2)
	maxCluster := 0
	for i, r := range recs {
		maxCluster = max(maxCluster, clusters[i])
		row[0], row[1] = r.ID, strconv.Itoa(clusters[i])
		if err := cw.Write(row); err != nil {
			return err
		}
	}
	cw.Flush()
	if err := cw.Error(); err != nil {
		return err
	}
	reviews := 0
	if reviewPath != "" {
		if reviews, err = writeReview(reviewPath, res.Pairs, clusters); err != nil {
			return err
		}
	}
	c.progress("%d records, %d clusters, %d candidate pairs, %d merge pairs, %d review suggestions, %d oversized blocks",
		n, maxCluster, res.Stats.Candidates, res.Stats.Merges, reviews, res.Stats.OversizedBlocks)
	return nil
}

// writeReview writes the review pairs whose records did not end up in one
// cluster anyway (through other merges); those need no human decision.
func writeReview(path string, pairs []match.Pair, clusters []int) (int, error) {
	f, err := os.Create(path)
	if err != nil {
		return 0, err
	}
	bw := bufio.NewWriter(f)
	cw := csv.NewWriter(bw)
	n := 0
	werr := cw.Write([]string{"record_id_a", "record_id_b", "score", "reasons"})
	for _, p := range pairs {
		if werr != nil {
			break
		}
		if p.Decision != match.Review || clusters[p.I] == clusters[p.J] {
			continue
		}
		n++
		werr = cw.Write([]string{p.A, p.B, strconv.FormatFloat(p.Score, 'f', 2, 64), strings.Join(p.Reasons, ";")})
	}
	cw.Flush()
	if werr == nil {
		werr = cw.Error()
	}
	if werr == nil {
		werr = bw.Flush()
	}
	if cerr := f.Close(); werr == nil {
		werr = cerr
	}
	return n, werr
}
