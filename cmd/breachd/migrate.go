package main

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"os"

	"breachd/history"
)

func migrateCommand() *command {
	var (
		infra     infraFlags
		retention int
	)
	return &command{
		name:    "migrate",
		summary: "apply the history schema migrations (also done on every start)",
		usage:   "[flags]",
		help: `
Applies the versioned schema migrations of the history that are not yet recorded in its
schema_migrations table, in order, and says how many it applied. Every statement is idempotent,
so running it twice, or from several processes at once, is safe. 'breachd run' and 'breachd
detect' migrate on start as well; run this before a rolling upgrade, or against a ClickHouse
server with --clickhouse.`,
		flags: func(fs *flag.FlagSet) {
			infra.declare(fs)
			fs.IntVar(&retention, "retention-days", history.DefaultEventRetentionDays, "TTL of event rows, in days (used when a migration creates an event table)")
		},
		run: func(ctx context.Context, _ *flag.FlagSet, args []string) error {
			if len(args) > 0 {
				return usagef("unexpected arguments: %v", args)
			}
			if retention <= 0 {
				return usagef("--retention-days must be positive")
			}
			log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
			store, closeFn, err := openHistory(ctx, infra, log)
			if err != nil {
				return err
			}
			defer closeFn()
			n, err := store.Migrate(ctx, retention)
			if err != nil {
				return err
			}
			fmt.Printf("applied %d migrations; the schema is up to date\n", n)
			return nil
		},
	}
}
