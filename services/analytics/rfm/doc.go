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
//
// Recency is scored from the other end: the days since the last purchase
// are ranked that way (longest ago best) and R is 6 minus that score, so a
// recency tie shares the score of its most recent place. Recency is counted
// in whole days, so its large ties are the many customers who bought on one
// day — typically today, in a sale or a new shop — and they are as recent as
// anyone: ranked like the others, a shop whose customers all bought today
// would score every one of them R1 (Lost). Frequency and monetary ties sit
// at the bottom (one order, small spend), where "min" ranking keeps them.
package rfm
