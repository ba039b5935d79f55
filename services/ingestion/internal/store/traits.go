package store

import (
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/kizuna/kizuna/services/ingestion/internal/profile"
)

// traitState is a customer's traits with when each was last received
// (Unix microseconds; 0 for traits stored before times were kept).
type traitState struct {
	values map[string]any
	times  map[string]int64
}

func (r customerRow) traitState() (traitState, error) {
	st := traitState{times: map[string]int64{}}
	var err error
	if st.values, err = decodeTraits(r.traits); err != nil {
		return st, err
	}
	if r.traitTimes != "" {
		if err := json.Unmarshal([]byte(r.traitTimes), &st.times); err != nil {
			return st, fmt.Errorf("decode trait times of %s: %w", r.id, err)
		}
	}
	return st, nil
}

// set records traits received at at.
func (s traitState) set(traits map[string]any, at int64) {
	for k, v := range traits {
		s.values[k] = v
		s.times[k] = at
	}
}

// absorb takes every trait of o received after s's value of it (or that s
// lacks): the most recently received value wins.
func (s traitState) absorb(o traitState) {
	for k, v := range o.values {
		if _, ok := s.values[k]; !ok || o.times[k] > s.times[k] {
			s.values[k] = v
			s.times[k] = o.times[k]
		}
	}
}

// traitColumns encodes traits for the traits, trait_times and
// identity_traits columns.
func (t *Tx) traitColumns(ctx context.Context, ws string, s traitState) ([3]string, error) {
	var cols [3]string
	region, err := t.PhoneRegion(ctx, ws)
	if err != nil {
		return cols, err
	}
	for i, v := range []any{s.values, s.times, profile.Describe(s.values, region)} {
		b, err := json.Marshal(v)
		if err != nil {
			return cols, fmt.Errorf("encode traits: %w", err)
		}
		cols[i] = string(b)
	}
	return cols, nil
}

// writeProfile stores a customer's traits with what derives from them, its
// consents (row.consents), user id, counters and update time, in one UPDATE.
func (t *Tx) writeProfile(ctx context.Context, ws string, row customerRow, s traitState, now time.Time) error {
	cols, err := t.traitColumns(ctx, ws, s)
	if err != nil {
		return err
	}
	if _, err := t.tx.ExecContext(ctx, `UPDATE customers SET traits = $3, trait_times = $4, identity_traits = $5, user_id = $6,
		event_count = $7, first_seen = $8, last_seen = $9, update_time = $10, consents = $11 WHERE workspace_id = $1 AND customer_id = $2`,
		ws, row.id, cols[0], cols[1], cols[2], row.userID, row.eventCount, row.firstSeen, row.lastSeen, micros(now), cmp.Or(row.consents, "{}")); err != nil {
		return fmt.Errorf("update customer %s: %w", row.id, err)
	}
	return nil
}
