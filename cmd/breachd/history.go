package main

import (
	"cmp"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"breachd/history"
	"breachd/output"
)

func historyCommand() *cobra.Command {
	c := &cobra.Command{
		Use:   "history <command> [flags] ...",
		Short: "query the history in ClickHouse (audited lookups, read-only SQL)",
		Long: `Lookups of someone's history, each written to the audit log first (--as, --reason or --incident),
and read-only SQL.

Where the history is: --clickhouse (a ClickHouse server); else the embedded engine of a running
'breachd run' with the same --data (found through its endpoint file); else the embedded engine's
data directory opened directly (only when no breachd process holds it).`,
	}
	c.AddCommand(historySQLCommand())
	for _, v := range queryVerbs {
		c.AddCommand(lookupCommand(v))
	}
	return group(c, "usage: breachd history sql|logins|access|subject|timeline [flags] ... (see breachd history --help)",
		"unknown history command %q; usage: breachd history sql|logins|access|subject|timeline [flags] ...")
}

func historySQLCommand() *cobra.Command {
	var (
		maxRows int
		timeout time.Duration
		reason  string
	)
	c := &cobra.Command{
		Use:   `sql [flags] "SELECT ..."`,
		Short: "run one read-only statement (audited) and print the result",
		Long: `Runs one read-only statement (SELECT, WITH, SHOW, DESCRIBE, EXPLAIN, EXISTS) against the history
with readonly=1 and row/time limits, and prints the result. The statement is written to the audit
log (--as, --reason) before it runs.

Tables: auth_events, access_events, directory_events, alerts, incidents, audit. Event tables
collapse duplicates on merge: add FINAL for exact counts.`,
		Example: `  breachd history sql "SELECT id, account, severity, alert_count, summary FROM incidents FINAL"
  breachd history sql --format csv "SELECT service, count() FROM auth_events WHERE user = 'ola@bergen.kommune.no' GROUP BY service"`,
	}
	fs := c.Flags()
	historyFlags(fs)
	withOutput(withActor(c, false), output.Formats)
	fs.IntVar(&maxRows, "max-rows", 10000, "refuse results with more rows than this")
	fs.DurationVar(&timeout, "timeout", 30*time.Second, "maximum execution time")
	fs.StringVar(&reason, "reason", "", "why, for the audit log")
	c.RunE = func(c *cobra.Command, args []string) error {
		if len(args) == 0 {
			return usagef(`usage: breachd history sql [flags] "SELECT ..."`)
		}
		a, err := attach(c.Context(), "", true)
		if err != nil {
			return err
		}
		defer a.Close()
		stmt := strings.Join(args, " ")
		if err := a.History.Audit(c.Context(), history.AuditEntry{Actor: cmp.Or(strings.TrimSpace(actor), "unknown"), Action: history.AuditSQL, Reason: reason, Detail: stmt}); err != nil {
			return fmt.Errorf("statement refused, it could not be audited: %w", err)
		}
		t, err := a.History.SQL(c.Context(), stmt, history.SQLLimits{MaxRows: maxRows, Timeout: timeout})
		if err != nil {
			return err
		}
		return output.Write(os.Stdout, outFormat, &output.Rows{Columns: t.Columns, Rows: t.Rows})
	}
	return c
}

// queryVerb is one audited lookup of `breachd history`.
type queryVerb struct {
	name, who, summary, example string
}

var queryVerbs = []queryVerb{
	{"logins", "account", "services the account logged into: first/last time, successes, failures, IPs, countries",
		`breachd history logins --account kari@bergen.kommune.no --from 2026-11-01 --to 2026-11-03 --reason "phishing report"`},
	{"access", "account", "whose data the account saw/changed/deleted/exported, with people and records totals (GDPR Art. 33)",
		`breachd history access --account kari@bergen.kommune.no --from 2026-11-01 --to 2026-11-03 --incident INC-20261102-0000abcd --summary`},
	{"subject", "person", "who accessed the person's data (for the data subject and the DPO)",
		`breachd history subject --person ola@bergen.kommune.no --from 2026-09-01 --to 2026-11-03 --reason "access request from guardian"`},
	{"timeline", "account", "everything the account did (logins, accesses, directory changes), in time order",
		`breachd history timeline --account kari@bergen.kommune.no --from 2026-11-02T08:00:00+01:00 --to 2026-11-02T12:00:00+01:00 --incident INC-20261102-0000abcd --format csv`},
}

