package kpi

import (
	"context"
	"errors"
	"fmt"
	"math"
	"sort"
	"strings"
	"time"

	"github.com/kizuna/kizuna/services/analytics/clv"
)

// Settings are the workspace's inputs of the KPI formulas.
type Settings struct {
	// Currency every revenue and cost figure is in; "" adds currencies as
	// recorded.
	Currency string
	// ExchangeRates maps a currency to units of Currency per unit.
	ExchangeRates map[string]float64
	GrossMargin   float64
	// F2WindowDays is the second-purchase window; DefaultF2WindowDays when 0.
	F2WindowDays int
}

// DefaultF2WindowDays is the F2 window of workspaces that set none.
const DefaultF2WindowDays = 30

// Convert returns amount in the workspace currency, false when there is no
// rate for currency. Orders without a currency are taken to be in the
// workspace's.
func (s Settings) Convert(amount float64, currency string) (float64, bool) {
	if s.Currency == "" || currency == "" || currency == s.Currency {
		return amount, true
	}
	rate, ok := s.ExchangeRates[currency]
	if !ok {
		return 0, false
	}
	return amount * rate, true
}

func (s Settings) f2Window() time.Duration {
	d := s.F2WindowDays
	if d <= 0 {
		d = DefaultF2WindowDays
	}
	return time.Duration(d) * 24 * time.Hour
}

// Cost is marketing spend spread evenly over [Start, End).
type Cost struct {
	ID                     string
	Amount                 float64
	Currency, Channel      string
	CampaignID, JourneyID  string
	Start, End, CreateTime time.Time
}

// SurveyAnswer is one stored survey answer.
type SurveyAnswer struct {
	EventID, CustomerID, Survey, Kind string
	Score                             float64
	Comment                           string
	Time                              time.Time
}

// Message statuses: a journey send's final outcome, or an unsubscribe.
const (
	Sent         = "SENT"
	Failed       = "FAILED"
	Unsubscribed = "UNSUBSCRIBED"
)

// Message is a send outcome or an unsubscribe on a channel.
type Message struct {
	CustomerID, Channel, Status string
	Time                        time.Time
}

// Unconverted is revenue left out of every figure for want of an exchange
// rate.
type Unconverted struct {
	Currency string
	Revenue  float64
	Orders   int64
}

// Source is what computations read. Every method reads one workspace.
type Source interface {
	OrderLog
	ScanSurveyAnswers(ctx context.Context, ws string, from, to time.Time, fn func(SurveyAnswer)) error
	Costs(ctx context.Context, ws string) ([]Cost, error)
	ScanMessages(ctx context.Context, ws string, from, to time.Time, fn func(Message)) error
	Settings(ctx context.Context, ws string) (Settings, error)
	// ResolveMembers turns segment member ids into live customer ids
	// (merged ids become their survivors).
	ResolveMembers(ctx context.Context, ws string, ids []string) (map[string]struct{}, error)
}

// Period is one span a KPI is computed over: [Start, End), and the
// previous period [PrevStart, Start) that churn and retention compare it
// with. Zero Start or End are open; a zero PrevStart means no previous
// period.
type Period struct {
	Start, End, PrevStart time.Time
}

// needs says which data a KPI reads.
type needs uint8

const (
	needOrders needs = 1 << iota
	needCustomers
	needSurveys
	needCosts
	needCLV
	needMessages
)

// dataset is one workspace's (or segment's) data, loaded once per call.
type dataset struct {
	settings Settings
	// set holds the workspace's orders (read-locked until release), nil
	// when no KPI needs them.
	set *orderSet
	// scope marks, by customer index, the customers in scope; nil is
	// everyone.
	scope []bool
	// rates converts each of set's currencies to the workspace's; 0 when
	// there is no rate.
	rates       []float64
	answers     []SurveyAnswer
	costs       []Cost
	messages    []Message
	unconverted map[string]*Unconverted
	clvCache    map[int64]float64
	cur, prev   scratch
}

// release unlocks the cached orders.
func (d *dataset) release() {
	if d.set != nil {
		d.set.mu.RUnlock()
		d.set = nil
	}
}

// counts reports whether o is in scope and convertible.
func (d *dataset) counts(o order) bool {
	return (d.scope == nil || d.scope[o.customer]) && d.rates[o.currency] != 0
}

