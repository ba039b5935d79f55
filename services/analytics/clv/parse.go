package clv

import (
	"bufio"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	"github.com/kizuna/kizuna/services/analytics/internal/num"
)

// ErrMalformed is wrapped by the readers for rows that cannot be parsed; the
// message names the line.
var ErrMalformed = errors.New("clv: malformed transaction row")

// CSVHeader is the header ReadCSV expects.
const CSVHeader = "customer_id,timestamp,amount"

// ReadCSV reads transactions from CSV with the header
// "customer_id,timestamp,amount". Timestamps are YYYY-MM-DD (taken as UTC
// midnight) or RFC 3339; amounts are decimal numbers. The first malformed row
// aborts reading with an error naming its line.
func ReadCSV(r io.Reader) ([]Transaction, error) {
	cr := csv.NewReader(r)
	cr.FieldsPerRecord = 3
	cr.ReuseRecord = true
	cr.TrimLeadingSpace = true
	header, err := cr.Read()
	if err == io.EOF {
		return nil, fmt.Errorf("read csv: %w: empty input, want header %q", ErrMalformed, CSVHeader)
	}
	if err != nil {
		return nil, fmt.Errorf("read csv: line 1: %w: %v", ErrMalformed, err)
	}
	got := strings.ToLower(strings.TrimPrefix(strings.Join(header, ","), "\ufeff"))
	if got != CSVHeader {
		return nil, fmt.Errorf("read csv: line 1: %w: header %q, want %q", ErrMalformed, got, CSVHeader)
	}
	var txs []Transaction
	for {
		rec, err := cr.Read()
		if err == io.EOF {
			return txs, nil
		}
		if err != nil {
			var pe *csv.ParseError
			line := 0
			if errors.As(err, &pe) {
				line = pe.Line
			}
			return nil, fmt.Errorf("read csv: line %d: %w: %v", line, ErrMalformed, err)
		}
		line, _ := cr.FieldPos(0)
		id := strings.TrimSpace(rec[0])
		if id == "" {
			return nil, fmt.Errorf("read csv: line %d: %w: empty customer_id", line, ErrMalformed)
		}
		ts, err := parseTimestamp(strings.TrimSpace(rec[1]))
		if err != nil || ts.IsZero() {
			return nil, fmt.Errorf("read csv: line %d: %w: timestamp %q: want YYYY-MM-DD or RFC 3339", line, ErrMalformed, rec[1])
		}
		amount, err := parseAmount(rec[2])
		if err != nil {
			return nil, fmt.Errorf("read csv: line %d: %w: amount %q", line, ErrMalformed, rec[2])
		}
		txs = append(txs, Transaction{CustomerID: id, Time: ts, Amount: amount})
	}
}

func parseTimestamp(s string) (time.Time, error) {
	if len(s) == len(time.DateOnly) {
		return time.Parse(time.DateOnly, s)
	}
	return time.Parse(time.RFC3339, s)
}

// parseAmount rejects NaN and infinities, which strconv accepts but which
// would poison every downstream mean.
func parseAmount(s string) (float64, error) {
	v, err := strconv.ParseFloat(strings.TrimSpace(s), 64)
	if err != nil {
		return 0, err
	}
	if !num.Finite(v) {
		return 0, fmt.Errorf("non-finite amount")
	}
	return v, nil
}

// ReadCDNOW reads the whitespace-separated fixed-width CDNOW format: either
// the sample layout "id sampleid YYYYMMDD quantity amount" or the master
// layout "id YYYYMMDD quantity amount". Blank lines and a header line starting
// with "customer" are skipped. Quantities are validated but not returned.
func ReadCDNOW(r io.Reader) ([]Transaction, error) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 64*1024), 1024*1024)
	var txs []Transaction
	line := 0
	for sc.Scan() {
		line++
		text := strings.TrimSpace(sc.Text())
		if text == "" || (line == 1 && strings.HasPrefix(strings.ToLower(text), "customer")) {
			continue
		}
		f := strings.Fields(text)
		var id, date, qty, amount string
		switch len(f) {
		case 5:
			id, date, qty, amount = f[0], f[2], f[3], f[4]
		case 4:
			id, date, qty, amount = f[0], f[1], f[2], f[3]
		default:
			return nil, fmt.Errorf("read cdnow: line %d: %w: %d fields, want 4 or 5", line, ErrMalformed, len(f))
		}
		ts, err := time.Parse("20060102", date)
		// The zero time is Go's "unset" marker, which Summarize rejects.
		if err != nil || ts.IsZero() {
			return nil, fmt.Errorf("read cdnow: line %d: %w: date %q, want YYYYMMDD", line, ErrMalformed, date)
		}
		if n, err := strconv.Atoi(qty); err != nil || n < 0 {
			return nil, fmt.Errorf("read cdnow: line %d: %w: quantity %q", line, ErrMalformed, qty)
		}
		a, err := parseAmount(amount)
		if err != nil {
			return nil, fmt.Errorf("read cdnow: line %d: %w: amount %q", line, ErrMalformed, amount)
		}
		txs = append(txs, Transaction{CustomerID: id, Time: ts, Amount: a})
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("read cdnow: line %d: %w", line+1, err)
	}
	return txs, nil
}
