package api

import (
	"time"

	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/kizuna/kizuna/services/platform/validation"
)

// zeroTime says whether a timestamp field accepts 0001-01-01T00:00:00Z, the
// earliest valid Timestamp, which converts to Go's zero time.
type zeroTime bool

const (
	// acceptZero takes it as the instant it is, e.g. an as-of time before
	// every order.
	acceptZero zeroTime = false
	// rejectZero makes it a violation, for fields where the zero time means
	// "unset": a range bound would silently turn into an open bound.
	rejectZero zeroTime = true
)

// optionalTime converts an optional timestamp field: unset gives def. An
// out-of-range timestamp is a violation on field, and so is the zero time
// when zero is rejectZero.
func optionalTime(ts *timestamppb.Timestamp, field string, def time.Time, zero zeroTime, v *validation.Error) time.Time {
	if ts == nil {
		return def
	}
	if err := ts.CheckValid(); err != nil {
		v.Add(field, "not a valid timestamp")
		return def
	}
	t := ts.AsTime()
	if zero == rejectZero && t.IsZero() {
		v.Add(field, "must be after 0001-01-01T00:00:00Z")
	}
	return t
}
