package store_test

import (
	"context"
	"testing"

	"github.com/kizuna/kizuna/services/campaign/internal/store"
	"github.com/kizuna/kizuna/services/platform/sqldb/sqldbtest"
)

// TestFirstApplyManyInsertsKeysInOrder: a batch records its messages
// applied in key order, whatever their order in the batch, so two batches
// holding the same messages (a redelivery while the first is still in
// flight, on another replica) cannot deadlock on the uniqueness of the
// keys. Here another transaction has inserted m1 and goes on to insert m2,
// as a batch in key order does; the batch [m2, m1] waiting for m1 must
// not hold m2 yet. PostgreSQL only: SQLite's writers are serial.
func TestFirstApplyManyInsertsKeysInOrder(t *testing.T) {
	db := sqldbtest.Postgres(t)
	ctx := context.Background()
	s := newStore(t, db)
	const insert = `INSERT INTO applied_messages (workspace_id, message_id, apply_time) VALUES ('ws', $1, 0) ON CONFLICT DO NOTHING`
	holder := sqldbtest.Hold(t, db, insert, "m1")
	var fresh map[store.AppliedKey]bool
	insertErr := sqldbtest.LockOrder(t, db, holder, "FirstApplyMany", func() error {
		return s.InTx(ctx, t0, func(tx *store.Tx) error {
			var err error
			fresh, err = tx.FirstApplyMany(ctx, []store.AppliedKey{{WorkspaceID: "ws", MessageID: "m2"}, {WorkspaceID: "ws", MessageID: "m1"}})
			return err
		})
	}, insert, "m2")
	if insertErr != nil {
		t.Fatalf("waiting for m1, the batch held m2 (%v): it inserts keys out of order", insertErr)
	}
	if len(fresh) != 0 {
		t.Errorf("FirstApplyMany = %v new, want none: the other transaction applied both", fresh)
	}
}
