package campaign

import "errors"

// ErrNotFound reports a campaign that does not exist in the caller's
// workspace (another workspace's campaign is indistinguishable from none).
var ErrNotFound = errors.New("campaign not found")

// ErrSegmentNotFound reports that the campaign's segment no longer exists,
// so it cannot be launched.
var ErrSegmentNotFound = errors.New("segment not found")

// ErrUnavailable reports that a service the campaign service depends on
// could not answer; the caller may retry.
var ErrUnavailable = errors.New("dependency unavailable")

// ErrNotDraft is returned by Launcher.Launch when the campaign has left the
// draft state, i.e. another launch finished first.
var ErrNotDraft = errors.New("campaign is no longer a draft")
