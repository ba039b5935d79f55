package rights_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/kizuna/kizuna/services/ingestion/internal/ingest"
	"github.com/kizuna/kizuna/services/ingestion/internal/rights"
	"github.com/kizuna/kizuna/services/ingestion/internal/store"
	"github.com/kizuna/kizuna/services/platform/sqldb"
	"github.com/kizuna/kizuna/services/platform/sqldb/sqldbtest"
)

// TestUnknownPerson: a regulation naming a customer id that names no
// customer is refused as ErrUnknownPerson (the API's NOT_FOUND), whatever
// error the store reports a missing customer with.
func TestUnknownPerson(t *testing.T) {
	sqldbtest.ForEachBackend(t, func(t *testing.T, db *sqldb.DB) {
		st, err := store.Open(context.Background(), db)
		if err != nil {
			t.Fatal(err)
		}
		r := rights.New(store.For[rights.Tx](st), time.Now, func() {})
		for _, typ := range []string{rights.TypeDelete, rights.TypeSuppress} {
			_, err := r.Create(context.Background(), "ws_rights", typ, rights.Target{Kind: rights.TargetCustomerID, Value: "cus_nobody"}, ingest.NewID)
			if !errors.Is(err, rights.ErrUnknownPerson) {
				t.Errorf("%s of an unknown customer: err = %v, want ErrUnknownPerson", typ, err)
			}
		}
	})
}
