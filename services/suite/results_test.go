package suite_test

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/kizuna/kizuna/services/campaign"
	"github.com/kizuna/kizuna/services/campaign/smtptest"
	"github.com/kizuna/kizuna/services/platform/bus/bustest"
	"github.com/kizuna/kizuna/services/platform/sqldb/sqldbtest"
	"github.com/kizuna/kizuna/services/platform/testenv"
	"github.com/kizuna/kizuna/services/suite"
)

// TestExperimentResults drives a journey with a 20 % holdout and subject
// A/B through the whole suite over REST: customers sign up, the campaign
// service assigns and sends (holdout sends recorded as skipped), the
// metrics service reads the exposures off the bus, customers of arm B buy,
// and /v1/journeys/{id}/results counts exactly that; then an initiative is
// planned from the measured baseline and checked from those results.
func TestExperimentResults(t *testing.T) {
	t.Run("embedded", func(t *testing.T) {
		experimentResults(t, suite.Config{DataDir: t.TempDir()})
	})
	t.Run("postgres+nats", func(t *testing.T) {
		pg, nats := testenv.URL(t, sqldbtest.PostgresURLVar), testenv.URL(t, bustest.NATSURLVar)
		id := randomID(t)
		cfg := suite.Config{DataDir: t.TempDir(), DatabaseURL: pg, SchemaPrefix: "e2ex_" + id + "_", NATSURL: nats, BusPrefix: "e2ex" + id}
		t.Cleanup(func() { dropExternal(t, cfg) })
		experimentResults(t, cfg)
	})
}

