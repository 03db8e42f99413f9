package main

import (
	"context"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"breachd/apiclient"
	"breachd/deploy"
	"breachd/event"
	"breachd/notify"
	"breachd/output"
	"breachd/timespec"
)

func incidentsCommand() *cobra.Command {
	c := &cobra.Command{
		Use:   "incidents <command> [flags] [arguments]",
		Short: "work incidents through the breach procedure: lifecycle, evidence, Art. 33 report, register",
		Long: `Incidents live in the NATS KV bucket "incidents". Every change is a compare-and-set on the incident
that appends a timeline entry naming the actor (--as, default $USER); nothing rewrites the
timeline. A change is then mirrored to the history (incidents table) and published on
breachd.incidents.updated (Nats-Msg-Id <id>-v<version>).

` + whereInstance,
	}
	subs := []*cobra.Command{incList(), incShow(), incAck(), incTransition(), incComment(), incEvidence(), incReport(),
		incDeactivate(), incApprove(), incCancel(), incReactivate(), incRegister()}
	var names []string
	for _, s := range subs {
		names = append(names, s.Name())
	}
	return group(c, "usage: breachd incidents "+strings.Join(names, "|")+" ... (see breachd incidents --help)",
		"incidents: unknown subcommand %q (want "+strings.Join(names, ", ")+")", subs...)
}

// respondConfig is the deactivation configuration of the commands that drive the respond
// engine (--respond): the same file as `breachd run --respond`; empty is the dry run.
var respondConfig string

// edit is the actor (--as) and comment of a change.
func edit(comment string) notify.Edit {
	return notify.Edit{Actor: actor, Comment: strings.TrimSpace(comment)}
}

// incidentDesk is where `breachd incidents` works: the instance's notify.Desk (localDesk,
// direct mode) or the API's (apiclient.Desk, --server). Each command builds its request once
// from its flags and calls one method of it.
type incidentDesk interface {
	List(ctx context.Context, r notify.ListRequest) (*output.Rows, error)
	Register(ctx context.Context, from, to time.Time) (*output.Rows, error)
	Show(ctx context.Context, id string) (notify.Shown, error)
	Ack(ctx context.Context, id string, awareAt time.Time, e notify.Edit) (notify.Changed, error)
	Transition(ctx context.Context, id, to string, e notify.Edit) (notify.Changed, error)
	Comment(ctx context.Context, id string, step int, e notify.Edit) (notify.Changed, error)
	Evidence(ctx context.Context, id string, refresh bool) (*output.Rows, error)
	Deactivate(ctx context.Context, id, comment string) (notify.Deactivation, error)
	Approve(ctx context.Context, id, comment string) (notify.Deactivation, error)
	Cancel(ctx context.Context, id, comment string) (notify.Deactivation, error)
	Reactivate(ctx context.Context, r notify.ReactivateRequest) (notify.Deactivation, error)
	Report(ctx context.Context, r notify.ReportRequest) (notify.Written, error)
}

// localDesk is the instance's desk as an incidentDesk: changes are made as --as.
type localDesk struct{ *notify.Desk }

func (d localDesk) Evidence(ctx context.Context, id string, refresh bool) (*output.Rows, error) {
	return d.Desk.Evidence(ctx, id, refresh, actor)
}

func (d localDesk) Deactivate(ctx context.Context, id, comment string) (notify.Deactivation, error) {
	return d.Desk.Deactivate(ctx, id, comment, actor)
}

func (d localDesk) Approve(ctx context.Context, id, comment string) (notify.Deactivation, error) {
	return d.Desk.Approve(ctx, id, comment, actor)
}

func (d localDesk) Cancel(ctx context.Context, id, comment string) (notify.Deactivation, error) {
	return d.Desk.Cancel(ctx, id, comment, actor)
}

