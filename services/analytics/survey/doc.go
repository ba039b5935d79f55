// Package survey scores customer-feedback surveys: Net Promoter Score from
// 0-10 "how likely are you to recommend" answers and CSAT from 1-5
// satisfaction answers, each with a confidence interval. Out-of-range
// answers are rejected rather than clamped, because they signal a broken
// form or import, not a customer opinion.
package survey