func (c *Calculator) load(ctx context.Context, ws string, members map[string]struct{}, channel string, n needs, from, to time.Time) (_ *dataset, err error) {
	in := func(id string) bool {
		if members == nil {
			return true
		}
		_, ok := members[id]
		return ok
	}
	settings, err := c.src.Settings(ctx, ws)
	if err != nil {
		return nil, err
	}
	d := &dataset{settings: settings, unconverted: map[string]*Unconverted{}, clvCache: map[int64]float64{}}
	defer func() {
		if err != nil {
			d.release()
		}
	}()
	if n&(needOrders|needCLV|needCosts|needCustomers) != 0 {
		if d.set, err = c.cache.get(ctx, c.src, ws); err != nil {
			return nil, err
		}
		set := d.set
		if members != nil {
			d.scope = make([]bool, len(set.names))
			for id := range members {
				if i, ok := set.ids[id]; ok {
					d.scope[i] = true
				}
			}
		}
		d.rates = make([]float64, len(set.currencies))
		unconvertible := false
		for i, cur := range set.currencies {
			if v, ok := settings.Convert(1, cur); ok {
				d.rates[i] = v
			} else {
				unconvertible = true
			}
		}
		if unconvertible {
			for _, o := range set.orders {
				if d.rates[o.currency] != 0 || (d.scope != nil && !d.scope[o.customer]) {
					continue
				}
				cur := set.currencies[o.currency]
				u := d.unconverted[cur]
				if u == nil {
					u = &Unconverted{Currency: cur}
					d.unconverted[cur] = u
				}
				u.Revenue += o.revenue
				u.Orders++
			}
		}
		d.cur, d.prev = newScratch(len(set.names)), newScratch(len(set.names))
	}
	if n&needSurveys != 0 {
		err := c.src.ScanSurveyAnswers(ctx, ws, from, to, func(a SurveyAnswer) {
			if in(a.CustomerID) {
				d.answers = append(d.answers, a)
			}
		})
		if err != nil {
			return nil, err
		}
	}
	if n&needCosts != 0 {
		costs, err := c.src.Costs(ctx, ws)
		if err != nil {
			return nil, err
		}
		for _, cost := range costs {
			if channel == "" || strings.EqualFold(cost.Channel, channel) {
				d.costs = append(d.costs, cost)
			}
		}
	}
	if n&needMessages != 0 {
		err := c.src.ScanMessages(ctx, ws, from, to, func(m Message) {
			if in(m.CustomerID) && (channel == "" || strings.EqualFold(m.Channel, channel)) {
				d.messages = append(d.messages, m)
			}
		})
		if err != nil {
			return nil, err
		}
	}
	return d, nil
}

