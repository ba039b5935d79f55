package segment

import "errors"

// ErrNotFound reports a segment or customer that does not exist in the
// caller's workspace; another workspace's resource is indistinguishable
// from a missing one, so ids leak nothing across tenants.
var ErrNotFound = errors.New("not found")
