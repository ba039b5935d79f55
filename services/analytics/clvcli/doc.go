// Package clvcli implements the "clv" command line: "clv fit" estimates
// BG/NBD and Gamma-Gamma (optionally Pareto/NBD) parameters from a
// transaction file and prints them as one JSON object; "clv predict" fits
// the same models and writes per-customer expected purchases, probability
// alive and CLV. Run is the whole program minus process handling, so it can
// be embedded in other binaries and tested without exec.
package clvcli
