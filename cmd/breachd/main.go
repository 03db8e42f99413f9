// Command breachd is the breach-detection pipeline for Feide logins and school-service access
// logs. See `breachd help`.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"breachd/history/chdb"
)

func main() {
	// The embedded ClickHouse engine would read a piped stdin as its own insert data; move our
	// stdin out of its reach before anything captures os.Stdin.
	if err := chdb.DetachStdin(); err != nil {
		fmt.Fprintln(os.Stderr, "breachd:", err)
		os.Exit(1)
	}
	// SIGHUP reloads rules where a detector runs (deploy.RuleReloader asks for it); anywhere
	// else it must not kill the process.
	signal.Ignore(syscall.SIGHUP)
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := dispatch(ctx, os.Args[1:])
	stop()
	switch {
	case err == nil, errors.Is(err, flag.ErrHelp): // help was asked for and printed
	case errors.As(err, new(usageError)):
		fmt.Fprintln(os.Stderr, "breachd:", err)
		os.Exit(2)
	default:
		fmt.Fprintln(os.Stderr, "breachd:", err)
		os.Exit(1)
	}
}
