package main

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/spf13/cobra"
	flag "github.com/spf13/pflag"

	"breachd/deploy"
	"breachd/event"
	"breachd/history"
	"breachd/notify"
	"breachd/output"
)

// incOpts are the shared flags every `incidents` subcommand reads: --format and --as.
type incOpts struct {
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
	tableFormats = output.Formats
	docFormats   = output.Documents
)

func incidentsCommand() *cobra.Command {
	c := &cobra.Command{
		Use:   "incidents <command> [flags] [arguments]",
		Short: "work incidents through the breach procedure: lifecycle, evidence, Art. 33 report, register",
		Long: `Incidents live in the NATS KV bucket "incidents". Every change is a compare-and-set on the incident
that appends a timeline entry naming the actor (--as, default $USER); nothing rewrites the
timeline. A change is then mirrored to the history (incidents table) and published on
breachd.incidents.updated (Nats-Msg-Id <id>-v<version>).

Where the engines are: --nats/--clickhouse if given; else the running 'breachd run' with the same
--data (found through its endpoint file); else the embedded engines on --data, opened here.`,
	}
	var names []string
	var subs []*cobra.Command
	for _, s := range []incSub{listSub(), showSub(), ackSub(), transitionSub(), commentSub(), evidenceSub(), reportSub(),
		deactivateSub(), approveSub(), reactivateSub(), registerSub()} {
		names = append(names, s.name)
		subs = append(subs, s.command())
	}
	return group(c, "usage: breachd incidents "+strings.Join(names, "|")+" ... (see breachd incidents --help)",
		"incidents: unknown subcommand %q (want "+strings.Join(names, ", ")+")", subs...)
}

func (s incSub) command() *cobra.Command {
	o := &incOpts{}
	c := &cobra.Command{Use: s.name + " " + s.args, Short: s.summary, Long: s.summary + "\n\n" + strings.TrimSpace(s.help)}
	instanceFlags(c.Flags())
	withOutput(withActor(c, s.change), s.formats)
	run := s.define(c.Flags(), o)
	c.RunE = func(c *cobra.Command, pos []string) error {
		if len(pos) < s.minArgs || len(pos) > s.maxArgs {
			return usagef("incidents %s: want %s, got %d argument(s) %q", s.name, s.args, len(pos), pos)
		}
		if f := c.Flags().Lookup("respond"); f != nil && f.Value.String() != "" { // before connecting: a wrong file is named first
			if _, err := deploy.LoadRespondConfig(f.Value.String()); err != nil {
				return err
			}
		}
		o.format, o.as = outFormat, actor
		env, closeFn, err := openIncidents(c.Context())
		if err != nil {
			return err
		}
		defer closeFn()
		env.o = o
		return run(c.Context(), env, pos)
	}
	return c
}

// openIncidents reaches the instance (deploy.Attach: NATS as the operator, the history) and
// builds what the subcommands work with. It is the one place the incidents commands construct
// their incidents service (notify.Incidents: every change is stored, mirrored and published
// through it).
func openIncidents(ctx context.Context) (*incEnv, func(), error) {
	a, err := attach(ctx, deploy.NATSOperator, true)
	if err != nil {
		return nil, nil, err
	}
	store, err := a.Incidents(ctx, time.Now)
	if err != nil {
		a.Close()
		return nil, nil, err
	}
	return &incEnv{js: a.JS, store: store, hist: a.History, log: quiet(), now: time.Now}, a.Close, nil
}

// changed prints the new state of a changed incident.
func (env *incEnv) changed(inc *event.Incident) error {
	if env.o.format == output.JSON {
		return printJSON(inc)
	}
	fmt.Printf("%s is %s (version %d), %s\n", inc.ID, inc.State, inc.Version, notify.DeadlineText(inc, env.now()))
	if n := len(inc.Timeline); n > 0 {
		e := inc.Timeline[n-1]
		fmt.Printf("  %s  %s  %s\n", e.At.UTC().Format(time.RFC3339), e.Actor, e.Text)
	}
	return nil
}

func printJSON(v any) error { return output.Write(os.Stdout, output.JSON, v) }

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
				incs = slices.DeleteFunc(incs, func(inc *event.Incident) bool {
					return (!*all && *state == "" && !inc.Open()) || (*state != "" && inc.State != *state) || (*org != "" && inc.Org != *org)
				})
				return output.Write(os.Stdout, env.o.format, output.RowsOf(notify.ListColumns, incs, notify.ListRow(env.now())))
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
				reg := slices.DeleteFunc(notify.Register(incs, env.now()), func(r notify.RegisterRow) bool {
					return r.Opened.Before(from) || !r.Opened.Before(to)
				})
				return output.Write(os.Stdout, env.o.format, output.RowsOf(notify.RegisterColumns, reg, notify.RegisterRow.Row))
			}
		}}
}
