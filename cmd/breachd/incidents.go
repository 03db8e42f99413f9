package main

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"breachd/bus"
	"breachd/deploy"
	"breachd/event"
	"breachd/history"
	"breachd/notify"
	"breachd/respond"
)

// incOpts are the flags every `incidents` subcommand has.
type incOpts struct {
	infra  infraFlags
	format string
	as     string
}

// incEnv is what a subcommand works with: the incidents bucket, the history and JetStream.
type incEnv struct {
	o     *incOpts
	js    jetstream.JetStream
	store *notify.Store
	hist  *history.Store
	log   *slog.Logger
	now   func() time.Time
}

// incSub is one `breachd incidents` subcommand. define declares its own flags on fs and
// returns the function that runs it with the positional arguments.
type incSub struct {
	name, args, summary, help string
	change                    bool // changes something: --as is required and audited
	minArgs, maxArgs          int  // positional arguments, checked before connecting
	formats                   []string
	define                    func(fs *flag.FlagSet, o *incOpts) func(ctx context.Context, env *incEnv, pos []string) error
}

var (
	tableFormats = history.Formats
	docFormats   = []string{history.FormatTable, history.FormatJSON}
)

func incidentsCommand() *command {
	var infra infraFlags
	return &command{
		name:    "incidents",
		summary: "work incidents through the breach procedure: lifecycle, evidence, Art. 33 report, register",
		usage:   "<subcommand> [flags] [arguments]",
		help: `Subcommands ('breachd incidents SUB --help' for each):
` + incSubsHelp() + `
Incidents live in the NATS KV bucket "incidents". Every change is a compare-and-set on the incident
that appends a timeline entry naming the actor (--as, default $USER); nothing rewrites the
timeline. A change is then mirrored to the history (incidents table) and published on
breachd.incidents.updated (Nats-Msg-Id <id>-v<version>).

Where the engines are: --nats/--clickhouse if given; else the running 'breachd run' with the same
--data (found through its endpoint file); else the embedded engines are started on --data.`,
		flags: infra.declare,
		run: func(ctx context.Context, outer *flag.FlagSet, args []string) error {
			if len(args) == 0 {
				return usagef("usage: breachd incidents %s ... (see breachd incidents --help)", strings.Join(incSubNames(), "|"))
			}
			for _, s := range incSubs() {
				if s.name == args[0] {
					return s.execute(ctx, outer, args[1:])
				}
			}
			return usagef("incidents: unknown subcommand %q (want %s)", args[0], strings.Join(incSubNames(), ", "))
		},
	}
}

func incSubs() []incSub {
	return []incSub{listSub(), showSub(), ackSub(), transitionSub(), commentSub(), evidenceSub(), reportSub(),
		deactivateSub(), approveSub(), reactivateSub(), registerSub()}
}

func incSubNames() []string {
	var out []string
	for _, s := range incSubs() {
		out = append(out, s.name)
	}
	return out
}

func incSubsHelp() string {
	var b strings.Builder
	for _, s := range incSubs() {
		fmt.Fprintf(&b, "  %-11s %s\n", s.name, s.summary)
	}
	return b.String()
}

func (s incSub) execute(ctx context.Context, outer *flag.FlagSet, args []string) error {
	o := &incOpts{}
	fset := flag.NewFlagSet("breachd incidents "+s.name, flag.ContinueOnError)
	o.infra.declare(fset)
	fset.StringVar(&o.format, "format", "table", "output: "+strings.Join(s.formats, ", "))
	if s.change {
		fset.StringVar(&o.as, "as", os.Getenv("USER"), "who makes the change, for the timeline and the audit log (default $USER; required)")
	}
	run := s.define(fset, o)
	fset.Usage = func() {
		w := fset.Output()
		fmt.Fprintf(w, "Usage: breachd incidents %s %s\n\n%s\n\n%s\n\nFlags:\n", s.name, s.args, s.summary, strings.TrimSpace(s.help))
		fset.PrintDefaults()
	}
	outer.Visit(func(f *flag.Flag) { _ = fset.Set(f.Name, f.Value.String()) })
	pos, err := parseInterleaved(fset, args)
	if err != nil {
		return err
	}
	if !slices.Contains(s.formats, o.format) {
		return usagef("incidents %s: --format %q is not one of %s", s.name, o.format, strings.Join(s.formats, ", "))
	}
	if len(pos) < s.minArgs || len(pos) > s.maxArgs {
		return usagef("incidents %s: want %s, got %d argument(s) %q", s.name, s.args, len(pos), pos)
	}
	if s.change && strings.TrimSpace(o.as) == "" {
		return usagef("incidents %s: --as is required ($USER is not set): every change names who made it", s.name)
	}
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	env, closeFn, err := openIncidents(ctx, o.infra, log)
	if err != nil {
		return err
	}
	defer closeFn()
	env.o = o
	return run(ctx, env, pos)
}

