package imports

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"encoding/csv"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"golang.org/x/text/encoding/japanese"
	"golang.org/x/text/transform"
	"golang.org/x/text/width"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/types/known/structpb"

	ingestionv1 "github.com/kizuna/kizuna/gen/kizuna/ingestion/v1"
	"github.com/kizuna/kizuna/services/ingestion/internal/tracking"
	"github.com/kizuna/kizuna/services/platform/validation"
)

// maxRowText bounds the copy of a rejected row kept in its report.
const maxRowText = 4096

// maxLineBytes bounds one NDJSON line (a Segment call is at most 32 KB).
const maxLineBytes = 1 << 20

// decode returns the text of a file in encoding as UTF-8: Shift_JIS
// (Windows-31J, which Japanese Excel writes) is converted; UTF-8 loses its
// byte-order mark and is otherwise passed on as it is, so that a row that
// is not UTF-8 is rejected, not silently garbled.
func decode(encoding string, r io.Reader) io.Reader {
	if encoding == ShiftJIS {
		return transform.NewReader(r, japanese.ShiftJIS.NewDecoder())
	}
	br := bufio.NewReaderSize(r, 64<<10)
	if b, err := br.Peek(3); err == nil && bytes.Equal(b, []byte("\xef\xbb\xbf")) {
		_, _ = br.Discard(3)
	}
	return br
}

// record is one data row of a file.
type record struct {
	// line is the 1-based line the row starts on.
	line int64
	// fields of a CSV row; text of an NDJSON line.
	fields []string
	text   string
	// err is a row that could not be read (malformed CSV).
	err error
}

// rowText returns the row as read, for its rejection report.
func (r record) rowText() string {
	s := r.text
	if r.fields != nil {
		var b strings.Builder
		w := csv.NewWriter(&b)
		_ = w.Write(r.fields)
		w.Flush()
		s = strings.TrimSuffix(b.String(), "\n")
	}
	if len(s) > maxRowText {
		s = s[:maxRowText]
		for !utf8.ValidString(s) {
			s = s[:len(s)-1]
		}
	}
	return strings.ToValidUTF8(s, "\uFFFD")
}

// source reads the rows of a file.
type source interface {
	// next returns the next row, or io.EOF.
	next() (record, error)
}

// csvSource reads CSV rows after the header.
type csvSource struct {
	r      *csv.Reader
	header []string
	last   error
}

func newCSVSource(r io.Reader) (*csvSource, error) {
	cr := csv.NewReader(r)
	cr.FieldsPerRecord = -1
	cr.LazyQuotes = true
	header, err := cr.Read()
	if errors.Is(err, io.EOF) {
		return nil, errors.New("the file is empty: a CSV file starts with a header row")
	}
	if err != nil {
		return nil, fmt.Errorf("read the header: %w", err)
	}
	for i, h := range header {
		header[i] = strings.TrimSpace(h)
		if !utf8.ValidString(header[i]) {
			return nil, errors.New("the header is not UTF-8: give the file's encoding (shift_jis?)")
		}
	}
	return &csvSource{r: cr, header: header}, nil
}

func (s *csvSource) next() (record, error) {
	fields, err := s.r.Read()
	if errors.Is(err, io.EOF) {
		return record{}, io.EOF
	}
	line, _ := s.r.FieldPos(0)
	var pe *csv.ParseError
	if err != nil && !errors.As(err, &pe) {
		return record{}, err
	}
	if err != nil {
		// The reader goes on after a malformed row; the same error twice
		// in a row at one place means it cannot.
		if s.last != nil && s.last.Error() == err.Error() {
			return record{}, err
		}
		s.last = err
		return record{line: int64(pe.StartLine), fields: fields, err: fmt.Errorf("malformed CSV: %v", pe.Err)}, nil
	}
	s.last = nil
	return record{line: int64(line), fields: fields}, nil
}

// lineSource reads NDJSON lines, skipping blank ones.
func newLineSource(r io.Reader) *lineSource { return &lineSource{r: bufio.NewReaderSize(r, 64<<10)} }

type lineSource struct {
	r    *bufio.Reader
	line int64
}

func (s *lineSource) next() (record, error) {
	for {
		text, err := s.readLine()
		if err != nil {
			return record{}, err
		}
		s.line++
		if strings.TrimSpace(text) != "" {
			return record{line: s.line, text: text}, nil
		}
	}
}

// readLine returns the next line without its end; a line over
// maxLineBytes is cut and its rest skipped (the row is then rejected).
func (s *lineSource) readLine() (string, error) {
	var b []byte
	for {
		part, isPrefix, err := s.r.ReadLine()
		if err != nil {
			if errors.Is(err, io.EOF) && b != nil {
				return string(b), nil
			}
			return "", err
		}
		if len(b) <= maxLineBytes {
			b = append(b, part...)
		}
		if !isPrefix {
			return string(b), nil
		}
		if b == nil {
			b = []byte{}
		}
	}
}

