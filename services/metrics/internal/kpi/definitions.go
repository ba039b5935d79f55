package kpi

import (
	"slices"
	"strings"
)

// Totals are the aggregates every KPI is computed from, over one period.
type Totals struct {
	// Customers is the number of customers in scope (all customers of the
	// workspace, or the segment's current members) first seen before the
	// period ends.
	Customers int64
	// PurchasingCustomers had at least one order in the period.
	PurchasingCustomers int64
	// RepeatCustomers had at least two orders in the period.
	RepeatCustomers int64
	// Orders counts distinct orders in the period.
	Orders int64
	// Revenue sums the revenue of those orders.
	Revenue float64
	// NewCustomers made their first purchase ever in the period;
	// ReturningCustomers purchased in it and before it.
	NewCustomers, ReturningCustomers int64
	NewRevenue, ReturningRevenue     float64
	// PreviousPurchasers purchased in the previous period; RetainedCustomers
	// are those of them who purchased in this one too.
	PreviousPurchasers, RetainedCustomers int64
	// F2Customers are new customers whose second purchase came within the
	// F2 window of their first.
	F2Customers int64
	// Survey answers in the period.
	NPSResponses, Promoters, Detractors int64
	CSATResponses, Satisfied            int64
	// Cost is the marketing spend falling in the period.
	Cost float64
	// Journey sends that ended SENT or FAILED in the period, and
	// unsubscribes (Unsubscribed events, LINE unfollows).
	Sends, FailedSends, Unsubscribes int64
	// GrossMargin is the workspace setting.
	GrossMargin float64
	// PredictedCLV is the mean predicted one-year CLV of customers who
	// ordered before the period's end.
	PredictedCLV float64
}

// Units of KPI values.
const (
	UnitCurrency = "currency"
	UnitCount    = "count"
	UnitRatio    = "ratio"
	UnitScore    = "score"
	UnitMultiple = "multiple"
)

// Definition is one KPI: its name, a one-sentence definition and its
// formula.
type Definition struct {
	Name        string
	Description string
	Unit        string
	needs       needs
	value       func(Totals) float64
}

// Value computes the KPI from t.
func (d Definition) Value(t Totals) float64 { return d.value(t) }

// ratio divides, defining x/0 as 0: a scope without orders or purchasers has
// no average, and 0 is what dashboards expect to plot instead of NaN (which
// JSON cannot even carry).
func ratio(num, den float64) float64 {
	if den == 0 {
		return 0
	}
	return num / den
}

func aov(t Totals) float64       { return ratio(t.Revenue, float64(t.Orders)) }
func frequency(t Totals) float64 { return ratio(float64(t.Orders), float64(t.PurchasingCustomers)) }
func ltv(t Totals) float64       { return ratio(t.Revenue, float64(t.PurchasingCustomers)) }
func churn(t Totals) float64 {
	if t.PreviousPurchasers == 0 {
		return 0
	}
	return 1 - ratio(float64(t.RetainedCustomers), float64(t.PreviousPurchasers))
}
func cac(t Totals) float64 { return ratio(t.Cost, float64(t.NewCustomers)) }