// openIncidents connects to NATS and the history: --nats (and --clickhouse or the history
// openHistory finds); else the running instance's endpoint file (its embedded NATS and
// ClickHouse); else it starts the embedded engines on --data.
func openIncidents(ctx context.Context, f infraFlags, log *slog.Logger) (*incEnv, func(), error) {
	env := &incEnv{log: log, now: time.Now}
	finish := func(js jetstream.JetStream, closeFn func()) (*incEnv, func(), error) {
		store, err := notify.NewStore(js)
		if err != nil {
			closeFn()
			return nil, nil, err
		}
		env.js, env.store = js, store
		return env, closeFn, nil
	}
	connect := func(url string) (func(), error) {
		nc, js, err := bus.Connect(url, "breachd-incidents", log)
		if err != nil {
			return nil, err
		}
		env.js = js
		return nc.Close, nil
	}
	if f.nats != "" {
		closeNATS, err := connect(f.nats)
		if err != nil {
			return nil, nil, err
		}
		hist, closeHist, err := openHistory(ctx, f, log)
		if err != nil {
			closeNATS()
			return nil, nil, err
		}
		env.hist = hist
		return finish(env.js, func() { closeHist(); closeNATS() })
	}
	ep, err := deploy.ReadEndpoint(f.data)
	switch {
	case err == nil && ep.NATS == "":
		return nil, nil, fmt.Errorf("the breachd running on --data %s uses an external NATS: give its URL with --nats", f.data)
	case err == nil:
		closeNATS, err := connect(ep.NATS)
		if err == nil {
			hist, herr := history.Open(ctx, cmp.Or(f.clickhouse, ep.DSN), log)
			if herr == nil {
				env.hist = hist
				return finish(env.js, func() { _ = hist.Close(); closeNATS() })
			}
			closeNATS()
			err = herr
		}
		log.Warn("endpoint file found but its breachd does not answer; starting the engines on the data directory", "err", err)
	case !errors.Is(err, fs.ErrNotExist):
		return nil, nil, err
	}
	in, err := deploy.StartInfra(ctx, f.config(log))
	if err != nil {
		return nil, nil, fmt.Errorf("no running breachd found for --data %s, and starting the engines on it failed: %w", f.data, err)
	}
	env.hist = in.History
	return finish(in.JS, in.Close)
}

// persist mirrors a changed incident into the history and publishes it on the INCIDENTS
// stream, so other systems see the change. The change itself is already stored.
func (env *incEnv) persist(ctx context.Context, inc *event.Incident) error {
	if inc == nil {
		return nil
	}
	if err := env.hist.UpsertIncident(ctx, inc); err != nil {
		return fmt.Errorf("%s v%d is stored, but mirroring it to the history failed: %w", inc.ID, inc.Version, err)
	}
	data, err := json.Marshal(inc)
	if err != nil {
		return fmt.Errorf("encode incident %s: %w", inc.ID, err)
	}
	msgID := fmt.Sprintf("%s-v%d", inc.ID, inc.Version)
	if _, err := env.js.Publish(ctx, bus.SubjectIncidents+".updated", data, jetstream.WithMsgID(msgID)); err != nil {
		return fmt.Errorf("%s v%d is stored, but publishing the change failed: %w", inc.ID, inc.Version, err)
	}
	return nil
}

// changed persists inc and prints its new state.
func (env *incEnv) changed(ctx context.Context, inc *event.Incident) error {
	if err := env.persist(ctx, inc); err != nil {
		return err
	}
	if env.o.format == history.FormatJSON {
		return printJSON(inc)
	}
	fmt.Printf("%s is %s (version %d), %s\n", inc.ID, inc.State, inc.Version, deadlineText(inc, env.now()))
	if n := len(inc.Timeline); n > 0 {
		e := inc.Timeline[n-1]
		fmt.Printf("  %s  %s  %s\n", e.At.UTC().Format(time.RFC3339), e.Actor, e.Text)
	}
	return nil
}

