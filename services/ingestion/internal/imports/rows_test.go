package imports

import (
	"bytes"
	"errors"
	"io"
	"strings"
	"testing"
	"time"

	"golang.org/x/text/encoding/japanese"
	"golang.org/x/text/transform"

	"github.com/kizuna/kizuna/services/ingestion/internal/tracking"
	"github.com/kizuna/kizuna/services/platform/validation"
)

var tokyo = func() *time.Location {
	l, err := time.LoadLocation("Asia/Tokyo")
	if err != nil {
		panic(err)
	}
	return l
}()

var now = time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)

// convertAll reads a whole file of kind and returns its messages and the
// reasons of its rejected rows by line.
func convertAll(t *testing.T, kind, encoding, file string, m Mapping) ([]tracking.Message, map[int64]string) {
	t.Helper()
	text := decode(encoding, strings.NewReader(file))
	var src source
	var header []string
	if kind == Events {
		src = newLineSource(text)
	} else {
		cs, err := newCSVSource(text)
		if err != nil {
			t.Fatal(err)
		}
		src, header = cs, cs.header
	}
	conv, err := newConverter(kind, header, m, tokyo)
	if err != nil {
		t.Fatal(err)
	}
	var msgs []tracking.Message
	rejected := map[int64]string{}
	for {
		rec, err := src.next()
		if errors.Is(err, io.EOF) {
			return msgs, rejected
		}
		if err != nil {
			t.Fatal(err)
		}
		msg, err := conv.message(rec, now)
		if err != nil {
			rejected[rec.line] = reason(err)
			continue
		}
		msgs = append(msgs, msg)
	}
}

