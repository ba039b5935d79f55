// Package campaign is the campaign domain: what a campaign and a delivery
// are, how a campaign is validated, and how launching turns a segment's
// members into one pending delivery each.
//
// Launch is written to be retried. Deliveries are keyed by (campaign,
// customer) and inserted with "insert or ignore" while the campaign is still
// a draft; the campaign flips to SENDING only after every member has its
// delivery. A launch that crashes half way leaves a draft whose deliveries
// the dispatcher will not touch (it only claims deliveries of SENDING
// campaigns), and launching again fills in the rest. Two launches racing
// insert the same rows, so each member still gets one delivery.
package campaign