// converter turns rows into tracking messages.
type converter struct {
	kind     string
	header   []string
	cols     []column
	loc      *time.Location
	layouts  []string
	currency string
	// salt makes message ids depend on the mapping as well as the row
	// (customers; orders use their order id).
	salt string
}

func newConverter(kind string, header []string, m Mapping, loc *time.Location) (*converter, error) {
	c := &converter{kind: kind, header: header, loc: loc, currency: m.DefaultCurrency}
	if kind == Events {
		return c, nil
	}
	cols, err := columnsOf(kind, header, m)
	if err != nil {
		return nil, err
	}
	c.cols = cols
	for _, f := range m.DateFormats {
		l, err := goLayout(f)
		if err != nil {
			return nil, err
		}
		c.layouts = append(c.layouts, l)
	}
	c.layouts = append(c.layouts, naiveLayouts...)
	mj, err := json.Marshal(m)
	if err != nil {
		return nil, fmt.Errorf("encode mapping: %w", err)
	}
	c.salt = string(mj) + "\x00" + strings.Join(header, "\x1f")
	return c, nil
}

// naiveLayouts are the date forms read in the mapping's time zone after
// the mapping's own; zoned ISO 8601 comes first.
var naiveLayouts = []string{
	"2006-01-02T15:04:05.999999999", "2006-01-02 15:04:05.999999999", "2006-01-02 15:04", "2006-01-02",
	"2006/01/02 15:04:05", "2006/1/2 15:04:05", "2006/01/02 15:04", "2006/1/2 15:04", "2006/01/02", "2006/1/2",
	"20060102",
}

// zonedLayouts carry their own zone.
var zonedLayouts = []string{time.RFC3339Nano, "2006-01-02T15:04:05.999999999Z0700", "2006-01-02 15:04:05.999999999Z07:00"}

// parseTime reads a date or date-time cell.
func (c *converter) parseTime(s string) (time.Time, error) {
	s = width.Narrow.String(s)
	for _, l := range zonedLayouts {
		if t, err := time.Parse(l, s); err == nil {
			return t.UTC(), nil
		}
	}
	for _, l := range c.layouts {
		if t, err := time.ParseInLocation(l, s, c.loc); err == nil {
			return t.UTC(), nil
		}
	}
	return time.Time{}, fmt.Errorf("%q is no date the import reads: give its form in the mapping's date_formats (such as %%Y/%%m/%%d %%H:%%M)", s)
}

// parseAmount reads a money cell as exports write it: "1,200", "¥1,200",
// "１２００円".
func parseAmount(s string) (float64, error) {
	t := width.Narrow.String(s)
	t = strings.NewReplacer(",", "", "¥", "", "\\", "", "$", "", "円", "", " ", "").Replace(t)
	f, err := strconv.ParseFloat(t, 64)
	if err != nil {
		return 0, fmt.Errorf("%q is not a number", s)
	}
	return f, nil
}

// rowError is a row's fault, named by column.
func rowError(col, format string, args ...any) error {
	return validation.Invalid(col, format, args...)
}

// reason returns why a row was rejected, without the generic prefix.
func reason(err error) string {
	var v *validation.Error
	if errors.As(err, &v) {
		parts := make([]string, len(v.Violations))
		for i, x := range v.Violations {
			parts[i] = x.Field + ": " + x.Description
		}
		return strings.Join(parts, "; ")
	}
	return err.Error()
}

// message converts one row into a validated tracking message; now is the
// receipt time of rows without a time.
func (c *converter) message(r record, now time.Time) (tracking.Message, error) {
	if r.err != nil {
		return tracking.Message{}, r.err
	}
	var b *ingestionv1.BatchMessage
	var err error
	switch c.kind {
	case Events:
		b, err = c.event(r.text)
	default:
		b, err = c.row(r.fields)
	}
	if err != nil {
		return tracking.Message{}, err
	}
	return tracking.ParseBatchMessage(b, now)
}

// event reads one NDJSON line, a Segment call.
func (c *converter) event(text string) (*ingestionv1.BatchMessage, error) {
	if len(text) > maxLineBytes {
		return nil, rowError("line", "is over %d bytes", maxLineBytes)
	}
	if !utf8.ValidString(text) {
		return nil, rowError("line", "is not UTF-8")
	}
	var b ingestionv1.BatchMessage
	if err := (protojson.UnmarshalOptions{DiscardUnknown: true}).Unmarshal([]byte(text), &b); err != nil {
		return nil, rowError("line", "is not a Segment call: %v", err)
	}
	if b.GetMessageId() == "" {
		b.MessageId = messageID(Events, text)
	}
	return &b, nil
}

