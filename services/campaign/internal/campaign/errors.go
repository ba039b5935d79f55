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

// ErrAudienceTooLarge reports a segment with more members than one campaign
// may send to.
var ErrAudienceTooLarge = errors.New("segment has too many members for one campaign")
