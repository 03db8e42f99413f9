package main

import (
	"context"
	"os"
	"time"

	flag "github.com/spf13/pflag"

	"breachd/notify"
	"breachd/output"
)

func showSub() incSub {
	return incSub{name: "show", minArgs: 1, maxArgs: 1, args: "ID", formats: docFormats,
		summary: "everything about one incident: steps 1–8, timeline, deadline, deactivation, evidence",
		help:    "--format json prints the incident as stored, with next_states and missing_steps added.",
		define: func(*flag.FlagSet, *incOpts) func(context.Context, *incEnv, []string) error {
			return func(ctx context.Context, env *incEnv, pos []string) error {
				id := pos[0]
				inc, err := env.store.Get(ctx, id)
				if err != nil {
					return err
				}
				return output.Write(os.Stdout, env.o.format, notify.Show(inc, env.now()))
			}
		}}
}

// evidenceLookback is how far before the first alert an evidence snapshot looks (the
// Watcher's default).
const evidenceLookback = 30 * 24 * time.Hour

func evidenceSub() incSub {
	return incSub{name: "evidence", minArgs: 1, maxArgs: 1, args: "ID [--refresh]", change: true, formats: tableFormats,
		summary: "list the evidence snapshots (query, rows, SHA-256, verified); --refresh collects new ones",
		help: `--refresh looks up the account's logins and data access (audited, as --as, for the incident)
over [first alert − 30 days, now), stores both snapshots with their query and hash, and references
them in the incident (steps 3 and 4). The listing recomputes each snapshot's hash.`,
		define: func(fset *flag.FlagSet, _ *incOpts) func(context.Context, *incEnv, []string) error {
			refresh := fset.Bool("refresh", false, "collect a new logins and access snapshot first")
			return func(ctx context.Context, env *incEnv, pos []string) error {
				id := pos[0]
				inc, err := env.store.Get(ctx, id)
				if err != nil {
					return err
				}
				if *refresh {
					if _, err := notify.CollectEvidence(ctx, env.hist, env.store, inc, evidenceLookback, env.o.as); err != nil {
						return err
					}
				}
				evs, err := env.hist.EvidenceOf(ctx, id)
				if err != nil {
					return err
				}
				t := &output.Rows{Columns: []string{"id", "kind", "taken", "from", "to", "rows", "sha256", "verified", "query"}}
				for _, e := range evs {
					t.Rows = append(t.Rows, []any{e.ID, e.Kind, e.Taken, e.From, e.To, e.Rows, e.SHA256, e.Verify(), e.Query})
				}
				if env.o.format == output.Table { // the query text is long: only in the other formats
					t.Columns, t.Rows = t.Columns[:8], trimRows(t.Rows, 8)
				}
				return output.Write(os.Stdout, env.o.format, t)
			}
		}}
}

func trimRows(rows [][]any, n int) [][]any {
	for i := range rows {
		rows[i] = rows[i][:n]
	}
	return rows
}

func reportSub() incSub {
	return incSub{name: "report", minArgs: 1, maxArgs: 1, args: "ID [-o DIR] [--consequences T] [--measures T] [--dpo T] [--art34 notify|not_required --art34-reason T] [--reference CASE]",
		change: true, formats: docFormats,
		summary: "write the draft Art. 33 notice (DIR/ID-art33.md and .json) and record the Art. 34 decision",
		help: `The given fields are stored in the incident first (timeline entries name --as), then the notice
is built from the incident and its evidence snapshots and written as Markdown and JSON. It stays a
DRAFT while items are missing; they are printed. The categories of people are the directory's
latest primary affiliation of each person in the latest access snapshot (one history query,
audited as incidents.report). breachd does not send the notice.`,
		define: func(fset *flag.FlagSet, _ *incOpts) func(context.Context, *incEnv, []string) error {
			var rc notify.ReportChange
			empty := notify.ReportChange{}
			dir := fset.StringP("output", "o", ".", "directory the notice is written to")
			fset.StringVar(&rc.Consequences, "consequences", "", "likely consequences for the people concerned (Art. 33(3)(c))")
			fset.StringVar(&rc.Measures, "measures", "", "measures taken or proposed (Art. 33(3)(d))")
			fset.StringVar(&rc.DPO, "dpo", "", "the data protection officer's name and contact (Art. 33(3)(b))")
			fset.StringVar(&rc.Art34, "art34", "", "decision on telling the people concerned: notify or not_required")
			fset.StringVar(&rc.Art34Reason, "art34-reason", "", "why (required with --art34)")
			fset.StringVar(&rc.Reference, "reference", "", "Datatilsynet's case number")
			fset.StringVar(&rc.DelayReasons, "delay-reasons", "", "why the report is later than 72 hours after awareness (Art. 33(1))")
			return func(ctx context.Context, env *incEnv, pos []string) error {
				id := pos[0]
				inc, err := env.store.Get(ctx, id)
				if err != nil {
					return err
				}
				if rc != empty {
					if inc, err = env.store.SetReport(ctx, id, rc, env.edit("")); err != nil {
						return err
					}
				}
				evs, err := env.hist.EvidenceOf(ctx, id)
				if err != nil {
					return err
				}
				people, err := env.hist.ReportPeople(ctx, env.o.as, inc, evs)
				if err != nil {
					return err
				}
				rep, err := notify.BuildReport(inc, evs, people, env.now())
				if err != nil {
					return err
				}
				written, err := rep.WriteFiles(*dir)
				if err != nil {
					return err
				}
				return output.Write(os.Stdout, env.o.format, written)
			}
		}}
}
