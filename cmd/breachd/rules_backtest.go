package main

import (
	"context"
	"fmt"
	"os"
	"time"

	"github.com/spf13/cobra"

	"breachd/apiclient"
	"breachd/backtest"
	"breachd/deploy"
	"breachd/output"
	"breachd/timespec"
)

func rulesBacktestCommand() *cobra.Command {
	var (
		from, to              timespec.Value
		warmup, tz            string
		only                  []string
		withDefault, progress bool
		top, chunkRows        int
	)
	c := &cobra.Command{
		Use:   "backtest --from T1 [--to T2] [--rule ID ...] [--rules paths] [--format table|json|csv|tsv] [--top N]",
		Short: "replay stored history through the rules and report what they would have raised",
		Long: `Replays the events stored in history through a fresh rule engine and reports what the rules
would have raised in [--from, --to), without publishing anything: it never writes history,
alerts, incidents or deactivations (the history is read with readonly=1).

How: the directory is rebuilt from the stored directory events before the range; a warm-up
stretch before --from (default: the longest window of the rules) is replayed so windows start
full, its alerts discarded; then every auth, access and directory event of the range is
evaluated in time order, directory changes applied first, exactly as the detector does (event
time drives windows and suppression; history lookups in rules see only what was stored
before each event). History is read in chunks (--chunk-rows).

Report, per rule: alerts (hits after exceptions and suppression), hits suppressed and
excepted, distinct accounts, events evaluated, expression errors, first and last alert; then
the --top (rule, account) pairs with the most alerts, the first alerts of each rule, and the
totals (events, duration, events/s).

Times: RFC 3339, a date or a date and time in --tz, or a duration ago (24h, 7d). Where the
history is: as for 'breachd history'. Against a running all-in-one instance each chunk's query
holds the embedded engine, which serves one statement at a time: lower --chunk-rows to keep
the detector's writes flowing.

Not audited: this is an aggregate over every account for rule quality, not a lookup of one
person's history; but it names accounts (use --top 0 when the names are not needed).`,
		Example: `  breachd rules backtest --from 2026-11-02 --to 2026-11-03
  breachd rules backtest --from -168h --rules rules/local/ --with-default --rule teacher-outside-groups
  breachd rules backtest --from 2026-11-02 --to 2026-11-09 --format csv > week.csv`,
		Args: posArgs(0, 0, ": rule paths go in --rules"),
	}
	fs := c.Flags()
	historyFlags(fs)
	rulesFlag(fs)
	withDefaultFlag(c, &withDefault)
	withServer(withOutput(c, output.Formats))
	fs.Var(&from, "from", "start of the range (required)")
	fs.Var(&to, "to", "end of the range, exclusive (default now)")
	fs.StringSliceVar(&only, "rule", nil, "report only this rule `id` (repeatable, or comma-separated)")
	fs.IntVar(&top, "top", 20, "list the N (rule, account) pairs with the most alerts; 0 for none")
	fs.StringVar(&warmup, "warmup", "auto", "replay this long before --from to fill windows (alerts discarded); auto = the longest rule window")
	fs.StringVar(&tz, "tz", "Europe/Oslo", "time zone of times without an offset, of the table, and of localHour() in rules")
	fs.BoolVar(&progress, "progress", false, "report progress to stderr even when it is not a terminal")
	fs.IntVar(&chunkRows, "chunk-rows", 100_000, "rows per history query (memory: about 3 KB per row with the embedded engine)")
	c.RunE = func(c *cobra.Command, _ []string) error {
		loc, err := time.LoadLocation(tz)
		if err != nil {
			return usagef("--tz: %v", err)
		}
		now := time.Now()
		opts := backtest.Options{Only: only, Top: top, ChunkRows: chunkRows, Location: loc}
		if !from.Given() {
			return usagef("--from is required")
		}
		if opts.From, opts.To = from.Time(loc, now, now), to.Time(loc, now, now); !opts.From.Before(opts.To) {
			return usagef("--from %s is not before --to %s", opts.From.Format(time.RFC3339), opts.To.Format(time.RFC3339))
		}
		if top < 0 || chunkRows < 1 {
			return usagef("--top must be >= 0 and --chunk-rows >= 1")
		}
		set, _, err := compileRules(c, os.Stderr, rulePaths, withDefault)
		if err != nil {
			return err
		}
		opts.Rules = set
		if opts.Warmup = backtest.AutoWarmup(set); warmup != "auto" {
			if opts.Warmup, err = time.ParseDuration(warmup); err != nil {
				return usagef("--warmup: want auto or a duration (10m, 2h): %v", err)
			}
		}
		if (progress || charDevice(os.Stderr)) && !serverMode(c) { // the API reports no progress
			opts.Progress = func(p backtest.Progress) { fmt.Fprintln(os.Stderr, p) }
		}
		opts.Logger = quiet()
		var rep *backtest.Report
		located := func(r *backtest.Report, err error) (any, error) {
			if err != nil {
				return nil, err
			}
			rep = r
			return rep.In(loc), nil
		}
		err = printVia(c, deploy.AttachConfig{History: true}, func(ctx context.Context, a *deploy.Attached) (any, error) {
			opts.Lookup = a.History
			return located(backtest.Run(ctx, a.History, opts))
		}, func(ctx context.Context, api *apiclient.Client) (any, error) {
			req, err := backtestRequest(c, opts, warmup)
			if err != nil {
				return nil, err
			}
			return located(api.Backtest(ctx, req))
		})
		if err == nil && (outFormat == output.CSV || outFormat == output.TSV) {
			fmt.Fprintln(os.Stderr, rep.Totals()) // the table's closing line, out of the data
		}
		return err
	}
	return c
}

// backtestRequest is the request of `rules backtest --server`: the range, the rules to report,
// --top, --warmup (unless auto), --tz and the text of the one rule file --rules names (the
// server runs it instead of its pack). The server decides the chunk size and reports no
// progress (no --progress).
func backtestRequest(c *cobra.Command, opts backtest.Options, warmup string) (apiclient.BacktestRequest, error) {
	top := opts.Top
	req := apiclient.BacktestRequest{From: opts.From, To: opts.To, Rules: opts.Only, Top: &top, TZ: opts.Location.String()}
	if warmup != "auto" {
		req.Warmup = opts.Warmup.String()
	}
	for _, f := range []struct{ name, why string }{
		{"chunk-rows", "the server decides it"},
		{"with-default", "the server runs its pack, or the one file of --rules"},
		{"progress", "the API reports no progress"},
	} {
		if c.Flags().Changed(f.name) {
			return req, usagef("rules backtest: --%s cannot be used with --server (%s)", f.name, f.why)
		}
	}
	switch len(rulePaths) {
	case 0:
	case 1:
		b, err := os.ReadFile(rulePaths[0])
		if err != nil {
			return req, fmt.Errorf("--rules: %w (with --server give one rule file)", err)
		}
		req.RuleText = string(b)
	default:
		return req, usagef("rules backtest: with --server give at most one file in --rules")
	}
	return req, nil
}