func experimentResults(t *testing.T, cfg suite.Config) {
	smtp := smtptest.Start(t)
	cfg.Campaign = func(o *campaign.Options) { o.PollInterval = 100 * time.Millisecond }
	a := startSuite(t, cfg)
	c := &client{t: t, base: "http://" + a.HTTP}
	eventually(t, "ready", func() bool { return c.status("GET", "/readyz", "", nil) == 200 })

	var ch struct{ Channel struct{ ChannelID string } }
	c.call("POST", "/v1/channels", fmt.Sprintf(`{"displayName":"Mail","email":{"host":%q,"port":%d,"security":"NONE","fromAddress":"shop@example.jp"}}`,
		smtp.Host(), smtp.Port()), nil, &ch)
	var j struct{ Journey struct{ JourneyID string } }
	c.call("POST", "/v1/journeys", fmt.Sprintf(`{"displayName":"Welcome test","entry":{"event":{"event":"Signed Up"}},
		"holdout":{"percent":20},"goal":{"event":{"event":"Order Completed"},"attributionWindow":"604800s"},
		"steps":[{"id":"mail","send":{"channelId":%q,"variants":[
			{"name":"A","weight":50,"subject":"Welcome","text":"Hello"},
			{"name":"B","weight":50,"subject":"10%% off today","text":"Coupon"}]}}]}`, ch.Channel.ChannelID), nil, &j)
	jid := j.Journey.JourneyID
	c.call("POST", "/v1/journeys/"+jid+":activate", "{}", nil, nil)

	const n = 40
	var msgs []string
	for i := range n {
		msgs = append(msgs, fmt.Sprintf(`{"type":"identify","messageId":"x-id-%d","userId":"u%d","traits":{"email":"u%d@example.jp"}}`, i, i, i),
			fmt.Sprintf(`{"type":"track","messageId":"x-su-%d","userId":"u%d","event":"Signed Up"}`, i, i))
	}
	c.segment("/v1/batch", `{"batch":[`+strings.Join(msgs, ",")+`]}`, nil)

	type variant struct {
		Name              string
		Exposed           int
		Converted         int
		ConversionRate    float64
		Revenue           float64
		RevenuePerExposed float64
		Lift              *struct {
			Absolute, CiLow, CiHigh, PValue, ProbabilityToBeatControl, ExpectedLoss float64
		}
	}
	type results struct {
		Variants []variant
		Srm      *struct {
			PValue  float64
			Warning bool
		}
		Control string
	}
	var res results
	total := func() int {
		s := 0
		for _, v := range res.Variants {
			s += v.Exposed
		}
		return s
	}
	eventually(t, "every customer exposed", func() bool {
		res = results{}
		c.call("GET", "/v1/journeys/"+jid+"/results", "", nil, &res)
		return total() == n
	})
	// The arms are the sends' variants.
	var sends struct {
		Sends []struct{ CustomerID, Variant string }
	}
	c.call("GET", "/v1/journeys/"+jid+"/sends?pageSize=1000", "", nil, &sends)
	arm := map[string]string{}
	count := map[string]int{}
	for _, s := range sends.Sends {
		arm[s.CustomerID] = s.Variant
		count[s.Variant]++
	}
	if res.Control != "holdout" || len(res.Variants) != 3 || res.Variants[0].Name != "holdout" || res.Srm == nil {
		t.Fatalf("results %+v", res)
	}
	for _, v := range res.Variants {
		if v.Exposed != count[v.Name] {
			t.Errorf("%s: %d exposed, the sends say %d", v.Name, v.Exposed, count[v.Name])
		}
	}

	// Everyone in B buys once, and the first three of them twice.
	msgs = msgs[:0]
	bought := 0
	for i := range n {
		cust := lookup(c, "userId=u"+fmt.Sprint(i))
		if arm[cust] != "B" {
			continue
		}
		msgs = append(msgs, fmt.Sprintf(`{"type":"track","messageId":"x-buy-%d","userId":"u%d","event":"Order Completed","properties":{"order_id":"X-%d","revenue":1000}}`, i, i, i))
		if bought < 3 {
			msgs = append(msgs, fmt.Sprintf(`{"type":"track","messageId":"x-buy2-%d","userId":"u%d","event":"Order Completed","properties":{"order_id":"X2-%d","revenue":500}}`, i, i, i))
		}
		bought++
	}
	c.segment("/v1/batch", `{"batch":[`+strings.Join(msgs, ",")+`]}`, nil)
	var b variant
	eventually(t, "B's orders attributed", func() bool {
		res = results{}
		c.call("GET", "/v1/journeys/"+jid+"/results", "", nil, &res)
		b = res.Variants[2]
		return b.Converted == count["B"] && b.Revenue == float64(1000*count["B"]+1500)
	})
	if res.Variants[0].Converted != 0 || res.Variants[1].Converted != 0 || b.Lift == nil || b.Lift.Absolute != 1 || b.ConversionRate != 1 {
		t.Errorf("results after B bought: %+v (B %+v)", res, b)
	}

	// An initiative planned on the repeat purchase rate those orders make.
	var created struct {
		Initiative struct {
			InitiativeID string
			State        string
			Baseline     float64
			Plan         struct {
				SampleSizePerArm     int
				ExpectedDurationDays float64
			}
		}
	}
	c.call("POST", "/v1/initiatives", `{"title":"Coupon in the welcome mail","hypothesis":"A coupon brings the second order",
		"kpi":"repeat_purchase_rate","expectedEffect":{"absolute":0.1}}`, nil, &created)
	in := created.Initiative
	if in.State != "PLAN" || in.Baseline != 3/float64(count["B"]) || in.Plan.SampleSizePerArm <= 0 || in.Plan.ExpectedDurationDays <= 0 {
		t.Errorf("plan %+v", in)
	}
	id := in.InitiativeID
	code, body := c.do("POST", "/v1/initiatives/"+id+":advance", `{"decision":"ADOPT"}`, map[string]string{"Authorization": "Bearer " + devKey})
	if code != 400 || !strings.Contains(string(body), "CHECK → ACT") {
		t.Errorf("decision in PLAN: %d %s, want 400 FailedPrecondition", code, body)
	}
	var adv struct {
		Initiative struct {
			State string
			Check struct {
				Variant        string
				AbsoluteEffect float64
			}
		}
	}
	c.call("POST", "/v1/initiatives/"+id+":advance", `{"journeyIds":["`+jid+`"],"actor":"hanako"}`, nil, &adv)
	c.call("POST", "/v1/initiatives/"+id+":advance", `{}`, nil, &adv)
	if adv.Initiative.State != "CHECK" || adv.Initiative.Check.Variant != "B" || adv.Initiative.Check.AbsoluteEffect != 1 {
		t.Errorf("checked: %+v", adv.Initiative)
	}
	// format=markdown is the page itself, ready to paste; format=json
	// holds the same page in its markdown field next to the chart data.
	code, md := c.do("GET", "/v1/initiatives/"+id+"/summary?format=markdown", "", map[string]string{"Authorization": "Bearer " + devKey})
	if code != 200 || !strings.Contains(string(md), "# Coupon in the welcome mail") || !strings.Contains(string(md), "B vs holdout") {
		t.Errorf("markdown summary: status %d:\n%s", code, md)
	}
	var sum struct {
		Markdown string
		Chart    []struct{ Label string }
	}
	c.call("GET", "/v1/initiatives/"+id+"/summary?format=json", "", nil, &sum)
	if len(sum.Chart) == 0 {
		t.Errorf("json summary without chart data: %+v", sum)
	}
}