func printJSON(v any) error {
	enc := json.NewEncoder(os.Stdout)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

// deadlineText says where the incident stands against its Art. 33 deadline.
func deadlineText(inc *event.Incident, now time.Time) string {
	due := inc.Deadline.UTC().Format("2006-01-02 15:04 UTC")
	switch {
	case !inc.Report.ReportedAt.IsZero():
		return "reported " + inc.Report.ReportedAt.UTC().Format("2006-01-02 15:04 UTC") + " (due " + due + ")"
	case inc.Report.NotReportableReason != "":
		return "not reportable (documented)"
	case now.After(inc.Deadline):
		return "report OVERDUE by " + notify.Duration(now.Sub(inc.Deadline)) + " (due " + due + ")"
	}
	return "report due " + due + " (" + notify.Duration(inc.Deadline.Sub(now)) + " left)"
}

// edit is the actor and comment of a change.
func (env *incEnv) edit(comment string) notify.Edit {
	return notify.Edit{Actor: env.o.as, Comment: strings.TrimSpace(comment)}
}

func listSub() incSub {
	return incSub{name: "list", minArgs: 0, maxArgs: 0, args: "[--all] [--state S] [--org O]", summary: "list incidents (open ones unless --all)", formats: tableFormats,
		help: "Newest first. The due column shows the time left to the Art. 33 deadline, OVERDUE, or how the reporting duty was settled.",
		define: func(fset *flag.FlagSet, _ *incOpts) func(context.Context, *incEnv, []string) error {
			all := fset.Bool("all", false, "include closed incidents")
			state := fset.String("state", "", "only incidents in this state ("+strings.Join(event.IncidentStates, ", ")+")")
			org := fset.String("org", "", "only incidents of this organisation")
			return func(ctx context.Context, env *incEnv, pos []string) error {
				if *state != "" && !slices.Contains(event.IncidentStates, *state) {
					return usagef("incidents list: --state %q is not one of %s", *state, strings.Join(event.IncidentStates, ", "))
				}
				incs, err := env.store.List(ctx)
				if err != nil {
					return err
				}
				t := &history.Table{Columns: []string{"id", "org", "account", "state", "severity", "opened", "deadline", "due", "alerts", "summary"}}
				for _, inc := range incs {
					if (!*all && *state == "" && !inc.Open()) || (*state != "" && inc.State != *state) || (*org != "" && inc.Org != *org) {
						continue
					}
					t.Rows = append(t.Rows, []any{inc.ID, inc.Org, inc.Account, inc.State, string(inc.Severity), inc.Opened, inc.Deadline,
						deadlineText(inc, env.now()), inc.AlertCount, inc.Summary})
				}
				return t.Write(os.Stdout, env.o.format)
			}
		}}
}

func ackSub() incSub {
	return incSub{name: "ack", minArgs: 1, maxArgs: 1, args: "ID [--aware-at RFC3339] [--comment TEXT]", change: true, formats: docFormats,
		summary: "record the moment of awareness (Art. 33(1)); the deadline becomes awareness + 72 h",
		help:    "Without --aware-at the moment of awareness is now. It must not be in the future.",
		define: func(fset *flag.FlagSet, _ *incOpts) func(context.Context, *incEnv, []string) error {
			awareAt := fset.String("aware-at", "", "when the controller became aware, RFC 3339 (default now)")
			comment := fset.String("comment", "", "a note for the timeline")
			return func(ctx context.Context, env *incEnv, pos []string) error {
				id := pos[0]
				aware, err := parseWhen("--aware-at", *awareAt, env.now())
				if err != nil {
					return err
				}
				inc, err := env.store.Ack(ctx, id, aware, env.edit(*comment), env.now())
				if err != nil {
					return err
				}
				return env.changed(ctx, inc)
			}
		}}
}

func transitionSub() incSub {
	return incSub{name: "transition", minArgs: 2, maxArgs: 2, args: "ID STATE [--comment TEXT]", change: true, formats: docFormats,
		summary: "move an incident to another lifecycle state",
		help: `Lifecycle: detected → contained → investigating → reported | not_reportable → remediated → closed.
not_reportable needs the reason as --comment (Art. 33(5)); closing a detected incident needs a
comment saying why it is no breach. A refused transition exits 1 and names the allowed states.`,
		define: func(fset *flag.FlagSet, _ *incOpts) func(context.Context, *incEnv, []string) error {
			comment := fset.String("comment", "", "why (required for not_reportable)")
			return func(ctx context.Context, env *incEnv, pos []string) error {
				inc, err := env.store.Transition(ctx, pos[0], pos[1], env.edit(*comment), env.now())
				if err != nil {
					return err
				}
				return env.changed(ctx, inc)
			}
		}}
}

func commentSub() incSub {
	return incSub{name: "comment", minArgs: 2, maxArgs: 1000, args: "ID [--step N] TEXT", change: true, formats: docFormats,
		summary: "add a note to the timeline; --step N also records procedure step N as done",
		help:    "Steps: " + stepList(),
		define: func(fset *flag.FlagSet, _ *incOpts) func(context.Context, *incEnv, []string) error {
			step := fset.Int("step", 0, "record this procedure step (1–8) as done")
			return func(ctx context.Context, env *incEnv, pos []string) error {
				inc, err := env.store.Comment(ctx, pos[0], *step, env.edit(strings.Join(pos[1:], " ")), env.now())
				if err != nil {
					return err
				}
				return env.changed(ctx, inc)
			}
		}}
}

func stepList() string {
	var b strings.Builder
	for n := 1; n <= len(notify.StepNames); n++ {
		fmt.Fprintf(&b, "\n  %d %s", n, notify.StepNames[n])
	}
	return b.String()
}

func registerSub() incSub {
	return incSub{name: "register", minArgs: 0, maxArgs: 0, args: "[--from T] [--to T]", formats: tableFormats,
		summary: "the breach register: every incident, reported or not (Art. 33(5))",
		help:    "One row per incident opened in [--from, --to), open or closed, oldest first.",
		define: func(fset *flag.FlagSet, _ *incOpts) func(context.Context, *incEnv, []string) error {
			fromS := fset.String("from", "", "only incidents opened at or after this time (RFC 3339 or YYYY-MM-DD)")
			toS := fset.String("to", "", "only incidents opened before this time (RFC 3339 or YYYY-MM-DD)")
			return func(ctx context.Context, env *incEnv, pos []string) error {
				from, err := parseWhen("--from", *fromS, time.Unix(0, 0))
				if err != nil {
					return err
				}
				to, err := parseWhen("--to", *toS, time.Date(9999, 1, 1, 0, 0, 0, 0, time.UTC))
				if err != nil {
					return err
				}
				incs, err := env.store.List(ctx)
				if err != nil {
					return err
				}
				t := &history.Table{Columns: []string{"id", "org", "account", "severity", "state", "opened", "aware", "deadline",
					"reported", "reported_at", "late", "reason", "reference", "art34", "subjects", "evidence", "closed", "summary"}}
				for _, r := range notify.Register(incs, env.now()) {
					if r.Opened.Before(from) || !r.Opened.Before(to) {
						continue
					}
					t.Rows = append(t.Rows, []any{r.ID, r.Org, r.Account, string(r.Severity), r.State, r.Opened, r.Aware, r.Deadline,
						r.Reported, optTime(r.ReportedAt), r.Late, r.Reason, r.Reference, r.Art34, r.Subjects, r.Evidence, optTime(r.Closed), r.Summary})
				}
				return t.Write(os.Stdout, env.o.format)
			}
		}}
}

// optTime is nil for the zero time, so tables show an empty cell.
func optTime(t time.Time) any {
	if t.IsZero() {
		return nil
	}
	return t
}

// writeFile writes data to dir/name and returns the path.
func writeFile(dir, name string, data []byte) (string, error) {
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return "", fmt.Errorf("report directory: %w", err)
	}
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, data, 0o640); err != nil {
		return "", fmt.Errorf("write report: %w", err)
	}
	return p, nil
}

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
				if env.o.format == history.FormatJSON {
					return printJSON(struct {
						*event.Incident
						NextStates   []string `json:"next_states"`
						MissingSteps []string `json:"missing_steps"`
						Due          string   `json:"due"`
					}{inc, append([]string{}, notify.NextStates(inc.State)...), append([]string{}, notify.MissingSteps(inc, 1, 2, 3, 4, 5, 6, 7, 8)...),
						deadlineText(inc, env.now())})
				}
				printIncident(inc, env.now())
				return nil
			}
		}}
}

