package suite_test

import (
	"bytes"
	"encoding/base64"
	"fmt"
	"io"
	"mime"
	"mime/multipart"
	"net/mail"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/kizuna/kizuna/services/campaign"
	"github.com/kizuna/kizuna/services/campaign/linetest"
	"github.com/kizuna/kizuna/services/campaign/smtptest"
	"github.com/kizuna/kizuna/services/platform/bus/bustest"
	"github.com/kizuna/kizuna/services/platform/sqldb/sqldbtest"
	"github.com/kizuna/kizuna/services/platform/testenv"
	"github.com/kizuna/kizuna/services/suite"
)

const (
	lineToken  = "line-token-e2e"
	lineSecret = "line-secret-e2e"
)

// TestJourneys drives a welcome journey through the whole suite over REST:
// an e-mail on `Signed Up` to a real SMTP server, a delay, a LINE message
// to a fake LINE API, exit on `Order Completed`; then re-entry, the
// one-click unsubscribe, a LINE follow through the signed webhook,
// frequency caps and quiet hours.
func TestJourneys(t *testing.T) {
	t.Run("embedded", func(t *testing.T) {
		journeys(t, suite.Config{DataDir: t.TempDir()})
	})
	t.Run("postgres+nats", func(t *testing.T) {
		pg, nats := testenv.URL(t, sqldbtest.PostgresURLVar), testenv.URL(t, bustest.NATSURLVar)
		id := randomID(t)
		cfg := suite.Config{DataDir: t.TempDir(), DatabaseURL: pg, SchemaPrefix: "e2ej_" + id + "_", NATSURL: nats, BusPrefix: "e2ej" + id}
		t.Cleanup(func() { dropExternal(t, cfg) })
		journeys(t, cfg)
	})
}

