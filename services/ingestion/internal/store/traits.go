package store

import (
	"context"
	"encoding/json"
	"fmt"

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

// writeTraits stores a customer's traits, their times and the identity
// traits derived from them.
func (t *Tx) writeTraits(ctx context.Context, ws, id string, s traitState) error {
	region, err := t.PhoneRegion(ctx, ws)
	if err != nil {
		return err
	}
	values, err := json.Marshal(s.values)
	if err != nil {
		return fmt.Errorf("encode traits: %w", err)
	}
	times, err := json.Marshal(s.times)
	if err != nil {
		return fmt.Errorf("encode trait times: %w", err)
	}
	idTraits, err := json.Marshal(profile.Describe(s.values, region))
	if err != nil {
		return fmt.Errorf("encode identity traits: %w", err)
	}
	if _, err := t.tx.ExecContext(ctx, `UPDATE customers SET traits = $3, trait_times = $4, identity_traits = $5 WHERE workspace_id = $1 AND customer_id = $2`,
		ws, id, string(values), string(times), string(idTraits)); err != nil {
		return fmt.Errorf("update traits of %s: %w", id, err)
	}
	return nil
}