func printIncident(inc *event.Incident, now time.Time) {
	ts := func(t time.Time) string {
		if t.IsZero() {
			return "-"
		}
		return t.UTC().Format("2006-01-02 15:04:05 UTC")
	}
	rules := make([]string, 0, len(inc.Rules))
	for r, n := range inc.Rules {
		rules = append(rules, fmt.Sprintf("%s=%d", r, n))
	}
	slices.Sort(rules)
	fmt.Printf("Incident      %s (version %d)\nOrganisation  %s\nAccount       %s\n", inc.ID, inc.Version, inc.Org, inc.Account)
	fmt.Printf("State         %s (next: %s)\nSeverity      %s\nSummary       %s\n", inc.State,
		cmp.Or(strings.Join(notify.NextStates(inc.State), ", "), "none"), inc.Severity, inc.Summary)
	fmt.Printf("Opened        %s\nAware         %s\nDeadline      %s\n", ts(inc.Opened), ts(inc.Aware), deadlineText(inc, now))
	fmt.Printf("Seen          %s – %s\nAlerts        %d (%s)\nSubjects      %d", ts(inc.FirstSeen), ts(inc.LastSeen), inc.AlertCount, strings.Join(rules, ", "), len(inc.Subjects))
	if inc.SubjectsTruncated {
		fmt.Print(" (list truncated)")
	}
	fmt.Printf("\nDeactivation  %s\n", cmp.Or(inc.Deactivation, map[bool]string{true: "requested", false: "not requested"}[inc.RespondRequested]))
	r := inc.Report
	fmt.Printf("Report        dpo=%q reference=%q art34=%s consequences=%t measures=%t", r.DPO, r.Reference, cmp.Or(r.Art34, notify.NotDecided), r.Consequences != "", r.Measures != "")
	if r.NotReportableReason != "" {
		fmt.Printf(" not_reportable=%q", r.NotReportableReason)
	}
	fmt.Println("\n\nSteps:")
	for n := 1; n <= len(notify.StepNames); n++ {
		if s, ok := inc.Steps[n]; ok {
			fmt.Printf("  [x] %d %-62s %s by %s %s\n", n, notify.StepNames[n], ts(s.At), s.Actor, s.Note)
		} else {
			fmt.Printf("  [ ] %d %s\n", n, notify.StepNames[n])
		}
	}
	fmt.Println("\nTimeline:")
	for _, e := range inc.Timeline {
		fmt.Printf("  %s  %-10s %-10s %s\n", ts(e.At), e.Actor, e.Kind, e.Text)
	}
	if inc.TimelineOmitted > 0 {
		fmt.Printf("  (%d further alerts without an entry)\n", inc.TimelineOmitted)
	}
	fmt.Println("\nEvidence:")
	if len(inc.Evidence) == 0 {
		fmt.Println("  none (breachd incidents evidence --refresh " + inc.ID + ")")
	}
	for _, e := range inc.Evidence {
		fmt.Printf("  %s  %-15s %6d rows  %s – %s  sha256 %s\n", e.ID, e.Kind, e.Rows, ts(e.From), ts(e.To), e.Hash)
	}
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
					next, err := notify.CollectEvidence(ctx, env.hist, env.store, inc, evidenceLookback, env.o.as, env.now())
					if perr := env.persist(ctx, next); err == nil {
						err = perr
					}
					if err != nil {
						return err
					}
				}
				evs, err := env.hist.EvidenceOf(ctx, id)
				if err != nil {
					return err
				}
				t := &history.Table{Columns: []string{"id", "kind", "taken", "from", "to", "rows", "sha256", "verified", "query"}}
				for _, e := range evs {
					t.Rows = append(t.Rows, []any{e.ID, e.Kind, e.Taken, e.From, e.To, e.Rows, e.SHA256, e.Verify(), e.Query})
				}
				if env.o.format == history.FormatTable { // the query text is long: only in the other formats
					t.Columns, t.Rows = t.Columns[:8], trimRows(t.Rows, 8)
				}
				return t.Write(os.Stdout, env.o.format)
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
			dir := fset.String("o", ".", "directory the notice is written to")
			fset.StringVar(&rc.Consequences, "consequences", "", "likely consequences for the people concerned (Art. 33(3)(c))")
			fset.StringVar(&rc.Measures, "measures", "", "measures taken or proposed (Art. 33(3)(d))")
			fset.StringVar(&rc.DPO, "dpo", "", "the data protection officer's name and contact (Art. 33(3)(b))")
			fset.StringVar(&rc.Art34, "art34", "", "decision on telling the people concerned: notify or not_required")
			fset.StringVar(&rc.Art34Reason, "art34-reason", "", "why (required with --art34)")
			fset.StringVar(&rc.Reference, "reference", "", "Datatilsynet's case number")
			return func(ctx context.Context, env *incEnv, pos []string) error {
				id := pos[0]
				inc, err := env.store.Get(ctx, id)
				if err != nil {
					return err
				}
				if rc != empty {
					if inc, err = env.store.SetReport(ctx, id, rc, env.edit(""), env.now()); err != nil {
						return err
					}
					if err := env.persist(ctx, inc); err != nil {
						return err
					}
				}
				evs, err := env.hist.EvidenceOf(ctx, id)
				if err != nil {
					return err
				}
				people, err := peopleCategories(ctx, env, inc, evs)
				if err != nil {
					return err
				}
				rep, err := notify.BuildReport(inc, evs, people, env.now())
				if err != nil {
					return err
				}
				js, err := json.MarshalIndent(rep, "", "  ")
				if err != nil {
					return err
				}
				mdPath, err := writeFile(*dir, id+"-art33.md", []byte(rep.Markdown()))
				if err != nil {
					return err
				}
				jsPath, err := writeFile(*dir, id+"-art33.json", append(js, '\n'))
				if err != nil {
					return err
				}
				if env.o.format == history.FormatJSON {
					return printJSON(map[string]any{"markdown": mdPath, "json": jsPath, "draft": rep.Draft, "missing": rep.Missing})
				}
				fmt.Printf("wrote %s\nwrote %s\n", mdPath, jsPath)
				if rep.Draft {
					fmt.Printf("DRAFT: %d item(s) missing:\n", len(rep.Missing))
					for _, m := range rep.Missing {
						fmt.Println("  - " + m)
					}
				}
				return nil
			}
		}}
}

