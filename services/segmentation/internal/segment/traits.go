package segment

// MergeTraits applies incoming traits set at time at (Unix microseconds) to
// traits, keeping per key whichever value was set by the later event; on a
// tie the incoming value wins, so re-applying one event is harmless. Both
// maps are updated in place and must be non-nil.
//
// Traits are merged by key rather than replaced wholesale because identify
// calls commonly carry only the traits that changed.
func MergeTraits(traits map[string]any, times map[string]int64, incoming map[string]any, at int64) {
	for k, v := range incoming {
		if prev, ok := times[k]; ok && prev > at {
			continue
		}
		traits[k] = v
		times[k] = at
	}
}

// MergeCustomer folds from into into, as when two customers turn out to be
// one person: per trait the later-set value wins, the seen times widen and
// event counts add up.
func MergeCustomer(into *Customer, from Customer) {
	if into.Traits == nil {
		into.Traits = map[string]any{}
	}
	if into.TraitTimes == nil {
		into.TraitTimes = map[string]int64{}
	}
	for k, v := range from.Traits {
		at := from.TraitTimes[k]
		if prev, ok := into.TraitTimes[k]; ok && prev > at {
			continue
		}
		into.Traits[k] = v
		into.TraitTimes[k] = at
	}
	if into.FirstSeen.IsZero() || (!from.FirstSeen.IsZero() && from.FirstSeen.Before(into.FirstSeen)) {
		into.FirstSeen = from.FirstSeen
	}
	if from.LastSeen.After(into.LastSeen) {
		into.LastSeen = from.LastSeen
	}
	into.EventCount += from.EventCount
}
