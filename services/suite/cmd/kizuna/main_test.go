package main

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// build compiles the binary once for all tests.
func build(t *testing.T) string {
	t.Helper()
	buildOnce.Do(func() {
		dir, err := os.MkdirTemp("", "kizuna-bin-*")
		if err != nil {
			buildErr = err
			return
		}
		binDir = dir
		binPath = filepath.Join(dir, "kizuna")
		if out, err := exec.Command("go", "build", "-o", binPath, ".").CombinedOutput(); err != nil {
			buildErr = fmt.Errorf("build: %v\n%s", err, out)
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return binPath
}

var (
	buildOnce       sync.Once
	binDir, binPath string
	buildErr        error
)

func TestMain(m *testing.M) {
	code := m.Run()
	if binDir != "" {
		_ = os.RemoveAll(binDir)
	}
	os.Exit(code)
}

// TestExitStatus checks the documented exit statuses: 0 for -help, 2 for
// bad flags or environment.
func TestExitStatus(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary")
	}
	bin := build(t)
	tests := []struct {
		name string
		args []string
		env  string
		want int
		// out is in what it printed.
		out string
	}{
		{name: "help", args: []string{"-help"}, want: 0, out: "kizuna cleanse"},
		{name: "help command", args: []string{"help"}, want: 0, out: "kizuna clv"},
		{name: "typo", args: []string{"rnu"}, want: 2, out: "kizuna help"},
		{name: "run -help", args: []string{"run", "-help"}, want: 0, out: "-data-dir"},
		{name: "stray argument", args: []string{"run", "-data-dir", t.TempDir(), "extra"}, want: 2, out: "extra"},
		{name: "unknown flag", args: []string{"-nope"}, want: 2},
		{name: "unknown service", args: []string{"-services", "ingestion,billing", "-data-dir", t.TempDir()}, want: 2, out: "billing"},
		{name: "bad log level", args: []string{"-log-level", "loud"}, want: 2},
		{name: "bad log format from env", args: []string{"-data-dir", t.TempDir(), "-http-addr", "127.0.0.1:0"}, env: "KIZUNA_LOG_FORMAT=xml", want: 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			// Killed if it wrongly starts serving instead of exiting.
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			cmd := exec.CommandContext(ctx, bin, tt.args...)
			if tt.env != "" {
				cmd.Env = append(cmd.Environ(), tt.env)
			}
			var printed bytes.Buffer
			cmd.Stdout, cmd.Stderr = &printed, &printed
			err := cmd.Run()
			if !strings.Contains(printed.String(), tt.out) {
				t.Errorf("printed %q, want it to mention %q", printed.String(), tt.out)
			}
			got := 0
			if ee, ok := err.(*exec.ExitError); ok {
				got = ee.ExitCode()
			} else if err != nil {
				t.Fatal(err)
			}
			if got != tt.want {
				t.Errorf("exit status %d, want %d", got, tt.want)
			}
		})
	}
}

// TestBinaryServesAndStopsCleanly starts the real binary as `make run` does,
// on the embedded defaults, and checks it becomes ready and exits 0 on
// SIGTERM.
func TestBinaryServesAndStopsCleanly(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary")
	}
	bin := build(t)
	cmd := exec.Command(bin, "-data-dir", t.TempDir(), "-http-addr", "127.0.0.1:0",
		"-ingestion-addr", "127.0.0.1:0", "-segmentation-addr", "127.0.0.1:0", "-metrics-addr", "127.0.0.1:0", "-campaign-addr", "127.0.0.1:0")
	cmd.Env = append(cmd.Environ(), "KIZUNA_DEV_API_KEY=")
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = io.Discard
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill() })

	restRE := regexp.MustCompile(`REST:\s+(http://\S+)`)
	keyRE := regexp.MustCompile(`API key:\s+(kz_\S+)\s+\(default workspace, created now`)
	var rest, key string
	sc := bufio.NewScanner(stdout)
	for (rest == "" || key == "") && sc.Scan() {
		if m := restRE.FindStringSubmatch(sc.Text()); m != nil {
			rest = m[1]
		}
		if m := keyRE.FindStringSubmatch(sc.Text()); m != nil {
			key = m[1]
		}
	}
	if rest == "" || key == "" {
		t.Fatalf("did not print the REST address and a new key (rest %q, key %q)", rest, key)
	}
	go func() { _, _ = io.Copy(io.Discard, stdout) }()

	req, _ := http.NewRequest("GET", rest+"/v1/segments", nil)
	req.Header.Set("Authorization", "Bearer "+key)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Errorf("GET /v1/segments with the printed key: status %d", resp.StatusCode)
	}

	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	select {
	case err := <-exited:
		if err != nil {
			t.Errorf("exit after SIGTERM: %v, want status 0", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("did not exit within 30s of SIGTERM")
	}
}