// maxPeopleLookup bounds the subjects whose affiliation one report looks up.
const maxPeopleLookup = 100000

// peopleCategories counts the people of the latest access snapshot by their latest directory
// primary affiliation ("" for people without a directory record). nil when there is no access
// snapshot. The lookup reads personal data and is audited first.
func peopleCategories(ctx context.Context, env *incEnv, inc *event.Incident, evs []history.Evidence) (map[string]uint64, error) {
	var latest *history.Evidence
	for i := range evs {
		if evs[i].Kind == history.EvidenceAccess && (latest == nil || !evs[i].Taken.Before(latest.Taken)) {
			latest = &evs[i]
		}
	}
	if latest == nil {
		return nil, nil
	}
	var sum history.AccessSummary
	if err := json.Unmarshal([]byte(latest.Content), &sum); err != nil {
		return nil, fmt.Errorf("access evidence %s: %w", latest.ID, err)
	}
	seen := map[string]bool{}
	subjects := []string{}
	for _, r := range sum.Rows {
		if !seen[r.Subject] && len(subjects) < maxPeopleLookup {
			seen[r.Subject] = true
			subjects = append(subjects, r.Subject)
		}
	}
	if err := env.hist.Audit(ctx, history.AuditEntry{Actor: env.o.as, Action: "incidents.report", Target: inc.Account,
		Reason: "Art. 33 report of incident " + inc.ID, Detail: fmt.Sprintf("incident=%s categories of %d people from evidence %s", inc.ID, len(subjects), latest.ID)}); err != nil {
		return nil, fmt.Errorf("report refused, the lookup of the people's categories could not be audited: %w", err)
	}
	out := map[string]uint64{}
	if len(subjects) == 0 {
		return out, nil
	}
	rows, err := env.hist.Conn().Query(ctx, `SELECT primary_affiliation, count() FROM (
		SELECT user, argMax(primary_affiliation, time) AS primary_affiliation FROM directory_events FINAL
		WHERE org = ? AND op = 'person' AND has(?, user) GROUP BY user) GROUP BY primary_affiliation`, inc.Org, subjects)
	if err != nil {
		return nil, fmt.Errorf("categories of people: %w", err)
	}
	defer rows.Close()
	var found uint64
	for rows.Next() {
		var aff string
		var n uint64
		if err := rows.Scan(&aff, &n); err != nil {
			return nil, fmt.Errorf("categories of people: %w", err)
		}
		out[aff] += n
		found += n
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("categories of people: %w", err)
	}
	if rest := uint64(len(subjects)) - found; found <= uint64(len(subjects)) && rest > 0 {
		out[""] += rest
	}
	return out, nil
}