func journeys(t *testing.T, cfg suite.Config) {
	smtp := smtptest.Start(t)
	lineAPI := linetest.Start(t, lineToken)
	lineAPI.FailNext(1, 500) // the first LINE call fails: retried with the same key
	cfg.Campaign = func(o *campaign.Options) {
		o.PollInterval = 100 * time.Millisecond
		o.RetryBackoff = 200 * time.Millisecond
		o.LineBackoff = 10 * time.Millisecond
	}
	a := startSuite(t, cfg)
	c := &client{t: t, base: "http://" + a.HTTP}
	eventually(t, "ready", func() bool { return c.status("GET", "/readyz", "", nil) == 200 })

	var ws struct{ WorkspaceID string }
	c.call("POST", "/v1/apiKeys:verify", `{"apiKey":"`+devKey+`"}`, nil, &ws)
	var mailCh, lineCh struct{ Channel struct{ ChannelID string } }
	c.call("POST", "/v1/channels", fmt.Sprintf(`{"displayName":"Newsletter","email":{"host":%q,"port":%d,"security":"NONE",
		"fromAddress":"news@example.jp","fromName":"キズナ商店"}}`, smtp.Host(), smtp.Port()), nil, &mailCh)
	c.call("POST", "/v1/channels", fmt.Sprintf(`{"displayName":"LINE OA","line":{"channelAccessToken":%q,"channelSecret":%q,"apiBaseUrl":%q}}`,
		lineToken, lineSecret, lineAPI.URL), nil, &lineCh)
	var got map[string]map[string]any
	c.call("GET", "/v1/channels/"+lineCh.Channel.ChannelID, "", nil, &got)
	if l := got["channel"]["line"].(map[string]any); l["channelAccessToken"] != "" || l["channelAccessTokenSet"] != true {
		t.Errorf("a read returned the LINE token or did not say it is set: %v", l)
	}

	var j struct {
		Journey struct{ JourneyID, State string }
	}
	c.call("POST", "/v1/journeys", fmt.Sprintf(`{"displayName":"Welcome",
		"entry":{"event":{"event":"Signed Up"}},
		"reentry":"REENTRY_NEVER",
		"exitRules":[{"event":{"event":"Order Completed"}}],
		"steps":[
			{"id":"mail","send":{"channelId":%q,"subject":"{{ customer.traits.name }}さん、ようこそ",
				"text":"{{ customer.traits.name }}様\nご登録ありがとうございます。プラン: {{ event.properties.plan }}\n停止: {{ unsubscribe_url }}",
				"html":"<p>{{ customer.traits.name }}様、ようこそ</p>"}},
			{"id":"wait","delay":{"duration":"2s"}},
			{"id":"line","send":{"channelId":%q,"text":"{{ customer.traits.name }}さん、LINEでもよろしくお願いします"}}]}`,
		mailCh.Channel.ChannelID, lineCh.Channel.ChannelID), nil, &j)
	if j.Journey.State != "DRAFT" {
		t.Fatalf("new journey state %q, want DRAFT", j.Journey.State)
	}
	jid := j.Journey.JourneyID
	// Bad input names the field.
	code, body := c.do("POST", "/v1/journeys", `{"displayName":"x","entry":{"event":{"event":"A"}},"steps":[{"id":"s","send":{"channelId":"chn_nope","text":"{% if x %}"}}]}`,
		map[string]string{"Authorization": "Bearer " + devKey})
	if code != 400 || !bytes.Contains(body, []byte("journey.steps[0].send.channel_id")) || !bytes.Contains(body, []byte("journey.steps[0].send.text")) {
		t.Errorf("invalid journey: %d %s", code, body)
	}
	c.call("POST", "/v1/journeys/"+jid+":activate", "{}", nil, &j)
	if j.Journey.State != "ACTIVE" {
		t.Fatalf("activated journey state %q", j.Journey.State)
	}

	people := []struct{ user, name, line string }{{"hanako", "山田花子", "U00000000000000000000000000000001"},
		{"taro", "佐藤太郎", "U00000000000000000000000000000002"}, {"jiro", "鈴木次郎", "U00000000000000000000000000000003"}}
	var msgs []string
	for i, p := range people {
		msgs = append(msgs, fmt.Sprintf(`{"type":"identify","messageId":"j-id-%d","userId":%q,"traits":{"email":"%s@example.jp","name":%q,"lineUserId":%q}}`,
			i, p.user, p.user, p.name, p.line))
	}
	c.segment("/v1/batch", `{"batch":[`+strings.Join(msgs, ",")+`]}`, nil)
	msgs = msgs[:0]
	for i, p := range people {
		msgs = append(msgs, fmt.Sprintf(`{"type":"track","messageId":"j-su-%d","userId":%q,"event":"Signed Up","properties":{"plan":"pro"}}`, i, p.user))
	}
	c.segment("/v1/batch", `{"batch":[`+strings.Join(msgs, ",")+`]}`, nil)

	mails := smtp.WaitFor(t, 3, 15*time.Second)
	// taro buys during the delay: no LINE message for him.
	c.segment("/v1/track", `{"messageId":"j-buy-1","userId":"taro","event":"Order Completed","properties":{"order_id":"T-1","revenue":3000}}`, nil)

	var unsubURL string
	for _, m := range mails {
		msg, err := mail.ReadMessage(bytes.NewReader(m.Data))
		if err != nil {
			t.Fatalf("mail does not parse: %v", err)
		}
		subject, err := new(mime.WordDecoder).DecodeHeader(msg.Header.Get("Subject"))
		if err != nil {
			t.Fatal(err)
		}
		from, err := mail.ParseAddress(msg.Header.Get("From"))
		if err != nil || from.Name != "キズナ商店" {
			t.Errorf("From = %q (%v), want キズナ商店", msg.Header.Get("From"), err)
		}
		if m.To[0] == "hanako@example.jp" {
			if subject != "山田花子さん、ようこそ" {
				t.Errorf("subject = %q", subject)
			}
			text := textPart(t, msg)
			if !strings.Contains(text, "山田花子様") || !strings.Contains(text, "プラン: pro") {
				t.Errorf("text part = %q", text)
			}
			lu := strings.Trim(msg.Header.Get("List-Unsubscribe"), "<>")
			if lu == "" || msg.Header.Get("List-Unsubscribe-Post") != "List-Unsubscribe=One-Click" || !strings.Contains(text, lu) {
				t.Errorf("unsubscribe headers: %q, %q", msg.Header.Get("List-Unsubscribe"), msg.Header.Get("List-Unsubscribe-Post"))
			}
			unsubURL = lu
		}
	}

	accepted := lineAPI.WaitForUsers(t, 2, 15*time.Second)
	// An entry completes when its last send is queued: done is when no
	// send is pending either.
	eventually(t, "journey done", func() bool {
		var st struct {
			Stats struct {
				Completed, Exited string
				Sends             []struct{ Status string }
			}
		}
		c.call("GET", "/v1/journeys/"+jid+"/stats", "", nil, &st)
		for _, sc := range st.Stats.Sends {
			if sc.Status == "PENDING" {
				return false
			}
		}
		return st.Stats.Completed == "2" && st.Stats.Exited == "1"
	})
	accepted = lineAPI.Accepted()
	if len(accepted) != 2 || len(accepted[people[0].line]) != 1 || len(accepted[people[2].line]) != 1 || accepted[people[1].line] != nil {
		t.Errorf("LINE messages = %v; want one each for hanako and jiro, none for taro", accepted)
	}
	if got := accepted[people[0].line]; len(got) == 1 && got[0] != "山田花子さん、LINEでもよろしくお願いします" {
		t.Errorf("LINE text = %q", got[0])
	}
	var st struct {
		Stats struct {
			Entered        string
			ExitedByReason []struct{ Reason, Count string }
			Sends          []struct{ ChannelType, Status, Count string }
		}
	}
	c.call("GET", "/v1/journeys/"+jid+"/stats", "", nil, &st)
	if st.Stats.Entered != "3" || len(st.Stats.ExitedByReason) != 1 || st.Stats.ExitedByReason[0].Reason != "EXIT_EVENT" {
		t.Errorf("stats = %+v", st.Stats)
	}

	hanako := lookup(c, "user_id=hanako")
	var cj struct {
		Journeys []struct{ JourneyID, State, CurrentStep string }
	}
	c.call("GET", "/v1/customers/"+hanako+"/journeys", "", nil, &cj)
	if len(cj.Journeys) != 1 || cj.Journeys[0].State != "COMPLETED" || cj.Journeys[0].CurrentStep != "line" {
		t.Errorf("hanako's journeys = %+v", cj.Journeys)
	}
	var sends struct {
		Sends []struct{ Status, ChannelType, StepID, ProviderMessageID string }
	}
	c.call("GET", "/v1/customers/"+hanako+"/sends", "", nil, &sends)
	if len(sends.Sends) != 2 || sends.Sends[0].Status != "SENT" || sends.Sends[1].Status != "SENT" {
		t.Errorf("hanako's sends = %+v", sends.Sends)
	}

	// Never re-entered: a second Signed Up sends nothing.
	c.segment("/v1/track", `{"messageId":"j-su-again","userId":"hanako","event":"Signed Up"}`, nil)

	// One-click unsubscribe (RFC 8058), then an e-mail journey skips her.
	u, err := url.Parse(unsubURL)
	if err != nil || !strings.HasPrefix(u.Path, "/unsubscribe/") {
		t.Fatalf("unsubscribe URL %q", unsubURL)
	}
	code, body = c.do("POST", u.Path, "List-Unsubscribe=One-Click", map[string]string{"Content-Type": "application/x-www-form-urlencoded"})
	if code != 200 {
		t.Fatalf("one-click unsubscribe: %d %s", code, body)
	}
	var consents struct {
		Consents []struct{ ChannelType, Source string }
	}
	c.call("GET", "/v1/customers/"+hanako+"/consents", "", nil, &consents)
	if len(consents.Consents) != 1 || consents.Consents[0].ChannelType != "EMAIL" {
		t.Errorf("consents = %+v", consents.Consents)
	}
	eventually(t, "Unsubscribed on the timeline", func() bool {
		var evs struct{ Events []struct{ Name string } }
		c.call("GET", "/v1/customers/"+hanako+"/events", "", nil, &evs)
		for _, e := range evs.Events {
			if e.Name == "Unsubscribed" {
				return true
			}
		}
		return false
	})

	// A cap of one e-mail a week: jiro already had one.
	c.call("PATCH", "/v1/workspaces/"+ws.WorkspaceID, `{"frequencyCaps":[{"channelType":"EMAIL","maxSends":1,"period":"604800s"}]}`, nil, nil)
	var coupon struct{ Journey struct{ JourneyID string } }
	c.call("POST", "/v1/journeys", fmt.Sprintf(`{"displayName":"Coupon","entry":{"event":{"event":"Coupon Requested"}},
		"steps":[{"id":"mail","send":{"channelId":%q,"subject":"クーポン","text":"10%%オフ"}}]}`, mailCh.Channel.ChannelID), nil, &coupon)
	c.call("POST", "/v1/journeys/"+coupon.Journey.JourneyID+":activate", "{}", nil, nil)
	time.Sleep(6 * time.Second) // settings are cached for 5 s
	c.segment("/v1/batch", `{"batch":[
		{"type":"track","messageId":"j-cp-1","userId":"hanako","event":"Coupon Requested"},
		{"type":"track","messageId":"j-cp-2","userId":"jiro","event":"Coupon Requested"},
		{"type":"identify","messageId":"j-cp-3","userId":"saburo","traits":{"email":"saburo@example.jp","name":"三郎"}},
		{"type":"track","messageId":"j-cp-4","userId":"saburo","event":"Coupon Requested"}]}`, nil)
	eventually(t, "coupon sends decided", func() bool {
		var s struct {
			Sends []struct{ CustomerID, Status, Reason string }
		}
		c.call("GET", "/v1/journeys/"+coupon.Journey.JourneyID+"/sends", "", nil, &s)
		reasons := map[string]string{}
		for _, sd := range s.Sends {
			reasons[sd.Status+"/"+sd.Reason] = sd.CustomerID
		}
		return len(s.Sends) == 3 && reasons["SKIPPED/NO_CONSENT"] == hanako && reasons["SKIPPED/FREQUENCY_CAP"] != "" && reasons["SENT/SKIP_REASON_UNSPECIFIED"] != ""
	})

	// A LINE follow through the signed webhook: a new customer with that
	// LINE id; a bad signature stores nothing.
	follow := linetest.WebhookBody("Udest", linetest.FollowEvent("U00000000000000000000000000000009", "01HWEBHOOKEVENT0000000001"))
	path := "/v1/channels/" + lineCh.Channel.ChannelID + "/line:webhook"
	if code := c.status("POST", path, string(follow), map[string]string{"X-Line-Signature": linetest.Sign("wrong", follow)}); code != 401 {
		t.Errorf("bad signature: %d, want 401", code)
	}
	c.call("POST", path, string(follow), map[string]string{"X-Line-Signature": linetest.Sign(lineSecret, follow)}, nil)
	eventually(t, "LINE friend resolved", func() bool {
		code, _ := c.do("GET", "/v1/customers:lookup?line_user_id=U00000000000000000000000000000009", "", map[string]string{"Authorization": "Bearer " + devKey})
		return code == 200
	})

	// Quiet hours around now (Asia/Tokyo): a send is deferred to their end.
	now := time.Now().In(mustZone(t, "Asia/Tokyo"))
	start, end := now.Add(-time.Hour).Format("15:04"), now.Add(time.Hour).Format("15:04")
	c.call("PATCH", "/v1/workspaces/"+ws.WorkspaceID, fmt.Sprintf(`{"quietHours":{"start":%q,"end":%q},"frequencyCaps":[]}`, start, end), nil, nil)
	time.Sleep(6 * time.Second)
	c.segment("/v1/track", `{"messageId":"j-cp-5","userId":"saburo","event":"Signed Up"}`, nil)
	saburo := lookup(c, "user_id=saburo")
	eventually(t, "welcome mail deferred", func() bool {
		var s struct {
			Sends []struct{ StepID, Status, PlannedTime string }
		}
		c.call("GET", "/v1/customers/"+saburo+"/sends", "", nil, &s)
		for _, sd := range s.Sends {
			if sd.StepID == "mail" && sd.Status == "DEFERRED" {
				pt, err := time.Parse(time.RFC3339, sd.PlannedTime)
				return err == nil && pt.After(time.Now().Add(50*time.Minute))
			}
		}
		return false
	})
	if n := smtp.Count(); n != 4 {
		t.Errorf("%d mails arrived in all, want 4 (3 welcome, 1 coupon)", n)
	}
}

