package store

import (
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/kizuna/kizuna/services/ingestion/internal/consent"
	"github.com/kizuna/kizuna/services/ingestion/internal/customer"
	"github.com/kizuna/kizuna/services/ingestion/internal/profile"
)

// traits decodes a row's traits and when each was received.
func (r customerRow) traitState() (customer.Traits, error) {
	st := customer.Traits{Times: map[string]int64{}}
	var err error
	if st.Values, err = decodeTraits(r.traits); err != nil {
		return st, err
	}
	if r.traitTimes != "" {
		if err := json.Unmarshal([]byte(r.traitTimes), &st.Times); err != nil {
			return st, fmt.Errorf("decode trait times of %s: %w", r.id, err)
		}
	}
	return st, nil
}

// profile decodes what a merge folds of a row.
func (r customerRow) profile() (customer.Profile, error) {
	p := customer.Profile{UserID: r.userID, EventCount: r.eventCount, FirstSeen: fromMicros(r.firstSeen), LastSeen: fromMicros(r.lastSeen)}
	var err error
	if p.Traits, err = r.traitState(); err != nil {
		return p, err
	}
	if p.Consents, err = consent.Decode(r.consents); err != nil {
		return p, err
	}
	return p, nil
}

// traitColumns encodes traits for the traits, trait_times and
// identity_traits columns.
func (t *Tx) traitColumns(ctx context.Context, ws string, s customer.Traits) ([3]string, error) {
	var cols [3]string
	region, err := t.PhoneRegion(ctx, ws)
	if err != nil {
		return cols, err
	}
	for i, v := range []any{s.Values, s.Times, profile.Describe(s.Values, region)} {
		b, err := json.Marshal(v)
		if err != nil {
			return cols, fmt.Errorf("encode traits: %w", err)
		}
		cols[i] = string(b)
	}
	return cols, nil
}

// writeProfile stores a customer's profile with what derives from its
// traits, and its update time, in one UPDATE.
func (t *Tx) writeProfile(ctx context.Context, ws, id string, p customer.Profile, now time.Time) error {
	cols, err := t.traitColumns(ctx, ws, p.Traits)
	if err != nil {
		return err
	}
	consents, err := p.Consents.Encode()
	if err != nil {
		return err
	}
	if _, err := t.tx.ExecContext(ctx, `UPDATE customers SET traits = $3, trait_times = $4, identity_traits = $5, user_id = $6,
		event_count = $7, first_seen = $8, last_seen = $9, update_time = $10, consents = $11 WHERE workspace_id = $1 AND customer_id = $2`,
		ws, id, cols[0], cols[1], cols[2], p.UserID, p.EventCount, micros(p.FirstSeen), micros(p.LastSeen), micros(now), cmp.Or(consents, "{}")); err != nil {
		return fmt.Errorf("update customer %s: %w", id, err)
	}
	return nil
}
