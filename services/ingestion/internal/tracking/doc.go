// Package tracking turns Segment-compatible tracking calls into validated
// messages. It is the one place that knows Segment's field rules and limits,
// so a request is checked whole before anything is stored: one bad message
// rejects its batch.
package tracking
