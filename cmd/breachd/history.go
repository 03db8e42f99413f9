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
		as      string
		reason  string
	)
	return &command{
		name:    "history",
		summary: "query the history in ClickHouse (audited lookups, read-only SQL)",
		usage:   "logins|access|subject|timeline|sql [flags] ...",
		help: `
Lookups of someone's history (each written to the audit log first; 'breachd history VERB --help'):
` + queryVerbsHelp() + `
sql runs one read-only statement (SELECT, WITH, SHOW, DESCRIBE, EXPLAIN, EXISTS) against the history
with readonly=1 and row/time limits, and prints the result.

Where the history is: --clickhouse (a ClickHouse server); else the embedded engine of a running
'breachd run' with the same --data (found through its endpoint file); else the embedded engine's
data directory opened directly (only when no breachd process holds it).

Tables: auth_events, access_events, directory_events, alerts, incidents, audit. Event tables
collapse duplicates on merge: add FINAL for exact counts. Examples:
  breachd history sql "SELECT id, account, severity, alert_count, summary FROM incidents FINAL"
  breachd history sql --format csv "SELECT service, count() FROM auth_events WHERE user = 'ola@bergen.kommune.no' GROUP BY service"
The statement is written to the audit log (--as, --reason) before it runs.`,
		flags: func(fset *flag.FlagSet) {
			infra.declare(fset)
			fset.StringVar(&format, "format", "table", "output: "+strings.Join(history.Formats, ", "))
			fset.IntVar(&maxRows, "max-rows", 10000, "refuse results with more rows than this")
			fset.DurationVar(&timeout, "timeout", 30*time.Second, "maximum execution time")
			fset.StringVar(&as, "as", envDefault("USER", "unknown"), "sql: who is asking, for the audit log (default $USER, else unknown)")
			fset.StringVar(&reason, "reason", "", "sql: why, for the audit log")
		},
		run: func(ctx context.Context, fset *flag.FlagSet, args []string) error {
			if len(args) > 0 {
				if v, ok := findQueryVerb(args[0]); ok {
					return runQueryVerb(ctx, v, fset, args[1:])
				}
			}
			if len(args) == 0 || args[0] != "sql" {
				return usagef("usage: breachd history sql|logins|access|subject|timeline [flags] ... (see breachd history --help)")
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
			store, closeFn, err := openHistory(ctx, infra, log, false)
			if err != nil {
				return err
			}
			defer closeFn()
			stmt := strings.Join(args[1:], " ")
			if err := store.Audit(ctx, history.AuditEntry{Actor: as, Action: history.AuditSQL, Reason: reason, Detail: stmt}); err != nil {
				return fmt.Errorf("statement refused, it could not be audited: %w", err)
			}
			t, err := store.SQL(ctx, stmt, history.SQLLimits{MaxRows: maxRows, Timeout: timeout})
			if err != nil {
				return err
			}
			return t.Write(os.Stdout, format)
		},
	}
}

// openHistory finds the history: an explicit server, a running instance's embedded endpoint, or
// the embedded engine opened here. People's commands reach an embedded engine with the
// operator's credential (read, and append to audit, incidents and evidence); owner (schema
// changes) only when the engine is opened here.
func openHistory(ctx context.Context, f infraFlags, log *slog.Logger, owner bool) (*history.Store, func(), error) {
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
	if owner {
		return in.History, in.Close, nil
	}
	s, closeS, err := in.PeopleHistory(ctx)
	if err != nil {
		in.Close()
		return nil, nil, err
	}
	return s, func() { closeS(); in.Close() }, nil
}
