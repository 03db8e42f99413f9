package main

import (
	"context"
	"fmt"
	"os/user"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"breachd/apiclient"
	"breachd/auth"
	"breachd/deploy"
	"breachd/event"
	"breachd/history"
	"breachd/output"
	"breachd/timespec"
)

func historyCommand() *cobra.Command {
	c := &cobra.Command{
		Use:   "history <command> [flags] ...",
		Short: "query the history in ClickHouse (audited lookups, read-only SQL)",
		Long: `Lookups of someone's history, each written to the audit log first (--as, --reason or --incident),
and read-only SQL.

` + whereInstance,
	}
	c.AddCommand(historySQLCommand())
	for _, l := range lookups {
		c.AddCommand(lookupCommand(l))
	}
	const usage = "usage: breachd history sql|logins|access|subject|timeline [flags] ..."
	return group(c, usage+" (see breachd history --help)", "unknown history command %q; "+usage)
}

func historySQLCommand() *cobra.Command {
	var lim history.SQLLimits
	var reason string
	c := &cobra.Command{
		Use:   `sql [flags] "SELECT ..."`,
		Short: "run one read-only statement (audited) and print the result",
		Long: `Runs one read-only statement (SELECT, WITH, SHOW, DESCRIBE, EXPLAIN, EXISTS) against the history
with readonly=1 and row/time limits, and prints the result. The statement is written to the audit
log (--as, --reason) before it runs.

Tables: auth_events, access_events, directory_events, alerts, incidents, audit. Event tables
collapse duplicates on merge: add FINAL for exact counts.`,
		Args: posArgs(1, -1, ""),
		Example: `  breachd history sql "SELECT id, account, severity, alert_count, summary FROM incidents FINAL"
  breachd history sql --format csv "SELECT service, count() FROM auth_events WHERE user = 'ola@bergen.kommune.no' GROUP BY service"`,
	}
	fs := c.Flags()
	historyFlags(fs)
	withServer(withOutput(withActor(c, false), output.Formats))
	fs.IntVar(&lim.MaxRows, "max-rows", 10000, "refuse results with more rows than this")
	fs.DurationVar(&lim.Timeout, "timeout", 30*time.Second, "maximum execution time")
	fs.StringVar(&reason, "reason", "", "why, for the audit log")
	c.RunE = func(c *cobra.Command, args []string) error {
		stmt := strings.Join(args, " ")
		if serverMode(c) && strings.TrimSpace(reason) == "" {
			return usagef("history sql: --reason is required with --server (the server audits every statement with its purpose)")
		}
		return printVia(c, deploy.AttachConfig{History: true}, func(ctx context.Context, a *deploy.Attached) (any, error) {
			ask, err := directAsker(reason, "")
			if err != nil {
				return nil, err
			}
			return result(a.History.AuditedSQL(ctx, ask, stmt, lim))
		}, func(ctx context.Context, api *apiclient.Client) (any, error) {
			return result(api.SQL(ctx, reason, stmt, lim))
		})
	}
	return c
}

// directAsker is the operator on the box asking (direct mode): the audit log records the OS
// user (vouched for by auth.IssuerOS) and, as the actor, the --as name.
func directAsker(why, incident string) (history.Asker, error) {
	u, err := user.Current()
	if err != nil {
		return history.Asker{}, fmt.Errorf("who is asking: the OS user is unknown (%w); the audit log needs it", err)
	}
	return history.Asker{Who: actor, Issuer: auth.IssuerOS, Subject: u.Username, Why: why, Incident: incident}, nil
}

// lookup is one audited lookup of `breachd history`.
type lookup struct{ name, who, summary, example string }