// respondFlags name the deactivation configuration of the commands that drive the respond
// engine: the same file as `breachd run --respond` (deploy.RespondConfig); empty is the dry run.
type respondFlags struct{ file string }

func (f *respondFlags) declare(fset *flag.FlagSet) {
	fset.StringVar(&f.file, "respond", os.Getenv("BREACHD_RESPOND"), "deactivation configuration (YAML), the one `breachd run --respond` uses; empty: dry run, no account is changed (env BREACHD_RESPOND)")
}

// engine builds the respond engine over the responses bucket, auditing into the history.
func (f *respondFlags) engine(ctx context.Context, env *incEnv) (*respond.Engine, error) {
	var rc *deploy.RespondConfig
	if f.file != "" {
		var err error
		if rc, err = deploy.LoadRespondConfig(f.file); err != nil {
			return nil, err
		}
	}
	opts, err := rc.Options()
	if err != nil {
		return nil, err
	}
	if err := respond.EnsureBucket(ctx, env.js, 0, 0); err != nil {
		return nil, err
	}
	opts.Auditor, opts.Logger = deploy.HistoryAuditor(env.hist), env.log
	return respond.New(ctx, env.js, opts)
}

// mirrorRequest records the request's state in the incident and persists the change.
func (env *incEnv) mirrorRequest(ctx context.Context, id string, r *respond.Request) (*event.Incident, error) {
	inc, changed, err := env.store.RecordDeactivation(ctx, id, notify.DeactivationState(r), notify.RequestDetail(r), env.now())
	if err != nil || !changed {
		if err == nil {
			inc, err = env.store.Get(ctx, id)
		}
		return inc, err
	}
	return inc, env.persist(ctx, inc)
}