// row converts a CSV row to an identify (customers) or an Order Completed
// track call (orders).
func (c *converter) row(fields []string) (*ingestionv1.BatchMessage, error) {
	if len(fields) != len(c.header) {
		return nil, rowError("row", "has %d fields, the header %d", len(fields), len(c.header))
	}
	b := &ingestionv1.BatchMessage{}
	values := map[string]any{} // traits or properties
	contextTraits := map[string]any{}
	var orderID string
	for i, raw := range fields {
		col := c.cols[i]
		v := strings.TrimSpace(raw)
		if col.drop || v == "" {
			continue
		}
		if !utf8.ValidString(v) {
			return nil, rowError(c.header[i], "is not UTF-8: give the file's encoding (shift_jis?)")
		}
		switch col.field {
		case "":
			values[col.key] = v
		case targetUserID:
			b.UserId = v
		case targetAnonymousID:
			b.AnonymousId = v
		case targetTimestamp:
			t, err := c.parseTime(v)
			if err != nil {
				return nil, rowError(c.header[i], "%v", err)
			}
			b.Timestamp = t.Format(time.RFC3339Nano)
		case targetRevenue:
			f, err := parseAmount(v)
			if err != nil {
				return nil, rowError(c.header[i], "%v", err)
			}
			values[targetRevenue] = f
		case targetCurrency:
			values[targetCurrency] = strings.ToUpper(v)
		case targetOrderID:
			orderID = v
			values[targetOrderID] = v
		case targetEmail, targetPhone:
			if c.kind == Orders {
				contextTraits[col.field] = v
			} else {
				values[col.field] = v
			}
		default:
			values[col.field] = v
		}
	}
	switch c.kind {
	case Customers:
		b.Type = string(tracking.Identify)
		b.MessageId = messageID(Customers, c.salt, strings.Join(fields, "\x1f"))
		if b.UserId == "" && b.AnonymousId == "" {
			b.AnonymousId = anonymousID(values)
		}
		if b.UserId == "" && b.AnonymousId == "" {
			return nil, rowError(targetUserID, "the row names no one: user_id, anonymous_id, email, phone or line_user_id is required")
		}
		s, err := structpb.NewStruct(values)
		if err != nil {
			return nil, rowError("row", "%v", err)
		}
		b.Traits = s
	case Orders:
		b.Type, b.Event = string(tracking.Track), tracking.OrderCompleted
		if b.Timestamp == "" {
			return nil, rowError(targetTimestamp, "is required for orders: when was it bought?")
		}
		if _, ok := values[targetCurrency]; !ok && c.currency != "" {
			values[targetCurrency] = c.currency
		}
		if orderID != "" {
			b.MessageId = messageID(Orders, orderID)
		} else {
			b.MessageId = messageID(Orders, c.salt, strings.Join(fields, "\x1f"))
		}
		if b.UserId == "" && b.AnonymousId == "" {
			b.AnonymousId = anonymousID(contextTraits)
		}
		if b.UserId == "" && b.AnonymousId == "" {
			return nil, rowError(targetUserID, "the row names no buyer: user_id, anonymous_id, email or phone is required")
		}
		s, err := structpb.NewStruct(values)
		if err != nil {
			return nil, rowError("row", "%v", err)
		}
		b.Properties = s
		if len(contextTraits) > 0 {
			ct, err := structpb.NewStruct(map[string]any{"traits": contextTraits})
			if err != nil {
				return nil, rowError("row", "%v", err)
			}
			b.Context = ct
		}
	}
	return b, nil
}

// anonymousID gives a row without a user id the anonymous id its LINE
// user id, e-mail or phone implies, so that rows of one person share it;
// identity resolution then ties them by those identities too. "" when the
// row has none.
func anonymousID(traits map[string]any) string {
	if v, ok := traits["line_user_id"].(string); ok {
		return "line:" + v
	}
	for _, k := range []string{targetEmail, targetPhone} {
		if v, ok := traits[k].(string); ok {
			return "import-" + messageID(k, strings.ToLower(v))[4:]
		}
	}
	return ""
}

// messageID derives a row's message id from its content: the same row
// (under the same mapping) always gets the same id, so a re-run of a file
// is deduplicated.
func messageID(parts ...string) string {
	h := sha256.New()
	for _, p := range parts {
		h.Write([]byte(p))
		h.Write([]byte{0})
	}
	return "imp-" + hex.EncodeToString(h.Sum(nil))[:32]
}
