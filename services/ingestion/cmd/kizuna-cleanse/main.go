// Command kizuna-cleanse normalises customer CSV files and finds duplicate
// customers in them. See package cleansecli for the flags.
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"

	"github.com/kizuna/kizuna/services/ingestion/cleansecli"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "kizuna-cleanse:", err)
		os.Exit(1)
	}
}

func run() error {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	return cleansecli.Run(ctx, os.Args[1:], os.Stdin, os.Stdout, os.Stderr)
}
