package grpcclient_test

import (
	"context"
	"errors"
	"net"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/status"

	"github.com/kizuna/kizuna/services/platform/config"
	"github.com/kizuna/kizuna/services/platform/grpcclient"
)

func TestTargetFlags(t *testing.T) {
	env := map[string]string{"KIZUNA_METRICS_TARGET": "metrics:9090"}
	fs := config.NewFlagSetEnv("test", func(k string) (string, bool) { v, ok := env[k]; return v, ok })
	fs.SetOutput(&strings.Builder{})
	targets := grpcclient.TargetFlags(fs, "ingestion", "metrics", "campaign")
	if err := fs.Parse([]string{"-campaign-target", "dns:///campaign:50054"}); err != nil {
		t.Fatal(err)
	}
	want := map[string]string{
		"ingestion": "localhost:" + config.DefaultPorts["ingestion"], // default
		"metrics":   "metrics:9090",                                  // environment
		"campaign":  "dns:///campaign:50054",                         // flag
	}
	if len(targets) != len(want) {
		t.Fatalf("targets = %v, want %v", targets, want)
	}
	for name, addr := range want {
		if got := *targets[name]; got != addr {
			t.Errorf("%s target = %q, want %q", name, got, addr)
		}
	}
	conns, closeAll, err := targets.Dial()
	if err != nil {
		t.Fatal(err)
	}
	defer closeAll()
	for name, addr := range want {
		if c := conns[name]; c == nil || c.Target() != addr {
			t.Errorf("conns[%s] = %v, want a connection to %s", name, c, addr)
		}
	}
}

// TestUnavailableHidesAddress calls a port nobody listens on: the client
// sees Unavailable naming the gRPC service, never the address; the cause
// stays in Error() for the log.
func TestUnavailableHidesAddress(t *testing.T) {
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := lis.Addr().String()
	lis.Close()
	conn, err := grpcclient.Dial(addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_, err = healthpb.NewHealthClient(conn).Check(ctx, &healthpb.HealthCheckRequest{})
	st := status.Convert(err)
	if st.Code() != codes.Unavailable || st.Message() != "grpc.health.v1.Health is unavailable; try again later" {
		t.Errorf("status = %v %q", st.Code(), st.Message())
	}
	var ue *grpcclient.UnavailableError
	if !errors.As(err, &ue) || !strings.Contains(err.Error(), addr) {
		t.Errorf("error %q (%T) should be an UnavailableError keeping the address for the log", err, err)
	}
}