func shiftJIS(t *testing.T, s string) string {
	t.Helper()
	b, _, err := transform.Bytes(japanese.ShiftJIS.NewEncoder(), []byte(s))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestCustomersDefaultMapping(t *testing.T) {
	const file = "user_id,email,phone,name,name_kana,rank\n" +
		"u1,Taro@Example.jp,090-1234-5678,山田 太郎,ヤマダ タロウ,gold\n" +
		"u2,,,,,\n"
	for name, tt := range map[string]struct{ encoding, file string }{
		"utf-8":          {UTF8, file},
		"utf-8 with BOM": {UTF8, "\xef\xbb\xbf" + file},
		"shift_jis":      {ShiftJIS, shiftJIS(t, file)},
	} {
		t.Run(name, func(t *testing.T) {
			msgs, rejected := convertAll(t, Customers, tt.encoding, tt.file, Mapping{})
			if len(rejected) != 0 || len(msgs) != 2 {
				t.Fatalf("messages %d, rejected %v", len(msgs), rejected)
			}
			m := msgs[0]
			if m.Type != tracking.Identify || m.UserID != "u1" || m.Traits["name"] != "山田 太郎" || m.Traits["name_kana"] != "ヤマダ タロウ" ||
				m.Traits["email"] != "Taro@Example.jp" || m.Traits["rank"] != "gold" || !m.Timestamp.Equal(now) {
				t.Errorf("message = %+v", m)
			}
			if _, ok := msgs[1].Traits["email"]; ok {
				t.Errorf("empty cells became traits: %v", msgs[1].Traits)
			}
			if !strings.HasPrefix(m.MessageID, "imp-") || m.MessageID == msgs[1].MessageID {
				t.Errorf("message ids %q, %q", m.MessageID, msgs[1].MessageID)
			}
		})
	}
}

// TestMessageIDs: the same row gets the same id in another run, a changed
// mapping gives customers new ids, and an order's id follows its order_id.
func TestMessageIDs(t *testing.T) {
	const customers = "user_id,email\nu1,a@example.jp\n"
	a, _ := convertAll(t, Customers, UTF8, customers, Mapping{})
	b, _ := convertAll(t, Customers, UTF8, customers, Mapping{})
	c, _ := convertAll(t, Customers, UTF8, customers, Mapping{Columns: map[string]string{"email": "trait.mail"}})
	if a[0].MessageID != b[0].MessageID || a[0].MessageID == c[0].MessageID {
		t.Errorf("customer ids: %s, %s, %s", a[0].MessageID, b[0].MessageID, c[0].MessageID)
	}
	o1, _ := convertAll(t, Orders, UTF8, "user_id,order_id,timestamp,revenue\nu1,O-1,2026-01-02,100\n", Mapping{})
	o2, _ := convertAll(t, Orders, UTF8, "order_id,user_id,timestamp,revenue,note\nO-1,u1,2026-01-02,100,x\n", Mapping{})
	if o1[0].MessageID != o2[0].MessageID {
		t.Errorf("order ids differ: %s, %s", o1[0].MessageID, o2[0].MessageID)
	}
}

func TestOrders(t *testing.T) {
	const file = "会員番号,注文番号,購入日時,金額,通貨,category,店舗\n" +
		"u1,A-1,2026/01/02 10:30,\"¥1,200\",,food,渋谷\n" +
		"u1,A-2,2026-01-03T01:00:00Z,１５００円,usd,,\n"
	m := Mapping{Columns: map[string]string{"会員番号": "user_id", "注文番号": "order_id", "購入日時": "timestamp", "金額": "revenue", "通貨": "currency", "店舗": "property.store"},
		DefaultCurrency: "JPY"}
	msgs, rejected := convertAll(t, Orders, UTF8, file, m)
	if len(rejected) != 0 || len(msgs) != 2 {
		t.Fatalf("messages %d, rejected %v", len(msgs), rejected)
	}
	first := msgs[0]
	if first.Name != tracking.OrderCompleted || first.Order == nil || first.Order.OrderID != "A-1" || first.Order.Revenue != 1200 ||
		first.Order.Currency != "JPY" || first.Properties["store"] != "渋谷" || first.Properties["category"] != "food" {
		t.Errorf("first order = %+v (order %+v)", first, first.Order)
	}
	// 10:30 in Tokyo is 01:30 UTC.
	if want := time.Date(2026, 1, 2, 1, 30, 0, 0, time.UTC); !first.Timestamp.Equal(want) {
		t.Errorf("time = %v, want %v", first.Timestamp, want)
	}
	if o := msgs[1].Order; o.Revenue != 1500 || o.Currency != "USD" {
		t.Errorf("second order = %+v", o)
	}
}

func TestRejectedRows(t *testing.T) {
	const file = "user_id,order_id,timestamp,revenue,email\n" +
		"u1,A-1,2026-01-02,100,\n" + // line 2: fine
		"u1,A-2,2026-01-02\n" + // 3: too few fields
		"u1,A-3,yesterday,100,\n" + // 4: bad date
		"u1,A-4,2026-01-02,lots,\n" + // 5: bad amount
		",A-5,2026-01-02,100,\n" + // 6: no buyer
		"u1,A-6,,100,\n" + // 7: no time
		"u1,A-7,2026-01-02,1e13,\n" + // 8: implausible amount
		",A-8,2026-01-02,100,buyer@example.jp\n" + // 9: fine, by e-mail
		"u1,A-9,2099-01-01,100,\n" // 10: in the future
	msgs, rejected := convertAll(t, Orders, UTF8, file, Mapping{})
	want := map[int64]string{3: "row:", 4: "timestamp:", 5: "revenue:", 6: "user_id:", 7: "timestamp:", 8: "properties.revenue:", 10: "timestamp:"}
	for line, prefix := range want {
		if !strings.HasPrefix(rejected[line], prefix) {
			t.Errorf("line %d rejected as %q, want %q…", line, rejected[line], prefix)
		}
	}
	if len(rejected) != len(want) || len(msgs) != 2 {
		t.Errorf("rejected %v; %d messages", rejected, len(msgs))
	}
	if msgs[1].AnonymousID == "" || msgs[1].Context["traits"].(map[string]any)["email"] != "buyer@example.jp" {
		t.Errorf("order by e-mail = %+v", msgs[1])
	}
}

func TestNotUTF8(t *testing.T) {
	// A Shift_JIS file read as UTF-8: its rows are rejected with a hint.
	_, rejected := convertAll(t, Customers, UTF8, shiftJIS(t, "user_id,name\nu1,山田\n"), Mapping{})
	if !strings.Contains(rejected[2], "shift_jis") {
		t.Errorf("rejected = %v", rejected)
	}
}

func TestEvents(t *testing.T) {
	const file = `{"type":"track","userId":"u1","event":"Signed Up","timestamp":"2026-01-02T00:00:00Z","library":{"x":1}}

{"type":"identify","messageId":"m-2","userId":"u1","traits":{"plan":"pro"}}
not json
{"type":"track","userId":"u1"}
`
	msgs, rejected := convertAll(t, Events, UTF8, file, Mapping{})
	if len(msgs) != 2 || msgs[0].Name != "Signed Up" || msgs[1].MessageID != "m-2" || !strings.HasPrefix(msgs[0].MessageID, "imp-") {
		t.Errorf("messages = %+v", msgs)
	}
	if !strings.HasPrefix(rejected[4], "line:") || !strings.HasPrefix(rejected[5], "event:") || len(rejected) != 2 {
		t.Errorf("rejected = %v", rejected)
	}
}

func TestMalformedCSV(t *testing.T) {
	_, rejected := convertAll(t, Customers, UTF8, "user_id,name\nu1,\"a\"b\"\nu2,ok\n", Mapping{})
	if len(rejected) > 1 {
		t.Errorf("rejected = %v", rejected)
	}
	if _, err := newCSVSource(strings.NewReader("")); err == nil {
		t.Error("an empty file has a header")
	}
	if _, err := columnsOf(Customers, []string{"a", "a"}, Mapping{}); err == nil {
		t.Error("a repeated column is accepted")
	}
}

func TestMappingValidate(t *testing.T) {
	for name, tt := range map[string]struct {
		kind  string
		m     Mapping
		field string // "" for valid
	}{
		"empty":               {Customers, Mapping{}, ""},
		"contract names":      {Customers, Mapping{Columns: map[string]string{"ID": "user_id", "Mail": "email", "x": "-", "y": "trait.y"}}, ""},
		"order property":      {Orders, Mapping{Columns: map[string]string{"s": "property.store"}, DefaultCurrency: "JPY"}, ""},
		"unknown target":      {Customers, Mapping{Columns: map[string]string{"ID": "userid"}}, `mapping.columns["ID"]`},
		"trait on orders":     {Orders, Mapping{Columns: map[string]string{"s": "trait.x"}}, `mapping.columns["s"]`},
		"revenue on customer": {Customers, Mapping{Columns: map[string]string{"s": "revenue"}}, `mapping.columns["s"]`},
		"bad date format":     {Customers, Mapping{DateFormats: []string{"%Q"}}, "mapping.date_formats[0]"},
		"no directive":        {Customers, Mapping{DateFormats: []string{"yyyy"}}, "mapping.date_formats[0]"},
		"bad zone":            {Orders, Mapping{Timezone: "Mars/Olympus"}, "mapping.timezone"},
		"bad currency":        {Orders, Mapping{DefaultCurrency: "yen"}, "mapping.default_currency"},
		"mapping on events":   {Events, Mapping{Timezone: "UTC"}, "mapping"},
	} {
		t.Run(name, func(t *testing.T) {
			var v validation.Error
			tt.m.Validate(tt.kind, "mapping", &v)
			switch {
			case tt.field == "" && len(v.Violations) > 0:
				t.Errorf("violations %v", v.Violations)
			case tt.field != "" && (len(v.Violations) == 0 || v.Violations[0].Field != tt.field):
				t.Errorf("violations %v, want on %s", v.Violations, tt.field)
			}
		})
	}
}

func TestGoLayout(t *testing.T) {
	for in, want := range map[string]string{
		"%Y/%m/%d":             "2006/01/02",
		"%Y年%m月%d日 %H:%M":      "2006年01月02日 15:04",
		"%d.%m.%y %H:%M:%S":    "02.01.06 15:04:05",
		"%Y-%m-%d %H:%M:%S.%f": "2006-01-02 15:04:05.999999999",
	} {
		got, err := goLayout(in)
		if err != nil || got != want {
			t.Errorf("goLayout(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	conv, err := newConverter(Orders, []string{"timestamp"}, Mapping{DateFormats: []string{"%Y年%m月%d日"}}, tokyo)
	if err != nil {
		t.Fatal(err)
	}
	got, err := conv.parseTime("2026年01月05日")
	if want := time.Date(2026, 1, 4, 15, 0, 0, 0, time.UTC); err != nil || !got.Equal(want) {
		t.Errorf("parse = %v, %v; want %v", got, err, want)
	}
}

func TestLongLine(t *testing.T) {
	long := `{"type":"track","userId":"u","event":"` + strings.Repeat("x", maxLineBytes+10) + `"}`
	src := newLineSource(bytes.NewReader([]byte(long + "\n{\"type\":\"track\",\"userId\":\"u\",\"event\":\"e\"}\n")))
	first, err := src.next()
	if err != nil || first.line != 1 {
		t.Fatalf("first = %v, %v", first.line, err)
	}
	second, err := src.next()
	if err != nil || second.line != 2 || !strings.Contains(second.text, `"event":"e"`) {
		t.Errorf("second = %+v, %v", second, err)
	}
}