// definitions is ordered as ListKpis returns them.
var definitions = []Definition{
	{
		Name:        "customer_count",
		Description: "Number of customers in scope (all customers of the workspace, or the segment's current members) first seen before the end of the period.",
		Unit:        UnitCount, needs: needCustomers,
		value: func(t Totals) float64 { return float64(t.Customers) },
	},
	{
		Name:        "revenue",
		Description: "Sum of the revenue of orders in the period, in the workspace currency (other currencies converted with the workspace's exchange rates; without a rate reported apart, not added).",
		Unit:        UnitCurrency, needs: needOrders,
		value: func(t Totals) float64 { return t.Revenue },
	},
	{
		Name:        "order_count",
		Description: "Number of distinct orders in the period (an order resent under a new message id counts once).",
		Unit:        UnitCount, needs: needOrders,
		value: func(t Totals) float64 { return float64(t.Orders) },
	},
	{
		Name:        "aov",
		Description: "Average order value: revenue divided by order count in the period, 0 when there are no orders.",
		Unit:        UnitCurrency, needs: needOrders,
		value: aov,
	},
	{
		Name:        "purchase_frequency",
		Description: "Orders per purchasing customer (a customer with at least one order in the period), 0 when no one purchased.",
		Unit:        UnitMultiple, needs: needOrders,
		value: frequency,
	},
	{
		Name:        "repeat_purchase_rate",
		Description: "Share of purchasing customers with two or more orders in the period, from 0 to 1, 0 when no one purchased.",
		Unit:        UnitRatio, needs: needOrders,
		value: func(t Totals) float64 { return ratio(float64(t.RepeatCustomers), float64(t.PurchasingCustomers)) },
	},
	{
		Name:        "historical_ltv",
		Description: "Historical lifetime value: revenue in the period divided by purchasing customers (revenue per customer), 0 when no one purchased.",
		Unit:        UnitCurrency, needs: needOrders,
		value: ltv,
	},
	{
		Name:        "purchasing_customers",
		Description: "Customers with at least one order in the period (new_customers + returning_customers).",
		Unit:        UnitCount, needs: needOrders,
		value: func(t Totals) float64 { return float64(t.PurchasingCustomers) },
	},
	{
		Name:        "new_customers",
		Description: "Customers whose first purchase ever falls in the period.",
		Unit:        UnitCount, needs: needOrders,
		value: func(t Totals) float64 { return float64(t.NewCustomers) },
	},
	{
		Name:        "returning_customers",
		Description: "Customers who purchased in the period and also before it.",
		Unit:        UnitCount, needs: needOrders,
		value: func(t Totals) float64 { return float64(t.ReturningCustomers) },
	},
	{
		Name:        "new_customer_revenue",
		Description: "Revenue in the period from new customers.",
		Unit:        UnitCurrency, needs: needOrders,
		value: func(t Totals) float64 { return t.NewRevenue },
	},
	{
		Name:        "returning_customer_revenue",
		Description: "Revenue in the period from returning customers.",
		Unit:        UnitCurrency, needs: needOrders,
		value: func(t Totals) float64 { return t.ReturningRevenue },
	},
	{
		Name:        "retention_rate",
		Description: "Of the customers who purchased in the previous period (the one of the same length just before: the previous day, week or month of a series), the share who purchased in this one, from 0 to 1; 0 when no one purchased in the previous period.",
		Unit:        UnitRatio, needs: needOrders,
		value: func(t Totals) float64 { return ratio(float64(t.RetainedCustomers), float64(t.PreviousPurchasers)) },
	},
	{
		Name:        "churn_rate",
		Description: "Of the customers who purchased in the previous period, the share who did not purchase in this one: 1 - retention_rate; 0 when no one purchased in the previous period.",
		Unit:        UnitRatio, needs: needOrders,
		value: churn,
	},
	{
		Name:        "f2_conversion_rate",
		Description: "Of the new customers of the period, the share whose second purchase came within the F2 window (a workspace setting, 30 days by default) of their first.",
		Unit:        UnitRatio, needs: needOrders,
		value: func(t Totals) float64 { return ratio(float64(t.F2Customers), float64(t.NewCustomers)) },
	},
	{
		Name:        "ltv_formula",
		Description: "LTV as average order value × purchase frequency × expected lifetime, the lifetime being 1 ÷ churn_rate periods; 0 when churn is 0.",
		Unit:        UnitCurrency, needs: needOrders,
		value: func(t Totals) float64 { return ratio(aov(t)*frequency(t), churn(t)) },
	},
	{
		Name:        "ltv_margin",
		Description: "LTV as average order value × gross margin (a workspace setting) ÷ churn_rate; 0 when churn is 0.",
		Unit:        UnitCurrency, needs: needOrders,
		value: func(t Totals) float64 { return ratio(aov(t)*t.GrossMargin, churn(t)) },
	},
	{
		Name:        "predicted_clv",
		Description: "Mean predicted CLV over the next 52 weeks (BG/NBD purchases × Gamma-Gamma spend, discounted 1% a month) of the customers who ordered before the end of the period, fitted on those orders; 0 when the models cannot be fitted.",
		Unit:        UnitCurrency, needs: needCLV,
		value: func(t Totals) float64 { return t.PredictedCLV },
	},
	{
		Name:        "nps",
		Description: "Net Promoter Score of the NPS answers (Survey Answered events, scores 0–10) in the period: percent promoters (9–10) minus percent detractors (0–6), from -100 to 100.",
		Unit:        UnitScore, needs: needSurveys,
		value: func(t Totals) float64 {
			return 100 * ratio(float64(t.Promoters-t.Detractors), float64(t.NPSResponses))
		},
	},
	{
		Name:        "csat",
		Description: "Customer satisfaction: percent of CSAT answers (Survey Answered events, scores 1–5) in the period that are 4 or 5.",
		Unit:        UnitScore, needs: needSurveys,
		value: func(t Totals) float64 { return 100 * ratio(float64(t.Satisfied), float64(t.CSATResponses)) },
	},
	{
		Name:        "survey_responses",
		Description: "Number of NPS and CSAT answers in the period.",
		Unit:        UnitCount, needs: needSurveys,
		value: func(t Totals) float64 { return float64(t.NPSResponses + t.CSATResponses) },
	},
	{
		Name:        "marketing_cost",
		Description: "Marketing spend falling in the period, each cost spread evenly over its own period.",
		Unit:        UnitCurrency, needs: needCosts,
		value: func(t Totals) float64 { return t.Cost },
	},
	{
		Name:        "cac",
		Description: "Customer acquisition cost: marketing_cost ÷ new_customers in the period; 0 when there are no new customers.",
		Unit:        UnitCurrency, needs: needCosts,
		value: cac,
	},
	{
		Name:        "ltv_to_cac",
		Description: "historical_ltv ÷ cac in the period; 0 when cac is 0.",
		Unit:        UnitMultiple, needs: needCosts,
		value: func(t Totals) float64 { return ratio(ltv(t), cac(t)) },
	},
	{
		Name:        "sends",
		Description: "Journey messages the channel accepted (sends that ended SENT) in the period; with a channel, on that channel only.",
		Unit:        UnitCount, needs: needMessages,
		value: func(t Totals) float64 { return float64(t.Sends) },
	},
	{
		Name:        "delivery_rate",
		Description: "Share of journey sends that ended in the period that the channel accepted: SENT ÷ (SENT + FAILED), from 0 to 1.",
		Unit:        UnitRatio, needs: needMessages,
		value: func(t Totals) float64 { return ratio(float64(t.Sends), float64(t.Sends+t.FailedSends)) },
	},
	{
		Name:        "unsubscribe_rate",
		Description: "Unsubscribes in the period (Unsubscribed events by properties.channel, LINE unfollows) ÷ sends in the period; 0 without sends.",
		Unit:        UnitRatio, needs: needMessages,
		value: func(t Totals) float64 { return ratio(float64(t.Unsubscribes), float64(t.Sends)) },
	},
	{
		Name:        "allowable_cpa",
		Description: "The most a new customer may cost to break even: historical_ltv × gross margin (a workspace setting).",
		Unit:        UnitCurrency, needs: needOrders,
		value: func(t Totals) float64 { return ltv(t) * t.GrossMargin },
	},
}

// Definitions returns every KPI, in a stable order.
func Definitions() []Definition { return slices.Clone(definitions) }

// Names returns the KPI names, in the order of Definitions.
func Names() []string {
	names := make([]string, len(definitions))
	for i, d := range definitions {
		names[i] = d.Name
	}
	return names
}

// Lookup returns the KPI called name.
func Lookup(name string) (Definition, bool) {
	i := slices.IndexFunc(definitions, func(d Definition) bool { return d.Name == name })
	if i < 0 {
		return Definition{}, false
	}
	return definitions[i], true
}

// validNames is the list quoted in unknown-KPI errors.
func validNames() string { return strings.Join(Names(), ", ") }
