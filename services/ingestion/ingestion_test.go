package ingestion_test

import (
	"context"
	"testing"

	ingestionv1 "github.com/kizuna/kizuna/gen/kizuna/ingestion/v1"
	"github.com/kizuna/kizuna/services/ingestion"
	"github.com/kizuna/kizuna/services/platform/auth"
	"github.com/kizuna/kizuna/services/platform/bus/bustest"
	"github.com/kizuna/kizuna/services/platform/grpctest"
	"github.com/kizuna/kizuna/services/platform/sqldb"
	"github.com/kizuna/kizuna/services/platform/sqldb/sqldbtest"
)

// TestBootstrapDevDefaults checks on every backend that the default
// workspace Bootstrap creates allows loopback URLs under DevDefaults, and
// that no existing workspace changes.
func TestBootstrapDevDefaults(t *testing.T) {
	sqldbtest.ForEachBackend(t, func(t *testing.T, db *sqldb.DB) {
		ctx := context.Background()
		b := bustest.Embedded(t)
		// workspace reads the workspace key belongs to through svc's API.
		workspace := func(t *testing.T, svc *ingestion.Service, key string) *ingestionv1.Workspace {
			t.Helper()
			p, err := svc.VerifyKey(ctx, key)
			if err != nil {
				t.Fatal(err)
			}
			conn := grpctest.Dial(t, grpctest.Start(t, svc.Register, grpctest.WithVerifier(svc), grpctest.WithPublicMethods(ingestion.PublicMethods...),
				grpctest.WithScopes(ingestion.Scopes)))
			got, err := ingestionv1.NewWorkspaceServiceClient(conn).GetWorkspace(auth.WithBearer(ctx, key), &ingestionv1.GetWorkspaceRequest{WorkspaceId: p.WorkspaceID})
			if err != nil {
				t.Fatal(err)
			}
			return got.GetWorkspace()
		}
		newService := func(t *testing.T, dev bool) *ingestion.Service {
			t.Helper()
			svc, err := ingestion.New(ctx, ingestion.Options{DB: db, Bus: b, DevDefaults: dev})
			if err != nil {
				t.Fatal(err)
			}
			return svc
		}

		// Without DevDefaults the default workspace is like any new one.
		plain := newService(t, false)
		key, err := plain.Bootstrap(ctx, "")
		if err != nil || key == "" {
			t.Fatalf("bootstrap = %q, %v", key, err)
		}
		ws := workspace(t, plain, key)
		if ws.GetDisplayName() != "default" || ws.GetAllowLoopbackUrls() || ws.GetAllowPrivateUrls() || ws.GetTimezone() != "Asia/Tokyo" ||
			ws.GetQuietHours() != nil || len(ws.GetFrequencyCaps()) != 0 {
			t.Errorf("default workspace without DevDefaults = %v", ws)
		}

		// DevDefaults leaves the existing workspace alone.
		dev := newService(t, true)
		if again, err := dev.Bootstrap(ctx, ""); err != nil || again != "" {
			t.Errorf("second bootstrap = %q, %v; want nothing created", again, err)
		}
		if ws := workspace(t, dev, key); ws.GetAllowLoopbackUrls() {
			t.Errorf("DevDefaults changed an existing workspace: %v", ws)
		}

		// A workspace it creates, here for a given dev key, allows loopback
		// URLs, and nothing else beyond the defaults.
		const devKey = "kz_devkey000000000000000000000000000"
		if created, err := dev.Bootstrap(ctx, devKey); err != nil || created != devKey {
			t.Fatalf("bootstrap with a dev key = %q, %v", created, err)
		}
		ws = workspace(t, dev, devKey)
		if !ws.GetAllowLoopbackUrls() || ws.GetAllowPrivateUrls() || ws.GetTimezone() != "Asia/Tokyo" {
			t.Errorf("default workspace with DevDefaults = %v", ws)
		}
		if created, err := dev.Bootstrap(ctx, devKey); err != nil || created != "" {
			t.Errorf("bootstrap with a known dev key = %q, %v; want nothing created", created, err)
		}
	})
}
