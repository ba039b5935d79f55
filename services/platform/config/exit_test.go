package config

import (
	"errors"
	"flag"
	"fmt"
	"strings"
	"testing"
)

func TestExitCode(t *testing.T) {
	tests := []struct {
		name     string
		err      error
		want     int
		wantText string
	}{
		{name: "clean", want: 0},
		{name: "help", err: usageError{fmt.Errorf("config: %w", flag.ErrHelp)}, want: 0},
		{name: "bad flag", err: usageError{errors.New("config: flag provided but not defined: -nope")}, want: 2, wantText: "svc: config: flag provided but not defined: -nope\n"},
		{name: "wrapped usage", err: fmt.Errorf("start: %w", usageError{errors.New("bad")}), want: 2, wantText: "svc: start: bad\n"},
		{name: "other", err: errors.New("db down"), want: 1, wantText: "svc: db down\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var out strings.Builder
			if got := exitCode(&out, "svc", tt.err); got != tt.want {
				t.Errorf("exitCode = %d, want %d", got, tt.want)
			}
			if out.String() != tt.wantText {
				t.Errorf("printed %q, want %q", out.String(), tt.wantText)
			}
		})
	}
}

func TestParseErrorsAreUsage(t *testing.T) {
	fs := NewFlagSetEnv("test", func(string) (string, bool) { return "", false })
	fs.SetOutput(&strings.Builder{})
	err := fs.Parse([]string{"-help"})
	if !errors.Is(err, flag.ErrHelp) || !errors.Is(err, ErrUsage) {
		t.Errorf("Parse(-help) = %v, want flag.ErrHelp and ErrUsage", err)
	}
	if got, want := err.Error(), "config: flag: help requested"; got != want {
		t.Errorf("message = %q, want %q", got, want)
	}
}
