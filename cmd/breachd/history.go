package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"strings"
	"time"

	"breachd/deploy"
	"breachd/history"
)

func historyCommand() *command {
	var (
		infra   infraFlags
		format  string
		maxRows int
		timeout time.Duration
	)
	return &command{
		name:    "history",
		summary: "query the history in ClickHouse (read-only SQL)",
		usage:   "sql [flags] \"SELECT ...\"",
		help: `
Runs one read-only statement (SELECT, WITH, SHOW, DESCRIBE, EXPLAIN, EXISTS) against the history
with readonly=1 and row/time limits, and prints the result.

Where the history is: --clickhouse (a ClickHouse server); else the embedded engine of a running
'breachd run' with the same --data (found through its endpoint file); else the embedded engine's
data directory opened directly (only when no breachd process holds it).

Tables: auth_events, access_events, directory_events, alerts, incidents, audit. Event tables
collapse duplicates on merge: add FINAL for exact counts. Examples:
  breachd history sql "SELECT id, account, severity, alert_count, summary FROM incidents FINAL"
  breachd history sql --format csv "SELECT service, count() FROM auth_events WHERE user = 'ola@bergen.kommune.no' GROUP BY service"`,
		flags: func(fset *flag.FlagSet) {
			infra.declare(fset)
			fset.StringVar(&format, "format", "table", "output: "+strings.Join(history.Formats, ", "))
			fset.IntVar(&maxRows, "max-rows", 10000, "refuse results with more rows than this")
			fset.DurationVar(&timeout, "timeout", 30*time.Second, "maximum execution time")
		},
		run: func(ctx context.Context, fset *flag.FlagSet, args []string) error {
			if len(args) == 0 || args[0] != "sql" {
				return usagef("usage: breachd history sql [flags] \"SELECT ...\"")
			}
			// Flags may also follow the "sql" verb.
			if err := fset.Parse(args[1:]); err != nil {
				if errors.Is(err, flag.ErrHelp) {
					return err
				}
				return usageError{err.Error()}
			}
			args = append([]string{"sql"}, fset.Args()...)
			if len(args) < 2 {
				return usagef("usage: breachd history sql [flags] \"SELECT ...\"")
			}
			log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
			store, closeFn, err := openHistory(ctx, infra, log)
			if err != nil {
				return err
			}
			defer closeFn()
			t, err := store.SQL(ctx, strings.Join(args[1:], " "), history.SQLLimits{MaxRows: maxRows, Timeout: timeout})
			if err != nil {
				return err
			}
			return t.Write(os.Stdout, format)
		},
	}
}

// openHistory finds the history: an explicit server, a running instance's embedded endpoint, or
// the embedded engine opened here.
func openHistory(ctx context.Context, f infraFlags, log *slog.Logger) (*history.Store, func(), error) {
	if f.clickhouse != "" {
		s, err := history.Open(ctx, f.clickhouse, log)
		if err != nil {
			return nil, nil, err
		}
		return s, func() { _ = s.Close() }, nil
	}
	ep, err := deploy.ReadEndpoint(f.data)
	switch {
	case err == nil:
		s, err := history.Open(ctx, ep.DSN, log)
		if err == nil {
			return s, func() { _ = s.Close() }, nil
		}
		log.Warn("endpoint file found but its breachd does not answer; opening the data directory", "err", err)
	case !errors.Is(err, fs.ErrNotExist):
		return nil, nil, err
	}
	cfg := f.config(log)
	in, err := deploy.StartHistoryOnly(ctx, cfg)
	if err != nil {
		return nil, nil, fmt.Errorf("no running breachd found for --data %s, and opening its history directly failed: %w", f.data, err)
	}
	return in.History, in.Close, nil
}
