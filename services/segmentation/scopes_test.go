package segmentation_test

import (
	"context"
	"testing"

	"github.com/kizuna/kizuna/services/platform/bus/bustest"
	"github.com/kizuna/kizuna/services/platform/grpctest"
	"github.com/kizuna/kizuna/services/platform/sqldb/sqldbtest"
	"github.com/kizuna/kizuna/services/segmentation"
)

func newForScopes(t *testing.T) *segmentation.Service {
	t.Helper()
	svc, err := segmentation.New(context.Background(), segmentation.Options{DB: sqldbtest.SQLite(t), Bus: bustest.Embedded(t), Logger: quietLogger()})
	if err != nil {
		t.Fatal(err)
	}
	return svc
}

// TestKeyScopes checks that every segmentation RPC has a scope entry, then calls
// each with a key of every single scope: denied for lack of scope exactly
// when the scope table says so.
func TestKeyScopes(t *testing.T) {
	grpctest.CheckKeyScopes(t, newForScopes(t).Register, segmentation.Scopes, nil)
}