func (env *incEnv) printRequest(r *respond.Request, inc *event.Incident) error {
	if env.o.format == history.FormatJSON {
		return printJSON(map[string]any{"request": r, "incident": inc})
	}
	fmt.Printf("deactivation request of %s: %s via %s", r.Incident, r.State, r.Adapter)
	if d := cmp.Or(r.Refusal, r.LastError); d != "" {
		fmt.Printf(" (%s)", d)
	}
	fmt.Printf("\n%s is %s (version %d), deactivation %s\n", inc.ID, inc.State, inc.Version, inc.Deactivation)
	return nil
}

func deactivateSub() incSub {
	var rf respondFlags
	return incSub{name: "deactivate", minArgs: 1, maxArgs: 1, args: "ID [--comment T] [--respond ADAPTER]", change: true, formats: docFormats,
		summary: "file the deactivation request of the incident's account (step 1) through the respond engine",
		help: `Idempotent per incident: an existing request is returned as it stands. The request passes the
allow-list and the organisation's hourly cap (over it: awaiting_approval, see approve). Its state is
recorded in the incident; done records step 1 and moves a detected incident to contained.`,
		define: func(fset *flag.FlagSet, _ *incOpts) func(context.Context, *incEnv, []string) error {
			rf.declare(fset)
			comment := fset.String("comment", "", "why (stored with the request and audited)")
			return func(ctx context.Context, env *incEnv, pos []string) error {
				id := pos[0]
				eng, err := rf.engine(ctx, env)
				if err != nil {
					return err
				}
				inc, err := env.store.Get(ctx, id)
				if err != nil {
					return err
				}
				reason := "incident " + inc.ID + ": " + cmp.Or(strings.TrimSpace(*comment), inc.Summary)
				r, err := eng.Request(ctx, respond.Target{Org: inc.Org, Account: inc.Account, Incident: inc.ID}, reason, env.o.as)
				if err != nil {
					return err
				}
				if inc, err = env.mirrorRequest(ctx, id, r); err != nil {
					return err
				}
				return env.printRequest(r, inc)
			}
		}}
}