func compareInt(a, b int64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// span is a period in Unix microseconds, open ends as the int64 extremes.
type span struct{ from, to int64 }

func spanOf(start, end time.Time) span {
	s := span{from: math.MinInt64, to: math.MaxInt64}
	if !start.IsZero() {
		s.from = start.UnixMicro()
	}
	if !end.IsZero() {
		s.to = end.UnixMicro()
	}
	return s
}

// scratch accumulates one period's purchases per customer index without
// maps: stamp[c] == id marks c as a buyer of period id.
type scratch struct {
	id      int32
	stamp   []int32
	orders  []int32
	revenue []float64
	buyers  []int32
}

func newScratch(n int) scratch {
	s := scratch{stamp: make([]int32, n), orders: make([]int32, n), revenue: make([]float64, n)}
	for i := range s.stamp {
		s.stamp[i] = -1
	}
	return s
}

// purchases aggregates the counted orders in s per customer into sc.
func (d *dataset) purchases(s span, sc *scratch) {
	orders := d.set.orders
	lo := sort.Search(len(orders), func(i int) bool { return orders[i].at >= s.from })
	hi := sort.Search(len(orders), func(i int) bool { return orders[i].at >= s.to })
	sc.id++
	sc.buyers = sc.buyers[:0]
	for _, o := range orders[lo:hi] {
		if !d.counts(o) {
			continue
		}
		c := o.customer
		if sc.stamp[c] != sc.id {
			sc.stamp[c], sc.orders[c], sc.revenue[c] = sc.id, 0, 0
			sc.buyers = append(sc.buyers, c)
		}
		sc.orders[c]++
		sc.revenue[c] += o.revenue * d.rates[o.currency]
	}
}

// totals computes every aggregate of one period that n asks for.
func (d *dataset) totals(p Period, n needs) (Totals, error) {
	s := spanOf(p.Start, p.End)
	t := Totals{GrossMargin: d.settings.GrossMargin}
	if n&needCustomers != 0 {
		for c, at := range d.set.seen {
			if at < s.to && (d.scope == nil || d.scope[c]) {
				t.Customers++
			}
		}
	}
	if n&(needOrders|needCosts) != 0 {
		f2 := d.settings.f2Window().Microseconds()
		first, second := d.set.first, d.set.second
		cur := &d.cur
		d.purchases(s, cur)
		for _, c := range cur.buyers {
			t.PurchasingCustomers++
			t.Orders += int64(cur.orders[c])
			t.Revenue += cur.revenue[c]
			if cur.orders[c] >= 2 {
				t.RepeatCustomers++
			}
			if first[c] >= s.from {
				t.NewCustomers++
				t.NewRevenue += cur.revenue[c]
				if second[c] != math.MaxInt64 && second[c]-first[c] <= f2 {
					t.F2Customers++
				}
			} else {
				t.ReturningCustomers++
				t.ReturningRevenue += cur.revenue[c]
			}
		}
		if !p.PrevStart.IsZero() && s.from != math.MinInt64 {
			prev := &d.prev
			d.purchases(span{from: p.PrevStart.UnixMicro(), to: s.from}, prev)
			for _, c := range prev.buyers {
				t.PreviousPurchasers++
				if cur.stamp[c] == cur.id {
					t.RetainedCustomers++
				}
			}
		}
	}
	if n&needSurveys != 0 {
		for _, a := range d.answers {
			us := a.Time.UnixMicro()
			if us < s.from || us >= s.to {
				continue
			}
			switch a.Kind {
			case "nps":
				t.NPSResponses++
				if a.Score >= 9 {
					t.Promoters++
				} else if a.Score <= 6 {
					t.Detractors++
				}
			case "csat":
				t.CSATResponses++
				if a.Score >= 4 {
					t.Satisfied++
				}
			}
		}
	}
	if n&needCosts != 0 {
		t.Cost = d.spend(s)
	}
	for _, m := range d.messages {
		if us := m.Time.UnixMicro(); us < s.from || us >= s.to {
			continue
		}
		switch m.Status {
		case Sent:
			t.Sends++
		case Failed:
			t.FailedSends++
		case Unsubscribed:
			t.Unsubscribes++
		}
	}
	if n&needCLV != 0 {
		v, err := d.predictedCLV(s.to)
		if err != nil {
			return Totals{}, err
		}
		t.PredictedCLV = v
	}
	return t, nil
}

// spend is the cost falling in s, each cost spread evenly over its period.
func (d *dataset) spend(s span) float64 {
	var sum float64
	for _, c := range d.costs {
		amount, ok := d.settings.Convert(c.Amount, c.Currency)
		if !ok {
			continue
		}
		from, to := c.Start.UnixMicro(), c.End.UnixMicro()
		lo, hi := max(from, s.from), min(to, s.to)
		if hi <= lo || to <= from {
			continue
		}
		sum += amount * float64(hi-lo) / float64(to-from)
	}
	return sum
}

// clvHorizonWeeks is the horizon of predicted_clv: one year.
const clvHorizonWeeks = 52

// predictedCLV fits BG/NBD and Gamma-Gamma to the orders before end and
// returns the mean discounted one-year CLV of the customers who ordered. A
// scope too small to fit gives 0, like the other KPIs of an empty scope.
func (d *dataset) predictedCLV(end int64) (float64, error) {
	if end == math.MaxInt64 {
		end = time.Now().UnixMicro()
	}
	if v, ok := d.clvCache[end]; ok {
		return v, nil
	}
	var txs []clv.Transaction
	for _, o := range d.set.orders {
		if o.at >= end {
			break
		}
		if d.counts(o) {
			txs = append(txs, clv.Transaction{CustomerID: d.set.names[o.customer], Time: time.UnixMicro(o.at).UTC(), Amount: o.revenue * d.rates[o.currency]})
		}
	}
	v, err := meanCLV(txs, time.UnixMicro(end-1).UTC())
	if err != nil {
		return 0, err
	}
	d.clvCache[end] = v
	return v, nil
}

func meanCLV(txs []clv.Transaction, calibrationEnd time.Time) (float64, error) {
	if len(txs) == 0 {
		return 0, nil
	}
	sums, err := clv.Summarize(txs, calibrationEnd, clv.Week)
	if err != nil {
		return 0, fmt.Errorf("predicted clv: %w", err)
	}
	models, err := clv.FitModels(sums)
	if errors.Is(err, clv.ErrNotEnoughData) || errors.Is(err, clv.ErrNotConverged) {
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("predicted clv: %w", err)
	}
	preds, err := models.Predict(sums, clv.PredictOptions{Horizon: clvHorizonWeeks, Period: clv.Week, MonthlyDiscount: clv.DefaultMonthlyDiscount})
	if err != nil {
		return 0, fmt.Errorf("predicted clv: %w", err)
	}
	var total float64
	for _, p := range preds {
		total += p.CLV
	}
	return total / float64(len(preds)), nil
}
