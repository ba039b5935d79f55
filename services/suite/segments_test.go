package suite_test

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"
)

// walkSegments writes the README's segments over REST: dormant customers,
// "bought A recently", lifecycle stages, an aggregate, a preview, a rule
// change, the RFM grid and the built-in segments, on shop data whose
// answers are known.
func walkSegments(t *testing.T, c *client) {
	now := time.Now().UTC()
	ago := func(days int) string { return now.Add(-time.Duration(days) * 24 * time.Hour).Format(time.RFC3339) }
	order := func(user, id string, days int, revenue float64, props string) string {
		return fmt.Sprintf(`{"type":"track","messageId":"seg-%s","userId":%q,"event":"Order Completed","timestamp":%q,
			"properties":{"order_id":%q,"revenue":%v%s}}`, id, user, ago(days), id, revenue, props)
	}
	batch := strings.Join([]string{
		order("seg-a", "a1", 10, 3000, `,"category":"Ａ","products":[{"sku":"A-100"},{"sku":"B-7"}]`),
		order("seg-b", "b1", 120, 5000, `,"category":"B"`),
		order("seg-c", "c1", 400, 2000, ""),
		order("seg-c", "c2", 300, 2000, ""),
		order("seg-d", "d1", 150, 1000, ""),
		order("seg-d", "d2", 5, 1000, ""),
		order("seg-e", "e1", 20, 6000, `,"category":"B"`),
		order("seg-e", "e2", 3, 6000, `,"category":"B"`),
		`{"type":"identify","messageId":"seg-i1","userId":"seg-a","traits":{"plan":" Pro "}}`,
		`{"type":"identify","messageId":"seg-i2","userId":"seg-b","traits":{"age":"４５"}}`,
		`{"type":"identify","messageId":"seg-i3","userId":"seg-c","traits":{"plan":"free","age":39}}`,
	}, ",")
	c.segment("/v1/batch", `{"batch":[`+batch+`]}`, nil)
	ids := map[string]string{}
	for _, u := range []string{"seg-a", "seg-b", "seg-c", "seg-d", "seg-e"} {
		eventually(t, u+" known", func() bool {
			code, b := c.do("GET", "/v1/customers:lookup?user_id="+u, "", bearer)
			var p struct{ Customer struct{ CustomerID string } }
			if code != 200 || json.Unmarshal(b, &p) != nil {
				return false
			}
			ids[u] = p.Customer.CustomerID
			return true
		})
	}
	stage := func(u string) string { // "" until segmentation has seen the customer
		var f struct {
			Features struct{ LifecycleStage string }
		}
		code, b := c.do("GET", "/v1/customers/"+ids[u]+"/features", "", bearer)
		if code != 200 || json.Unmarshal(b, &f) != nil {
			return ""
		}
		return f.Features.LifecycleStage
	}
	for u, want := range map[string]string{"seg-a": "NEW", "seg-b": "DORMANT", "seg-c": "CHURNED", "seg-d": "RETURNED", "seg-e": "F2"} {
		eventually(t, u+" stage "+want, func() bool { return stage(u) == "LIFECYCLE_STAGE_"+want })
	}
	ours := func(members []string) []string {
		var out []string
		for u, id := range ids {
			if slices.Contains(members, id) {
				out = append(out, u)
			}
		}
		slices.Sort(out)
		return out
	}
	create := func(body string) (id string, members []string) {
		var s struct{ Segment struct{ SegmentID string } }
		c.call("POST", "/v1/segments", body, nil, &s)
		return s.Segment.SegmentID, c.members(s.Segment.SegmentID)
	}
	check := func(what string, got, want []string) {
		t.Helper()
		if !slices.Equal(got, want) {
			t.Errorf("%s: members %v, want %v", what, got, want)
		}
	}

	dormant, m := create(`{"displayName":"休眠顧客","rule":{"all":[
		{"event":{"event":"Order Completed","minCount":1}},
		{"not":{"event":{"event":"Order Completed","withinDays":90}}}]}}`)
	check("dormant", ours(m), []string{"seg-b", "seg-c"})
	_, m = create(`{"displayName":"Bought A","rule":{"event":{"event":"Order Completed","withinDays":30,
		"where":[{"property":"category","op":"EQUALS","value":"A"}]}}}`)
	check("bought A recently (full-width Ａ folded)", ours(m), []string{"seg-a"})
	_, m = create(`{"displayName":"SKU","rule":{"event":{"event":"Order Completed",
		"where":[{"property":"properties.products[].sku","op":"IN","values":["a-100","Z"]}]}}}`)
	check("sku in an array of products", ours(m), []string{"seg-a"})
	_, m = create(`{"displayName":"Big spenders","rule":{"event":{"event":"Order Completed","withinDays":365,
		"aggregate":{"property":"revenue","fn":"SUM","op":"GTE","value":"10000"}}}}`)
	check("sum of revenue", ours(m), []string{"seg-e"})
	_, m = create(`{"displayName":"Pro or 40+","rule":{"any":[{"trait":{"key":"plan","op":"IN","values":["pro","team"]}},
		{"trait":{"key":"age","op":"GTE","value":"40"}}]}}`)
	check("trait operators with folding (\" Pro \", full-width ４５)", ours(m), []string{"seg-a", "seg-b"})
	_, m = create(`{"displayName":"At risk","rule":{"rfm":{"recency":{"max":2},"frequency":{"min":4}}}}`)
	for _, id := range m {
		var f struct {
			Features struct{ RecencyScore, FrequencyScore int }
		}
		c.call("GET", "/v1/customers/"+id+"/features", "", nil, &f)
		if f.Features.RecencyScore > 2 || f.Features.FrequencyScore < 4 {
			t.Errorf("at risk holds %s with scores %+v", id, f.Features)
		}
	}
	_, m = create(`{"displayName":"F2 or returned","rule":{"lifecycle":{"stages":["LIFECYCLE_STAGE_F2","LIFECYCLE_STAGE_RETURNED"]}}}`)
	check("lifecycle", ours(m), []string{"seg-d", "seg-e"})
	_, m = create(`{"displayName":"Not in dormant","rule":{"all":[{"segment":{"segmentId":"` + dormant + `"}},
		{"event":{"event":"Order Completed","maxCount":1}}]}}`)
	check("segment reference and maxCount", ours(m), []string{"seg-b"})

	var preview struct {
		Size              string
		SampleCustomerIds []string
	}
	c.call("POST", "/v1/segments:preview", `{"rule":{"lifecycle":{"stages":["LIFECYCLE_STAGE_CHURNED"]}},"sampleSize":5}`, nil, &preview)
	if !slices.Contains(preview.SampleCustomerIds, ids["seg-c"]) {
		t.Errorf("preview of churned = %+v, want seg-c (%s) among them", preview, ids["seg-c"])
	}

	// A wider "dormant" window: seg-b (120 days) is no longer dormant.
	c.call("PATCH", "/v1/segments/"+dormant, `{"rule":{"all":[
		{"event":{"event":"Order Completed","minCount":1}},
		{"not":{"event":{"event":"Order Completed","withinDays":150}}}]}}`, nil, nil)
	check("dormant after PATCH", ours(c.members(dormant)), []string{"seg-c"})

	code, body := c.do("POST", "/v1/segments", `{"displayName":"bad","rule":{"all":[{"event":{"event":"x"}},
		{"not":{"event":{"event":"x","withinDays":4000}}}]}}`, bearer)
	if code != 400 || !strings.Contains(string(body), "segment.rule.all[1].not.event.within_days") {
		t.Errorf("bad rule: status %d %s, want 400 naming segment.rule.all[1].not.event.within_days", code, body)
	}

	var grid struct {
		Cells     []struct{ RecencyScore, FrequencyScore int }
		Customers string
	}
	c.call("GET", "/v1/rfm:grid", "", nil, &grid)
	if len(grid.Cells) != 25 || grid.Customers == "" || grid.Customers == "0" {
		t.Errorf("rfm grid = %+v, want 25 cells over the buyers", grid)
	}
	var list struct{ Segments []struct{ SegmentID string } }
	c.call("GET", "/v1/segments?pageSize=500", "", nil, &list)
	for _, id := range []string{"rfm_champions", "rfm_at_risk", "rfm_lost", "lifecycle_dormant"} {
		if !slices.ContainsFunc(list.Segments, func(s struct{ SegmentID string }) bool { return s.SegmentID == id }) {
			t.Errorf("GET /v1/segments lacks the built-in %s", id)
		}
	}

	// Moving the dormant mark past seg-b's 120 days makes it new again.
	c.call("PATCH", "/v1/lifecycleSettings", `{"dormantDays":130}`, nil, nil)
	if got := stage("seg-b"); got != "LIFECYCLE_STAGE_NEW" {
		t.Errorf("seg-b with dormantDays 130: %s, want NEW", got)
	}
	check("lifecycle_dormant members", ours(c.members("lifecycle_dormant")), nil)

	// A computed trait, read on the customer and used in a rule.
	c.call("POST", "/v1/computedTraits", `{"key":"revenue_365d","event":"Order Completed","property":"revenue","fn":"SUM","withinDays":365}`, nil, nil)
	var feats struct {
		Features struct{ ComputedTraits map[string]float64 }
	}
	c.call("GET", "/v1/customers/"+ids["seg-e"]+"/features", "", nil, &feats)
	if got := feats.Features.ComputedTraits["revenue_365d"]; got != 12000 {
		t.Errorf("seg-e revenue_365d = %v, want 12000", got)
	}
	_, m = create(`{"displayName":"365d ≥ 5000","rule":{"computed":{"key":"revenue_365d","op":"GTE","value":"5000"}}}`)
	check("computed trait rule", ours(m), []string{"seg-b", "seg-e"})

	// Predictions need more shop than this: the service says so.
	if code, body := c.do("POST", "/v1/predictions:fit", `{}`, bearer); code != 400 || !strings.Contains(string(body), `"code":9`) {
		t.Errorf("fit on a tiny shop: status %d %s, want FailedPrecondition", code, body)
	}
	_, m = create(`{"displayName":"slipping","rule":{"predicted":{"trait":"probability_alive","op":"LT","value":"0.3"}}}`)
	check("predicted without a fit", ours(m), nil)

	// Stage counts over time: seg-b entered "dormant" today and left it.
	var sizes struct {
		Sizes []struct{ Time, Size, Joined, Left string }
	}
	c.call("GET", "/v1/segments/lifecycle_dormant/sizes?granularity=DAY", "", nil, &sizes)
	if n := len(sizes.Sizes); n != 30 || sizes.Sizes[n-1].Joined == "" || sizes.Sizes[n-1].Left == "" {
		t.Errorf("dormant sizes = %+v, want 30 days ending today with joins and leaves", sizes)
	}
}

// members lists a segment's members (first page of 10,000).
func (c *client) members(segID string) []string {
	var m struct{ Members []struct{ CustomerID string } }
	c.call("GET", "/v1/segments/"+segID+"/members?pageSize=10000", "", nil, &m)
	var out []string
	for _, x := range m.Members {
		out = append(out, x.CustomerID)
	}
	return out
}
