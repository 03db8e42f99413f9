package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"slices"
	"strings"
	"time"

	"breachd/history"
)

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

func findQueryVerb(name string) (queryVerb, bool) {
	for _, v := range queryVerbs {
		if v.name == name {
			return v, true
		}
	}
	return queryVerb{}, false
}

// queryVerbsHelp lists the verbs for `breachd history --help`.
func queryVerbsHelp() string {
	var b strings.Builder
	for _, v := range queryVerbs {
		fmt.Fprintf(&b, "  %-9s %s\n", v.name, v.summary)
	}
	return b.String()
}

// runQueryVerb runs one lookup. Flags the outer `history` flag set already parsed (those
// given before the verb, e.g. --data) carry over.
func runQueryVerb(ctx context.Context, v queryVerb, outer *flag.FlagSet, args []string) error {
	var (
		infra                   infraFlags
		who, fromS, toS, format string
		reason, incident, as    string
		limit                   int
		summary                 bool
		fset                    = flag.NewFlagSet("breachd history "+v.name, flag.ContinueOnError)
	)
	infra.declare(fset)
	fset.StringVar(&who, v.who, "", "the "+v.who+" whose history is looked up (required)")
	fset.StringVar(&fromS, "from", "", "start of the window, inclusive: RFC 3339 or YYYY-MM-DD (UTC midnight) (required)")
	fset.StringVar(&toS, "to", "", "end of the window, exclusive: RFC 3339 or YYYY-MM-DD (default now)")
	fset.StringVar(&reason, "reason", "", "why you look (written to the audit log; required unless --incident is given)")
	fset.StringVar(&incident, "incident", "", "the incident this lookup is part of (written to the audit log)")
	fset.StringVar(&as, "as", os.Getenv("USER"), "who is asking, for the audit log (default $USER; required when it is not set)")
	fset.StringVar(&format, "format", "table", "output: "+strings.Join(history.Formats, ", "))
	switch v.name {
	case "timeline":
		fset.IntVar(&limit, "limit", history.DefaultTimelineLimit, fmt.Sprintf("at most this many rows (maximum %d)", history.MaxTimelineLimit))
	case "access":
		fset.BoolVar(&summary, "summary", false, "print the totals per resource category (people, records, events) instead of the rows")
	}
	fset.Usage = func() {
		w := fset.Output()
		fmt.Fprintf(w, "Usage: breachd history %s --%s X --from T [--to T] (--reason TEXT | --incident ID) [flags]\n\n", v.name, v.who)
		fmt.Fprintf(w, "Shows %s in the window [from, to) (at most %d days).\n", v.summary, history.MaxWindow/(24*time.Hour))
		fmt.Fprintf(w, "Every lookup is written to the audit log (who asked, what, whose, why) before any data is read;\n")
		fmt.Fprintf(w, "when that fails, the lookup fails.\n\nExample:\n  %s\n\nFlags:\n", v.example)
		fset.PrintDefaults()
	}
	outer.Visit(func(f *flag.Flag) {
		if fset.Lookup(f.Name) != nil {
			_ = fset.Set(f.Name, f.Value.String())
		}
	})
	if err := fset.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return err
		}
		return usageError{err.Error()}
	}
	if fset.NArg() > 0 {
		return usagef("history %s: unexpected arguments %q (give the %s with --%s)", v.name, fset.Args(), v.who, v.who)
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
	if !slices.Contains(history.Formats, format) {
		return usagef("--format: %q is not one of %s", format, strings.Join(history.Formats, ", "))
	}
	switch {
	case strings.TrimSpace(as) == "":
		return usagef("history %s: --as is required ($USER is not set): every lookup is audited", v.name)
	case strings.TrimSpace(reason) == "" && strings.TrimSpace(incident) == "":
		return usagef("history %s: --reason is required unless --incident is given (a lookup of a person's data needs a purpose)", v.name)
	}
	ask := history.Asker{Who: as, Why: reason, Incident: incident}
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	store, closeFn, err := openHistory(ctx, infra, log, false)
	if err != nil {
		return err
	}
	defer closeFn()
	t, footer, err := lookup(ctx, store, v.name, ask, who, from, to, limit, summary)
	if err != nil {
		return err
	}
	if err := t.Write(os.Stdout, format); err != nil {
		return err
	}
	if footer != "" && format == history.FormatTable {
		fmt.Println(footer)
	}
	return nil
}

// lookup runs the verb and renders its result as a table, plus a footer for people.
func lookup(ctx context.Context, s *history.Store, verb string, ask history.Asker, who string, from, to time.Time,
	limit int, summary bool) (*history.Table, string, error) {
	switch verb {
	case "logins":
		rows, err := s.Logins(ctx, ask, who, from, to)
		t := &history.Table{Columns: []string{"service", "service_name", "first", "last", "successes", "failures", "ips", "countries"}}
		for _, r := range rows {
			t.Rows = append(t.Rows, []any{r.Service, r.ServiceName, r.First, r.Last, r.Successes, r.Failures, r.IPs, r.Countries})
		}
		return t, "", err
	case "access":
		sum, err := s.Access(ctx, ask, who, from, to)
		if err != nil {
			return nil, "", err
		}
		footer := fmt.Sprintf("total: %d people, %d records, %d events", sum.Total.People, sum.Total.Records, sum.Total.Events)
		if summary {
			t := &history.Table{Columns: []string{"resource", "people", "records", "events"}}
			for _, r := range append(sum.ByResource, history.AccessTotal{Resource: "(all)", People: sum.Total.People,
				Records: sum.Total.Records, Events: sum.Total.Events}) {
				t.Rows = append(t.Rows, []any{r.Resource, r.People, r.Records, r.Events})
			}
			return t, "", nil
		}
		t := &history.Table{Columns: []string{"subject", "resource", "action", "events", "records", "first", "last"}}
		for _, r := range sum.Rows {
			t.Rows = append(t.Rows, []any{r.Subject, r.Resource, r.Action, r.Events, r.Records, r.First, r.Last})
		}
		return t, footer, nil
	case "subject":
		rows, err := s.Subject(ctx, ask, who, from, to)
		t := &history.Table{Columns: []string{"actor", "actor_role", "resource", "action", "events", "records", "first", "last"}}
		for _, r := range rows {
			t.Rows = append(t.Rows, []any{r.Actor, r.ActorRole, r.Resource, r.Action, r.Events, r.Records, r.First, r.Last})
		}
		return t, "", err
	case "timeline":
		rows, err := s.Timeline(ctx, ask, who, from, to, limit)
		t := &history.Table{Columns: []string{"time", "kind", "id", "action", "target", "resource", "records", "ip", "country"}}
		for _, r := range rows {
			t.Rows = append(t.Rows, []any{r.Time, r.Kind, r.ID, r.Action, r.Target, r.Resource, r.Records, r.IP, r.Country})
		}
		return t, "", err
	}
	return nil, "", usagef("unknown history verb %q", verb)
}

// parseWhen reads an RFC 3339 time or a date (midnight UTC); empty gives def, or an error
// when def is zero.
func parseWhen(flagName, s string, def time.Time) (time.Time, error) {
	if s == "" {
		if def.IsZero() {
			return time.Time{}, usagef("%s is required", flagName)
		}
		return def, nil
	}
	if t, err := time.Parse(time.RFC3339Nano, s); err == nil {
		return t, nil
	}
	if t, err := time.Parse(time.DateOnly, s); err == nil {
		return t, nil
	}
	return time.Time{}, usagef("%s: %q is neither RFC 3339 (2026-11-02T08:00:00Z) nor a date (2026-11-02)", flagName, s)
}