// incCommand is a `breachd incidents` command taking min to max positional arguments (args
// says which; max < 0: any number): run is called with the desk once the instance (or, with
// --server, the API) is reached, and what it returns is printed in --format. change: it
// changes something (--as is required in direct mode).
func incCommand(name, args string, min, max int, change bool, formats []string, short, help string,
	run func(ctx context.Context, d incidentDesk, pos []string) (any, error)) *cobra.Command {
	c := &cobra.Command{Use: name + " " + args, Short: short, Long: short + "\n\n" + strings.TrimSpace(help), Args: posArgs(min, max, "")}
	instanceFlags(c.Flags())
	withServer(withOutput(withActor(c, change), formats))
	c.RunE = func(c *cobra.Command, pos []string) error {
		if c.Flags().Lookup("respond") != nil && respondConfig != "" && !serverMode(c) { // before connecting: a wrong file is named first
			if _, err := deploy.LoadRespondConfig(respondConfig); err != nil {
				return err
			}
		}
		return printVia(c, deploy.AttachConfig{NATS: deploy.NATSOperator, History: true}, func(ctx context.Context, a *deploy.Attached) (any, error) {
			desk, err := a.Desk(ctx, respondConfig)
			if err != nil {
				return nil, err
			}
			if desk.Asker, err = directAsker("", ""); err != nil {
				return nil, err
			}
			return result(run(ctx, localDesk{desk}, pos))
		}, func(ctx context.Context, api *apiclient.Client) (any, error) {
			return result(run(ctx, apiclient.Desk{C: api}, pos))
		})
	}
	return c
}

func incList() *cobra.Command {
	var r notify.ListRequest
	c := incCommand("list", "[--all] [--state S] [--org O]", 0, 0, false, output.Formats, "list incidents (open ones unless --all)",
		"Newest first. The due column shows the time left to the Art. 33 deadline, OVERDUE, or how the reporting duty was settled.",
		func(ctx context.Context, d incidentDesk, _ []string) (any, error) { return d.List(ctx, r) })
	c.PreRunE = func(*cobra.Command, []string) error { // before connecting
		if err := r.Check(); err != nil {
			return usagef("incidents list: --%v", err)
		}
		return nil
	}
	c.Flags().BoolVar(&r.All, "all", false, "include closed incidents")
	c.Flags().StringVar(&r.State, "state", "", "only incidents in this state ("+strings.Join(event.IncidentStates, ", ")+")")
	c.Flags().StringVar(&r.Org, "org", "", "only incidents of this organisation")
	return c
}

func incShow() *cobra.Command {
	return incCommand("show", "ID", 1, 1, false, output.Documents, "everything about one incident: steps 1–8, timeline, deadline, deactivation, evidence",
		"--format json prints the incident as stored, with next_states and missing_steps added.",
		func(ctx context.Context, d incidentDesk, pos []string) (any, error) { return d.Show(ctx, pos[0]) })
}

func incAck() *cobra.Command {
	var awareAt timespec.Value
	var comment string
	c := incCommand("ack", "ID [--aware-at RFC3339] [--comment TEXT]", 1, 1, true, output.Documents,
		"record the moment of awareness (Art. 33(1)); the deadline becomes awareness + 72 h",
		"Without --aware-at the moment of awareness is now. It must not be in the future.",
		func(ctx context.Context, d incidentDesk, pos []string) (any, error) {
			return d.Ack(ctx, pos[0], awareAt.UTC(time.Now()), edit(comment))
		})
	c.Flags().Var(&awareAt, "aware-at", "when the controller became aware, RFC 3339 (default now)")
	c.Flags().StringVar(&comment, "comment", "", "a note for the timeline")
	return c
}

func incTransition() *cobra.Command {
	var comment string
	c := incCommand("transition", "ID STATE [--comment TEXT]", 2, 2, true, output.Documents, "move an incident to another lifecycle state",
		`Lifecycle: detected → contained → investigating → reported | not_reportable → remediated → closed.
not_reportable needs the reason as --comment (Art. 33(5)); closing a detected incident needs a
comment saying why it is no breach. A refused transition exits 1 and names the allowed states.`,
		func(ctx context.Context, d incidentDesk, pos []string) (any, error) {
			return d.Transition(ctx, pos[0], pos[1], edit(comment))
		})
	c.Flags().StringVar(&comment, "comment", "", "why (required for not_reportable)")
	return c
}

