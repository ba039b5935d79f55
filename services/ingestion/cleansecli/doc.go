// Package cleansecli implements the "cleanse" command line: normalising a
// customer CSV and finding duplicate customers in it. It is a library so
// that the kizuna-cleanse binary and any future umbrella CLI share one
// implementation, and so that it can be tested without a process.
//
// Usage:
//
//	cleanse normalize --input customers.csv [--output normalized.csv]
//	cleanse dedupe    --input customers.csv [--output clusters.csv] [--review review.csv]
//
// The input is UTF-8 CSV (a byte-order mark is tolerated) whose header names
// any of record_id, name, name_kana, email, phone, company, postal_code and
// address. record_id is required, the others are optional, and unknown
// columns are ignored. "-" or no --input reads standard input; no --output
// writes standard output. Progress goes to standard error every 100,000
// records. Malformed CSV is reported with its line number.
//
// normalize writes one row per input record with the columns record_id,
// name, name_kana, email, phone, phone_type, company, company_key,
// legal_form, postal_code, prefecture, address, address_key and issues
// (";"-separated issue names such as invalid_phone). phone and postal_code
// are empty when invalid; an invalid e-mail is kept as typed (lower-cased)
// and flagged.
//
// dedupe writes record_id,cluster_id for every input record in input order;
// records of one customer share a cluster_id, numbered from 1. --review
// writes record_id_a,record_id_b,score,reasons for the pairs a person
// should look at: plausible, but not certain enough to merge.
package cleansecli