func lookup(c *client, query string) string {
	c.t.Helper()
	var r struct{ Customer struct{ CustomerID string } }
	c.call("GET", "/v1/customers:lookup?"+query, "", nil, &r)
	return r.Customer.CustomerID
}

func mustZone(t *testing.T, name string) *time.Location {
	loc, err := time.LoadLocation(name)
	if err != nil {
		t.Fatal(err)
	}
	return loc
}

// textPart returns the decoded text/plain part of a message.
func textPart(t *testing.T, msg *mail.Message) string {
	t.Helper()
	mt, params, err := mime.ParseMediaType(msg.Header.Get("Content-Type"))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(mt, "multipart/") {
		return decodeBody(t, msg.Header.Get("Content-Transfer-Encoding"), msg.Body)
	}
	mr := multipart.NewReader(msg.Body, params["boundary"])
	for {
		p, err := mr.NextPart()
		if err != nil {
			t.Fatalf("no text part: %v", err)
		}
		if strings.HasPrefix(p.Header.Get("Content-Type"), "text/plain") {
			return decodeBody(t, p.Header.Get("Content-Transfer-Encoding"), p)
		}
	}
}

func decodeBody(t *testing.T, enc string, r io.Reader) string {
	t.Helper()
	b, err := io.ReadAll(r)
	if err != nil {
		t.Fatal(err)
	}
	if strings.EqualFold(enc, "base64") {
		if b, err = base64.StdEncoding.DecodeString(strings.Join(strings.Fields(string(b)), "")); err != nil {
			t.Fatal(err)
		}
	}
	return string(b)
}