func incComment() *cobra.Command {
	var step int
	steps := ""
	for n := 1; n <= len(notify.StepNames); n++ {
		steps += fmt.Sprintf("\n  %d %s", n, notify.StepNames[n])
	}
	c := incCommand("comment", "ID [--step N] TEXT", 2, -1, true, output.Documents,
		"add a note to the timeline; --step N also records procedure step N as done", "Steps: "+steps,
		func(ctx context.Context, d incidentDesk, pos []string) (any, error) {
			return d.Comment(ctx, pos[0], step, edit(strings.Join(pos[1:], " ")))
		})
	c.Flags().IntVar(&step, "step", 0, "record this procedure step (1–8) as done")
	return c
}

func incRegister() *cobra.Command {
	var from, to timespec.Value
	c := incCommand("register", "[--from T] [--to T]", 0, 0, false, output.Formats,
		"the breach register: every incident, reported or not (Art. 33(5))",
		"One row per incident opened in [--from, --to), open or closed, oldest first.",
		func(ctx context.Context, d incidentDesk, _ []string) (any, error) {
			return d.Register(ctx, from.UTC(time.Unix(0, 0)), to.UTC(time.Date(9999, 1, 1, 0, 0, 0, 0, time.UTC)))
		})
	c.Flags().Var(&from, "from", "only incidents opened at or after this time (RFC 3339 or YYYY-MM-DD)")
	c.Flags().Var(&to, "to", "only incidents opened before this time")
	return c
}

func incEvidence() *cobra.Command {
	var refresh bool
	c := incCommand("evidence", "ID [--refresh]", 1, 1, true, output.Formats,
		"list the evidence snapshots (query, rows, SHA-256, verified); --refresh collects new ones",
		`--refresh looks up the account's logins and data access (audited, as --as, for the incident)
over [first alert − 30 days, now), stores both snapshots with their query and hash, and references
them in the incident (steps 3 and 4). The listing recomputes each snapshot's hash.`,
		func(ctx context.Context, d incidentDesk, pos []string) (any, error) {
			return d.Evidence(ctx, pos[0], refresh)
		})
	c.Flags().BoolVar(&refresh, "refresh", false, "collect a new logins and access snapshot first")
	return c
}

func incReport() *cobra.Command {
	var r notify.ReportRequest
	c := incCommand("report", "ID [-o DIR] [--lang en|nb] [--consequences T] [--measures T] [--dpo T] [--art34 notify|not_required --art34-reason T] [--reference CASE]",
		1, 1, true, output.Documents, "write the draft Art. 33 notice (DIR/ID-art33.md and .json) and record the Art. 34 decision",
		`The given fields are stored in the incident first (timeline entries name --as), then the notice
is built from the incident and its evidence snapshots and written as Markdown and JSON; with
--lang nb the Markdown is in Norwegian bokmål (Datatilsynet's form), DIR/ID-art33.nb.md. It stays a
DRAFT while items are missing; they are printed. The categories of people are the directory's
latest primary affiliation of each person in the latest access snapshot (one history query,
audited as incidents.report). breachd does not send the notice.`,
		func(ctx context.Context, d incidentDesk, pos []string) (any, error) {
			r.ID, r.Actor = pos[0], actor
			return d.Report(ctx, r)
		})
	fs, rc := c.Flags(), &r.Change
	fs.StringVarP(&r.Dir, "output", "o", ".", "directory the notice is written to")
	fs.StringVar(&r.Lang, "lang", "en", "language of the Markdown notice: en or nb (Norwegian bokmål)")
	c.PreRunE = func(*cobra.Command, []string) error {
		if err := notify.CheckReportLanguage(r.Lang); err != nil {
			return usagef("incidents report: --lang %q: want %s", r.Lang, strings.Join(notify.ReportLanguages, " or "))
		}
		return nil
	}
	fs.StringVar(&rc.Consequences, "consequences", "", "likely consequences for the people concerned (Art. 33(3)(c))")
	fs.StringVar(&rc.Measures, "measures", "", "measures taken or proposed (Art. 33(3)(d))")
	fs.StringVar(&rc.DPO, "dpo", "", "the data protection officer's name and contact (Art. 33(3)(b))")
	fs.StringVar(&rc.Art34, "art34", "", "decision on telling the people concerned: notify or not_required")
	fs.StringVar(&rc.Art34Reason, "art34-reason", "", "why (required with --art34)")
	fs.StringVar(&rc.Reference, "reference", "", "Datatilsynet's case number")
	fs.StringVar(&rc.DelayReasons, "delay-reasons", "", "why the report is later than 72 hours after awareness (Art. 33(1))")
	return c
}