var lookups = []lookup{
	{history.LookupLogins, "account", "services the account logged into: first/last time, successes, failures, IPs, countries",
		`breachd history logins --account kari@bergen.kommune.no --from 2026-11-01 --to 2026-11-03 --reason "phishing report"`},
	{history.LookupAccess, "account", "whose data the account saw/changed/deleted/exported, with people and records totals (GDPR Art. 33)",
		`breachd history access --account kari@bergen.kommune.no --from 2026-11-01 --to 2026-11-03 --incident INC-20261102-0000abcd --summary`},
	{history.LookupSubject, "person", "who accessed the person's data (for the data subject and the DPO)",
		`breachd history subject --person ola@bergen.kommune.no --from 2026-09-01 --to 2026-11-03 --reason "access request from guardian"`},
	{history.LookupTimeline, "account", "everything the account did (logins, accesses, directory changes), in time order",
		`breachd history timeline --account kari@bergen.kommune.no --from 2026-11-02T08:00:00+01:00 --to 2026-11-02T12:00:00+01:00 --incident INC-20261102-0000abcd --format csv`},
}

func lookupCommand(l lookup) *cobra.Command {
	r := history.LookupRequest{Lookup: l.name}
	var from, to timespec.Value
	c := &cobra.Command{
		Use:   fmt.Sprintf("%s --%s X --from T [--to T] (--reason TEXT | --incident ID)", l.name, l.who),
		Short: l.summary,
		Long: fmt.Sprintf(`Shows %s in the window [from, to) (at most %d days).
Every lookup is written to the audit log (who asked, what, whose, why) before any data is read;
when that fails, the lookup fails.`, l.summary, history.MaxWindow/(24*time.Hour)),
		Example: "  " + l.example,
		Args:    posArgs(0, 0, fmt.Sprintf(": give the %s with --%s", l.who, l.who)),
	}
	fs := c.Flags()
	historyFlags(fs)
	withServer(withOutput(withActor(c, true), output.Formats))
	fs.StringVar(&r.Who, l.who, "", "the "+l.who+" whose history is looked up (required)")
	fs.Var(&from, "from", "start of the window, inclusive: RFC 3339, YYYY-MM-DD (UTC midnight) or a duration back from now such as 24h or 7d (required)")
	fs.Var(&to, "to", "end of the window, exclusive (default now)")
	fs.StringVar(&r.Ask.Why, "reason", "", "why you look (required unless --incident is given)")
	fs.StringVar(&r.Ask.Incident, "incident", "", "the incident this lookup is part of")
	switch l.name {
	case history.LookupTimeline:
		fs.IntVar(&r.Limit, "limit", history.DefaultTimelineLimit, fmt.Sprintf("at most this many rows (maximum %d)", history.MaxTimelineLimit))
	case history.LookupAccess:
		fs.BoolVar(&r.Summary, "summary", false, "print the totals per resource category (people, records, events) instead of the rows")
	}
	c.RunE = func(c *cobra.Command, _ []string) error {
		if strings.TrimSpace(r.Who) == "" {
			return usagef("history %s: --%s is required", l.name, l.who)
		}
		if !from.Given() {
			return usagef("history %s: --from is required", l.name)
		}
		if r.From, r.To = from.UTC(time.Time{}), to.UTC(time.Now()); !r.From.Before(r.To) {
			return usagef("history %s: --from %s is not before --to %s", l.name, from.String(), r.To.Format(time.RFC3339))
		}
		if strings.TrimSpace(r.Ask.Why) == "" && strings.TrimSpace(r.Ask.Incident) == "" {
			return usagef("history %s: --reason is required unless --incident is given (a lookup of a person's data needs a purpose)", l.name)
		}
		return printVia(c, deploy.AttachConfig{History: true}, func(ctx context.Context, a *deploy.Attached) (any, error) {
			ask, err := directAsker(r.Ask.Why, r.Ask.Incident)
			if err != nil {
				return nil, err
			}
			r.Ask, r.Scope = ask, event.Everywhere
			return result(a.History.Lookup(ctx, r))
		}, func(ctx context.Context, api *apiclient.Client) (any, error) {
			return result(api.Lookup(ctx, r))
		})
	}
	return c
}
