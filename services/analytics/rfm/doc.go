// Package rfm scores customers on recency, frequency and monetary value
// (RFM) by quintiles within the scored set: 5 is best (most recent, most
// frequent, highest spend), 1 is worst.
//
// Ties are handled deterministically and independently of input order:
// values are ranked from worst to best, every customer gets the rank of the
// first (worst-placed) member of its tie group ("min" ranking), and the
// score is 1 + ⌊5·rank/n⌋. Equal values therefore always share a score,
// and a large tie group (say the many one-order customers) stays in the
// quintile where it starts instead of being split arbitrarily. The price is
// that quintiles can be uneven, or empty, when ties are large.
package rfm
