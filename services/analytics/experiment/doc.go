// Package experiment provides the statistics behind A/B test read-outs:
// two-proportion z-tests with confidence intervals on absolute and relative
// lift, an exact Bayesian beta-binomial comparison with expected loss,
// Welch's t-test from aggregates, delta-method tests for ratio metrics,
// sample-ratio-mismatch detection and sample-size planning.
//
// Every function takes aggregates (counts, sums, sums of squares) rather
// than raw observations, so callers can feed them straight from SQL or a
// metrics store. Tests are two-sided.
package experiment
