// Package clv implements customer-lifetime-value models for non-contractual
// and contractual settings: transaction summarisation into
// (frequency, recency, T, monetary value), the BG/NBD and Pareto/NBD
// purchase-count models, the Gamma-Gamma spend model, the
// shifted-beta-geometric retention model, and CLV projection combining them.
//
// All fitting is maximum likelihood on numerically stable log-likelihoods
// (log-space, log-sum-exp), optimised in log-parameter space with gonum's
// optimize package and a bounded number of iterations, so degenerate input
// yields an error rather than NaN or a hang. Because the BG/NBD and
// Pareto/NBD likelihoods depend on a customer only through (x, t_x, T),
// fitting first collapses identical triples into weighted rows; with
// day-granular data this turns millions of customers into tens of thousands
// of rows.
//
// References: Fader, Hardie & Lee (2005) "Counting Your Customers the Easy
// Way"; Fader & Hardie (2013) "The Gamma-Gamma Model of Monetary Value";
// Fader & Hardie (2007) "How to Project Customer Retention"; Schmittlein,
// Morrison & Colombo (1987) for the Pareto/NBD.
package clv
