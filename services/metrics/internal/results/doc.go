// Package results attributes conversions and revenue to a journey's
// experiment arms and compares each arm with the control: the holdout when
// the journey has one, else its first variant.
//
// A customer's exposure is the first send outcome of the journey that
// carries an arm (ledger.Exposure): the send time, or for a holdout
// customer the time the send would have gone out. A conversion is the goal
// event within the attribution window after exposure; revenue is the
// customer's order revenue in that window; the CUPED covariate is the
// order revenue in the 30 days before exposure. Every statistic comes from
// the analytics experiment package; this package only counts.
package results
