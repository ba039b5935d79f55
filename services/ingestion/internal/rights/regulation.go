package rights

import (
	"errors"
	"time"
)

// ErrNotFound reports a missing regulation.
var ErrNotFound = errors.New("not found")

// Regulation is a data-rights request as stored.
type Regulation struct {
	ID          string
	Type        string
	TargetKind  string
	Target      string
	CustomerIDs []string
	CreateTime  time.Time
	DoneTime    time.Time
	Services    []RegulationService
}

// RegulationService is one service's progress on a regulation.
type RegulationService struct {
	Service      string
	Done         bool
	AffectedRows int64
	UpdateTime   time.Time
}
