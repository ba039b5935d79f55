package segment

import (
	"time"

	"github.com/kizuna/kizuna/services/platform/validation"
)

// Stage is a customer's lifecycle stage; the names are stored in rules.
type Stage string

// The stages, in the order the API numbers them.
const (
	StageProspect Stage = "prospect"
	StageNew      Stage = "new"
	StageF2       Stage = "f2"
	StageLoyal    Stage = "loyal"
	StageDormant  Stage = "dormant"
	StageChurned  Stage = "churned"
	StageReturned Stage = "returned"
)

// Stages lists every stage, in API order.
var Stages = []Stage{StageProspect, StageNew, StageF2, StageLoyal, StageDormant, StageChurned, StageReturned}

// LifecycleSettings are a workspace's thresholds.
type LifecycleSettings struct {
	LoyalMinOrders int32
	DormantDays    int32
	ChurnedDays    int32
}

// DefaultLifecycleSettings apply until a workspace changes them: three
// purchases make a regular customer in Japanese retail CRM practice, and
// 90 and 180 days without a purchase are the usual dormant and lapsed
// marks for a shop with monthly-to-quarterly repeat cycles.
var DefaultLifecycleSettings = LifecycleSettings{LoyalMinOrders: 3, DormantDays: 90, ChurnedDays: 180}

// Limits of the settings.
const (
	MaxLoyalMinOrders = 1000
	MaxStageDays      = 3650
)

// Validate checks settings about to be stored; paths start at "settings".
func (s LifecycleSettings) Validate() error {
	v := &validation.Error{}
	if s.LoyalMinOrders < 2 || s.LoyalMinOrders > MaxLoyalMinOrders {
		v.Addf("settings.loyal_min_orders", "must be between 2 and %d, got %d", MaxLoyalMinOrders, s.LoyalMinOrders)
	}
	if s.DormantDays < 1 || s.DormantDays > MaxStageDays {
		v.Addf("settings.dormant_days", "must be between 1 and %d, got %d", MaxStageDays, s.DormantDays)
	}
	if s.ChurnedDays <= s.DormantDays || s.ChurnedDays > MaxStageDays {
		v.Addf("settings.churned_days", "must be more than dormant_days (%d) and at most %d, got %d", s.DormantDays, MaxStageDays, s.ChurnedDays)
	}
	return v.Err()
}

// StageOf derives a customer's stage from their orders at now. Lapse wins
// over counts (a loyal customer without purchase for dormant_days is
// dormant); a customer whose last purchase ended a lapse of at least
// dormant_days is returned until they lapse again or buy again soon after.
func StageOf(o OrderStats, s LifecycleSettings, now time.Time) Stage {
	if o.Count <= 0 {
		return StageProspect
	}
	since := now.Sub(o.LastOrder)
	switch {
	case since >= days(s.ChurnedDays):
		return StageChurned
	case since >= days(s.DormantDays):
		return StageDormant
	case o.Count >= 2 && o.LastOrder.Sub(o.PrevOrder) >= days(s.DormantDays):
		return StageReturned
	case o.Count >= int64(s.LoyalMinOrders):
		return StageLoyal
	case o.Count >= 2:
		return StageF2
	default:
		return StageNew
	}
}

func days(n int32) time.Duration { return time.Duration(n) * 24 * time.Hour }
