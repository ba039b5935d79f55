// Package relay publishes segmentation's outbox of membership changes; the
// platform's outbox.Relay decides when (and on which replica) it runs. The
// segment engine only writes the outbox, in the transaction that changes
// membership; it never talks to the bus.
package relay

import (
	"context"
	"errors"
	"fmt"

	"github.com/kizuna/kizuna/services/segmentation/internal/segment"
)

// Batch is how many outbox rows one step publishes.
const Batch = 200

// Outbox is the store's outbox of membership changes.
type Outbox interface {
	// PendingChanges returns up to limit outbox rows, oldest first.
	PendingChanges(ctx context.Context, limit int) ([]segment.MembershipChange, error)
	// DeleteChanges removes published outbox rows.
	DeleteChanges(ctx context.Context, changes []segment.MembershipChange) error
}

// Publisher publishes membership changes (on the bus, in production).
type Publisher interface {
	// PublishMembershipChanges publishes cs in order and returns how
	// many of them, from the start, were published.
	PublishMembershipChanges(ctx context.Context, cs []segment.MembershipChange) (int, error)
}

// Pass publishes the outbox, oldest change first, deleting each batch once
// published. It returns when the outbox is empty or a publish fails; the
// failed change and everything after it stay for the next pass, so changes
// are published at least once and in order.
func Pass(ctx context.Context, out Outbox, pub Publisher) error {
	for {
		pending, err := out.PendingChanges(ctx, Batch)
		if err != nil {
			return fmt.Errorf("relay: %w", err)
		}
		if len(pending) == 0 {
			return nil
		}
		n, pubErr := pub.PublishMembershipChanges(ctx, pending)
		if err := out.DeleteChanges(ctx, pending[:n]); err != nil {
			return errors.Join(pubErr, fmt.Errorf("relay: %w", err))
		}
		if pubErr != nil {
			return fmt.Errorf("relay: publish: %w", pubErr)
		}
	}
}
