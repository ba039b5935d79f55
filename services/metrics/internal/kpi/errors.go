package kpi

import (
	"errors"
	"fmt"
)

// Errors a computation can fail with besides validation; callers test them
// with errors.Is.
var (
	// ErrSegmentNotFound: the segment does not exist in the workspace.
	ErrSegmentNotFound = errors.New("segment not found")
	// ErrScopeTooLarge: the segment has more members than MaxSegmentMembers.
	ErrScopeTooLarge = fmt.Errorf("segment has more than %d members", MaxSegmentMembers)
	// ErrSegmentsUnavailable: the segmentation service could not answer in
	// time; the computation may be retried.
	ErrSegmentsUnavailable = errors.New("segmentation service unavailable")
	// ErrTooManyOrders: the workspace has more orders than an in-request CLV
	// fit or cohort table may load into memory. Order listings for those
	// (the store's Orders) fail with it rather than load them all.
	ErrTooManyOrders = errors.New("too many orders to load in one request")
)

// ErrLimit: a request would exceed a size limit (costs per workspace,
// events per funnel).
var ErrLimit = errors.New("limit exceeded")
