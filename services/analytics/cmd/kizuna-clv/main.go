// Command kizuna-clv fits customer-lifetime-value models from the command
// line; see package clvcli for the commands.
//
//	go run ./cmd/kizuna-clv fit --transactions tx.csv --calibration-end 2024-06-30
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"

	"github.com/kizuna/kizuna/services/analytics/clvcli"
)

func main() {
	if err := run(); err != nil {
		if !errors.Is(err, flag.ErrHelp) {
			fmt.Fprintln(os.Stderr, "kizuna-clv:", err)
		}
		os.Exit(exitCode(err))
	}
}

func run() error {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	return clvcli.Run(ctx, os.Args[1:], os.Stdout, os.Stderr)
}

// exitCode follows the flag package's convention: 2 for usage errors, 0 for
// an explicit -h.
func exitCode(err error) int {
	switch {
	case errors.Is(err, flag.ErrHelp):
		return 0
	case errors.Is(err, clvcli.ErrUsage):
		return 2
	}
	return 1
}
