// Package kpi defines the KPIs the metrics service computes and computes
// them for a workspace, or for one segment's current members, over a time
// range.
//
// Every KPI is a function of the same few totals over the orders in range
// (orders, revenue, purchasing customers, repeat customers) and the number
// of customers in scope, so a computation is one aggregate read from the
// store followed by a formula from the definitions table. That table is the
// single source of truth: it drives validation, ListKpis and computation.
package kpi
