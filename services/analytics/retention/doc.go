// Package retention computes descriptive retention metrics from order
// history: period churn and retention rates, monthly cohort retention
// tables, repeat-purchase rate and F2 (second-purchase) conversion.
//
// Calendar months are taken in each timestamp's own location, so callers
// decide the reporting time zone by converting times before passing them.
package retention