func approveSub() incSub {
	var rf respondFlags
	return incSub{name: "approve", minArgs: 1, maxArgs: 1, args: "ID --comment T [--respond ADAPTER]", change: true, formats: docFormats,
		summary: "let a deactivation held by the organisation's hourly cap run (audited)",
		help:    "Only a request in awaiting_approval can be approved; the allow-list is checked again and still wins.",
		define: func(fset *flag.FlagSet, _ *incOpts) func(context.Context, *incEnv, []string) error {
			rf.declare(fset)
			comment := fset.String("comment", "", "why it may run (required)")
			return func(ctx context.Context, env *incEnv, pos []string) error {
				id := pos[0]
				if strings.TrimSpace(*comment) == "" {
					return usagef("incidents approve: --comment is required (the approval is audited with it)")
				}
				eng, err := rf.engine(ctx, env)
				if err != nil {
					return err
				}
				r, err := eng.Approve(ctx, id, env.o.as, *comment)
				switch {
				case errors.Is(err, respond.ErrState):
					return fmt.Errorf("%s: the deactivation request is %s, not awaiting approval: nothing to approve", id, r.State)
				case errors.Is(err, respond.ErrNotFound):
					return fmt.Errorf("%s: there is no deactivation request to approve (breachd incidents deactivate %s files one)", id, id)
				case err != nil:
					return err
				}
				inc, err := env.mirrorRequest(ctx, id, r)
				if err != nil {
					return err
				}
				return env.printRequest(r, inc)
			}
		}}
}

func reactivateSub() incSub {
	var rf respondFlags
	return incSub{name: "reactivate", minArgs: 1, maxArgs: 1, args: "ID [--force --reason T] [--respond ADAPTER]", change: true, formats: docFormats,
		summary: "turn the deactivated account back on (step 7); refused while steps 2–6 are not done",
		help: `Every call is audited, refusals included. Without --force it is refused while any of steps 2–6
is not recorded done ('breachd incidents comment ID --step N TEXT'); --force overrides that and
needs --reason. On success step 7 is recorded in the incident.`,
		define: func(fset *flag.FlagSet, _ *incOpts) func(context.Context, *incEnv, []string) error {
			rf.declare(fset)
			force := fset.Bool("force", false, "reactivate although steps 2–6 are not all done (needs --reason)")
			reason := fset.String("reason", "", "why (required with --force; audited)")
			return func(ctx context.Context, env *incEnv, pos []string) error {
				id := pos[0]
				if *force && strings.TrimSpace(*reason) == "" {
					return usagef("incidents reactivate: --force needs --reason")
				}
				eng, err := rf.engine(ctx, env)
				if err != nil {
					return err
				}
				inc, err := env.store.Get(ctx, id)
				if err != nil {
					return err
				}
				missing := notify.MissingSteps(inc, 2, 3, 4, 5, 6)
				r, err := eng.Reactivate(ctx, id, respond.ReactivateOptions{Actor: env.o.as, MissingSteps: missing, Force: *force, Reason: *reason})
				if err != nil {
					if errors.Is(err, respond.ErrNotFound) {
						return fmt.Errorf("%s: there is no deactivation request, so nothing to reactivate", id)
					}
					if errors.Is(err, respond.ErrStepsOpen) {
						return fmt.Errorf("%s: reactivation refused: steps not recorded done: %s (record them with 'breachd incidents comment %s --step N TEXT', or --force --reason)",
							id, strings.Join(missing, "; "), id)
					}
					return err
				}
				note := "account reactivated via " + r.Adapter
				if r.Reactivation != nil && r.Reactivation.Forced {
					note += ", forced over open steps " + strings.Join(missing, "; ")
				}
				if *reason != "" {
					note += "; reason: " + *reason
				}
				if inc, err = env.store.Comment(ctx, id, 7, env.edit(note), env.now()); err != nil {
					return err
				}
				if err := env.persist(ctx, inc); err != nil {
					return err
				}
				if inc, err = env.mirrorRequest(ctx, id, r); err != nil {
					return err
				}
				return env.printRequest(r, inc)
			}
		}}
}
