package kpi

import (
	"slices"
	"strings"
)

// Totals are the aggregates every KPI is computed from.
type Totals struct {
	// Customers is the number of customers in scope: every customer of the
	// workspace, or the segment's current members. The time range does not
	// restrict it.
	Customers int64
	// PurchasingCustomers had at least one order in range.
	PurchasingCustomers int64
	// RepeatCustomers had at least two orders in range.
	RepeatCustomers int64
	// Orders counts distinct orders in range.
	Orders int64
	// Revenue sums the revenue of those orders.
	Revenue float64
}

// Definition is one KPI: its name, a one-sentence definition and its
// formula.
type Definition struct {
	Name        string
	Description string
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

// definitions is ordered as ListKpis returns them.
var definitions = []Definition{
	{
		Name:        "customer_count",
		Description: "Number of customers in scope (all customers of the workspace, or the segment's current members); the time range does not apply.",
		value:       func(t Totals) float64 { return float64(t.Customers) },
	},
	{
		Name:        "revenue",
		Description: "Sum of the revenue of orders in the time range, added across currencies as recorded (no conversion).",
		value:       func(t Totals) float64 { return t.Revenue },
	},
	{
		Name:        "order_count",
		Description: "Number of distinct orders in the time range (an order resent under a new message id counts once).",
		value:       func(t Totals) float64 { return float64(t.Orders) },
	},
	{
		Name:        "aov",
		Description: "Average order value: revenue divided by order count in the time range, 0 when there are no orders.",
		value:       func(t Totals) float64 { return ratio(t.Revenue, float64(t.Orders)) },
	},
	{
		Name:        "purchase_frequency",
		Description: "Orders per purchasing customer (a customer with at least one order in the time range), 0 when no one purchased.",
		value:       func(t Totals) float64 { return ratio(float64(t.Orders), float64(t.PurchasingCustomers)) },
	},
	{
		Name:        "repeat_purchase_rate",
		Description: "Share of purchasing customers with two or more orders in the time range, from 0 to 1, 0 when no one purchased.",
		value:       func(t Totals) float64 { return ratio(float64(t.RepeatCustomers), float64(t.PurchasingCustomers)) },
	},
	{
		Name:        "historical_ltv",
		Description: "Historical lifetime value: revenue in the time range divided by purchasing customers, 0 when no one purchased.",
		value:       func(t Totals) float64 { return ratio(t.Revenue, float64(t.PurchasingCustomers)) },
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
