package suite_test

import (
	"context"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/status"

	"github.com/kizuna/kizuna/services/platform/grpcclient"
	"github.com/kizuna/kizuna/services/suite"
)

// TestGRPCHealthPerService asks each server of the running suite for the
// health of every service it serves by name, as a probe or a client does.
func TestGRPCHealthPerService(t *testing.T) {
	a := startSuite(t, suite.Config{DataDir: t.TempDir()})
	tests := []struct {
		addr, service string
		want          codes.Code
	}{
		{a.Ingestion, "", codes.OK},
		{a.Ingestion, "kizuna.ingestion.v1.TrackingService", codes.OK},
		{a.Ingestion, "kizuna.ingestion.v1.WorkspaceService", codes.OK},
		{a.Segmentation, "kizuna.segmentation.v1.SegmentService", codes.OK},
		{a.Metrics, "kizuna.metrics.v1.MetricsService", codes.OK},
		{a.Campaign, "kizuna.campaign.v1.JourneyService", codes.OK},
		{a.Campaign, "kizuna.campaign.v1.ConsentService", codes.OK},
		// Each server knows only its own services.
		{a.Metrics, "kizuna.campaign.v1.JourneyService", codes.NotFound},
	}
	for _, tt := range tests {
		conn, err := grpcclient.Dial(tt.addr)
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		resp, err := healthpb.NewHealthClient(conn).Check(ctx, &healthpb.HealthCheckRequest{Service: tt.service})
		cancel()
		conn.Close()
		if status.Code(err) != tt.want || (tt.want == codes.OK && resp.GetStatus() != healthpb.HealthCheckResponse_SERVING) {
			t.Errorf("%s Check(%q) = %v, %v; want %v and SERVING", tt.addr, tt.service, resp, err, tt.want)
		}
	}
}
