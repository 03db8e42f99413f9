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
	"slices"
	"strings"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"breachd/bus"
	"breachd/deploy"
	"breachd/event"
	"breachd/history"
	"breachd/notify"
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
	store *notify.Incidents
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
		store, err := notify.NewIncidents(ctx, js, notify.IncidentsOptions{Mirror: env.hist, Clock: env.now})
		if err != nil {
			closeFn()
			return nil, nil, err
		}
		env.js, env.store = js, store
		return env, closeFn, nil
	}
	connect := func(url string, login []nats.Option) (func(), error) {
		nc, js, err := bus.Connect(url, "breachd-incidents", log, login...)
		if err != nil {
			return nil, err
		}
		env.js = js
		return nc.Close, nil
	}
	if f.nats != "" {
		login, err := bus.CredsLogin(f.natsCreds, log.Warn)
		if err != nil {
			return nil, nil, err
		}
		closeNATS, err := connect(f.nats, login)
		if err != nil {
			return nil, nil, err
		}
		hist, closeHist, err := openHistory(ctx, f, log, false)
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
		closeNATS, err := connect(ep.NATS, ep.NATSLogin(deploy.NATSOperator))
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
	hist, closeHist, err := in.PeopleHistory(ctx)
	if err != nil {
		in.Close()
		return nil, nil, err
	}
	env.hist = hist
	return finish(in.JS, func() { closeHist(); in.Close() })
}

// changed prints the new state of a changed incident.
func (env *incEnv) changed(inc *event.Incident) error {
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
				inc, err := env.store.Ack(ctx, id, aware, env.edit(*comment))
				if err != nil {
					return err
				}
				return env.changed(inc)
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
				inc, err := env.store.Transition(ctx, pos[0], pos[1], env.edit(*comment))
				if err != nil {
					return err
				}
				return env.changed(inc)
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
				inc, err := env.store.Comment(ctx, pos[0], *step, env.edit(strings.Join(pos[1:], " ")))
				if err != nil {
					return err
				}
				return env.changed(inc)
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