func lookupCommand(v queryVerb) *cobra.Command {
	var (
		who, fromS, toS, reason, incident string
		limit                             int
		summary                           bool
	)
	c := &cobra.Command{
		Use:   fmt.Sprintf("%s --%s X --from T [--to T] (--reason TEXT | --incident ID)", v.name, v.who),
		Short: v.summary,
		Long: fmt.Sprintf(`Shows %s in the window [from, to) (at most %d days).
Every lookup is written to the audit log (who asked, what, whose, why) before any data is read;
when that fails, the lookup fails.`, v.summary, history.MaxWindow/(24*time.Hour)),
		Example: "  " + v.example,
	}
	fs := c.Flags()
	historyFlags(fs)
	withOutput(withActor(c, true), output.Formats)
	fs.StringVar(&who, v.who, "", "the "+v.who+" whose history is looked up (required)")
	fs.StringVar(&fromS, "from", "", "start of the window, inclusive: RFC 3339 or YYYY-MM-DD (UTC midnight) (required)")
	fs.StringVar(&toS, "to", "", "end of the window, exclusive: RFC 3339 or YYYY-MM-DD (default now)")
	fs.StringVar(&reason, "reason", "", "why you look (written to the audit log; required unless --incident is given)")
	fs.StringVar(&incident, "incident", "", "the incident this lookup is part of (written to the audit log)")
	switch v.name {
	case "timeline":
		fs.IntVar(&limit, "limit", history.DefaultTimelineLimit, fmt.Sprintf("at most this many rows (maximum %d)", history.MaxTimelineLimit))
	case "access":
		fs.BoolVar(&summary, "summary", false, "print the totals per resource category (people, records, events) instead of the rows")
	}
	c.RunE = func(c *cobra.Command, args []string) error {
		if len(args) > 0 {
			return usagef("history %s: unexpected arguments %q (give the %s with --%s)", v.name, args, v.who, v.who)
		}
		if strings.TrimSpace(who) == "" {
			return usagef("history %s: --%s is required", v.name, v.who)
		}
		from, err := parseWhen("--from", fromS, time.Time{})
		if err != nil {
			return err
		}
		to, err := parseWhen("--to", toS, time.Now())
		if err != nil {
			return err
		}
		if !from.Before(to) {
			return usagef("history %s: --from %s is not before --to %s", v.name, fromS, to.Format(time.RFC3339))
		}
		if strings.TrimSpace(reason) == "" && strings.TrimSpace(incident) == "" {
			return usagef("history %s: --reason is required unless --incident is given (a lookup of a person's data needs a purpose)", v.name)
		}
		a, err := attach(c.Context(), "", true)
		if err != nil {
			return err
		}
		defer a.Close()
		t, footer, err := lookup(c, a.History, v.name, history.Asker{Who: actor, Why: reason, Incident: incident}, who, from, to, limit, summary)
		if err != nil {
			return err
		}
		if err := output.Write(os.Stdout, outFormat, t); err != nil {
			return err
		}
		if footer != "" && outFormat == output.Table {
			fmt.Println(footer)
		}
		return nil
	}
	return c
}

// lookup runs the verb and returns its rows, plus a footer for people.
func lookup(c *cobra.Command, s *history.Store, verb string, ask history.Asker, who string, from, to time.Time,
	limit int, summary bool) (*output.Rows, string, error) {
	ctx := c.Context()
	switch verb {
	case "logins":
		rows, err := s.Logins(ctx, ask, who, from, to)
		return output.RowsOf(history.LoginColumns, rows, history.LoginRow.Row), "", err
	case "access":
		sum, err := s.Access(ctx, ask, who, from, to)
		if err != nil || summary {
			return output.RowsOf(history.TotalColumns, append(sum.ByResource, history.AccessTotal{Resource: "(all)",
				People: sum.Total.People, Records: sum.Total.Records, Events: sum.Total.Events}), history.AccessTotal.Row), "", err
		}
		return output.RowsOf(history.AccessColumns, sum.Rows, history.AccessRow.Row),
			fmt.Sprintf("total: %d people, %d records, %d events", sum.Total.People, sum.Total.Records, sum.Total.Events), nil
	case "subject":
		rows, err := s.Subject(ctx, ask, who, from, to)
		return output.RowsOf(history.SubjectColumns, rows, history.SubjectRow.Row), "", err
	}
	rows, err := s.Timeline(ctx, ask, who, from, to, limit)
	return output.RowsOf(history.TimelineColumns, rows, history.TimelineRow.Row), "", err
}
