// Package ledger turns what ingestion publishes on the events stream into
// the purchase ledger metrics computes KPIs from: customers (with the time
// each was first seen) and orders, keyed so that every fact counts once.
//
// Delivery is at least once and ingestion may resend an order under a new
// message id, so two keys protect the ledger: the message's own id (event,
// merge or unmerge id), recorded by the Store in the same transaction as the
// effect (a named event's id is the key of the row it is stored in, for
// funnels), and the order key (the order's order_id, else the event id), so
// a resent order is stored once.
package ledger
