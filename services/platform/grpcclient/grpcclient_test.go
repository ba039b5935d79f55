package grpcclient_test

import (
	"strings"
	"testing"

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