// respondCommand is an incidents command of one incident that drives the respond engine.
func respondCommand(name, args, short, help string, run func(ctx context.Context, d incidentDesk, id string) (any, error)) *cobra.Command {
	c := incCommand(name, args+" [--respond FILE]", 1, 1, true, output.Documents, short, help,
		func(ctx context.Context, d incidentDesk, pos []string) (any, error) { return run(ctx, d, pos[0]) })
	c.Flags().StringVar(&respondConfig, "respond", os.Getenv("BREACHD_RESPOND"), "deactivation configuration (YAML), the one `breachd run --respond` uses; empty: dry run, no account is changed (env BREACHD_RESPOND)")
	return c
}

func incDeactivate() *cobra.Command {
	var comment string
	c := respondCommand("deactivate", "ID [--comment T]", "file the deactivation request of the incident's account (step 1) through the respond engine",
		`Idempotent per incident: an existing request is returned as it stands. The request passes the
allow-list and the organisation's hourly cap (over it: awaiting_approval, see approve). Its state is
recorded in the incident; done records step 1 and moves a detected incident to contained.`,
		func(ctx context.Context, d incidentDesk, id string) (any, error) {
			return d.Deactivate(ctx, id, comment)
		})
	c.Flags().StringVar(&comment, "comment", "", "why (stored with the request and audited)")
	return c
}

func incApprove() *cobra.Command {
	var comment string
	c := respondCommand("approve", "ID --comment T", "let a deactivation held by the organisation's hourly cap run (audited)",
		"Only a request in awaiting_approval can be approved; the allow-list is checked again and still wins.",
		func(ctx context.Context, d incidentDesk, id string) (any, error) {
			return d.Approve(ctx, id, comment)
		})
	c.Flags().StringVar(&comment, "comment", "", "why it may run (required)")
	c.PreRunE = func(*cobra.Command, []string) error {
		if strings.TrimSpace(comment) == "" {
			return usagef("incidents approve: --comment is required (the approval is audited with it)")
		}
		return nil
	}
	return c
}

func incCancel() *cobra.Command {
	var comment string
	c := respondCommand("cancel", "ID --comment T", "withdraw a deactivation request no engine has taken yet (audited)",
		`Only a request that is awaiting_approval, requested or retrying can be cancelled; one in progress,
done, failed, refused or reactivated cannot. The request becomes cancelled (final) and the incident
records it.`,
		func(ctx context.Context, d incidentDesk, id string) (any, error) {
			return d.Cancel(ctx, id, comment)
		})
	c.Flags().StringVar(&comment, "comment", "", "why it is withdrawn (required)")
	c.PreRunE = func(*cobra.Command, []string) error {
		if strings.TrimSpace(comment) == "" {
			return usagef("incidents cancel: --comment is required (the cancellation is audited with it)")
		}
		return nil
	}
	return c
}

func incReactivate() *cobra.Command {
	var r notify.ReactivateRequest
	c := respondCommand("reactivate", "ID [--force --reason T]", "turn the deactivated account back on (step 7); refused while steps 2–6 are not done",
		`Every call is audited, refusals included. Without --force it is refused while any of steps 2–6
is not recorded done ('breachd incidents comment ID --step N TEXT'); --force overrides that and
needs --reason. On success step 7 is recorded in the incident.`,
		func(ctx context.Context, d incidentDesk, id string) (any, error) {
			r.ID, r.Actor = id, actor
			return d.Reactivate(ctx, r)
		})
	c.Flags().BoolVar(&r.Force, "force", false, "reactivate although steps 2–6 are not all done (needs --reason)")
	c.Flags().StringVar(&r.Reason, "reason", "", "why (required with --force; audited)")
	c.PreRunE = func(*cobra.Command, []string) error {
		if r.Force && strings.TrimSpace(r.Reason) == "" {
			return usagef("incidents reactivate: --force needs --reason")
		}
		return nil
	}
	return c
}
