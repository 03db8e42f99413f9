package main

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"os"
	"strings"

	flag "github.com/spf13/pflag"

	"breachd/deploy"
	"breachd/event"
	"breachd/notify"
	"breachd/output"
	"breachd/respond"
)

// respondFlags name the deactivation configuration of the commands that drive the respond
// engine: the same file as `breachd run --respond` (deploy.RespondConfig); empty is the dry run.
type respondFlags struct{ file string }

func (f *respondFlags) declare(fset *flag.FlagSet) {
	fset.StringVar(&f.file, "respond", os.Getenv("BREACHD_RESPOND"), "deactivation configuration (YAML), the one `breachd run --respond` uses; empty: dry run, no account is changed (env BREACHD_RESPOND)")
}

// engine builds the respond engine of the --respond configuration.
func (f *respondFlags) engine(ctx context.Context, env *incEnv) (*respond.Engine, error) {
	return deploy.PeopleEngine(ctx, f.file, deploy.Stores{JS: env.js, History: env.hist}, env.log)
}

// mirrorRequest records the request's state in the incident.
func (env *incEnv) mirrorRequest(ctx context.Context, id string, r *respond.Request) (*event.Incident, error) {
	inc, err := env.store.RecordDeactivation(ctx, id, notify.DeactivationState(r), notify.RequestDetail(r))
	if err == nil && inc == nil { // unchanged
		inc, err = env.store.Get(ctx, id)
	}
	return inc, err
}

func (env *incEnv) printRequest(r *respond.Request, inc *event.Incident) error {
	if env.o.format == output.JSON {
		return printJSON(map[string]any{"request": r, "incident": inc})
	}
	fmt.Printf("deactivation request of %s: %s via %s", r.Incident, r.State, r.Adapter)
	switch {
	case respond.IsDryRun(r.Adapter) && r.State == respond.StateDone:
		fmt.Print(": would deactivate the account; a dry run, nothing was changed")
	case respond.IsDryRun(r.Adapter) && r.State == respond.StateReactivated:
		fmt.Print(": would reactivate the account; a dry run, nothing was changed")
	}
	if d := cmp.Or(r.Refusal, r.LastError); d != "" {
		fmt.Printf(" (%s)", d)
	}
	fmt.Printf("\n%s is %s (version %d), deactivation %s\n", inc.ID, inc.State, inc.Version, notify.DeactivationText(inc.Deactivation))
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
				if _, err = env.store.Comment(ctx, id, 7, env.edit(note)); err != nil {
					return err
				}
				if inc, err = env.mirrorRequest(ctx, id, r); err != nil {
					return err
				}
				return env.printRequest(r, inc)
			}
		}}
}
