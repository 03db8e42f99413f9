package notify

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"breachd/event"
	"breachd/history"
)

// The lifecycle of an incident follows the breach procedure (design.md). Every change below
// goes through Incidents.Update (compare-and-set, mirror, INCIDENTS), bumps the version and
// appends a timeline entry naming the actor; nothing removes or rewrites a timeline entry.

// Change kinds of the lifecycle (the Breachd-Change header; see Incidents).
const (
	ChangeTransition   = "transition"
	ChangeComment      = "comment"
	ChangeAck          = "ack"
	ChangeReport       = "report"
	ChangeEvidence     = "evidence"
	ChangeDeactivation = "deactivation"
	ChangeEscalation   = "escalation"
)

// ErrTransition is returned (wrapped) for a state change the lifecycle does not allow.
var ErrTransition = errors.New("transition not allowed")

// ErrInput is returned (wrapped) for a change that lacks what it needs (a reason, an actor).
var ErrInput = errors.New("invalid change")

// transitions lists the states each state may move to.
var transitions = map[string][]string{
	event.StateDetected:      {event.StateContained, event.StateInvestigating, event.StateReported, event.StateNotReportable, event.StateClosed},
	event.StateContained:     {event.StateInvestigating, event.StateReported, event.StateNotReportable},
	event.StateInvestigating: {event.StateContained, event.StateReported, event.StateNotReportable},
	event.StateReported:      {event.StateRemediated},
	event.StateNotReportable: {event.StateRemediated, event.StateClosed},
	event.StateRemediated:    {event.StateClosed},
	event.StateClosed:        nil,
}

// NextStates returns the states an incident in state may move to.
func NextStates(state string) []string { return slices.Clone(transitions[state]) }

// Procedure steps (design.md), by number.
var StepNames = map[int]string{
	1: "deactivate the account",
	2: "tell the data protection officer",
	3: "get the account's login log",
	4: "get the services' logs: whose data it saw, changed or deleted",
	5: "report to Datatilsynet (or document why not)",
	6: "fix the directory data and remove local rights",
	7: "reactivate the account",
	8: "measures against recurrence",
}

// MissingSteps returns the steps among want that inc has not recorded done, as "N name".
func MissingSteps(inc *event.Incident, want ...int) []string {
	var out []string
	for _, n := range want {
		if _, ok := inc.Steps[n]; !ok {
			out = append(out, fmt.Sprintf("%d %s", n, StepNames[n]))
		}
	}
	return out
}

// Edit is a lifecycle change requested by a person (or by breachd itself, Actor "notify").
type Edit struct {
	Actor   string
	Comment string
}

func (c Edit) check() error {
	if strings.TrimSpace(c.Actor) == "" {
		return fmt.Errorf("%w: who makes the change is required", ErrInput)
	}
	return nil
}

func (c Edit) entry(now time.Time, kind, text string) event.TimelineEntry {
	if c.Comment != "" {
		text += ": " + c.Comment
	}
	return event.TimelineEntry{At: now, Actor: c.Actor, Kind: kind, Text: text}
}

// Transition moves the incident to state to. Moving to not_reportable needs a comment (the
// reason, Art. 33(5)); closing an incident that was never worked (detected) needs one too (why
// it is no breach). Reaching contained records step 1, reported or not_reportable step 5.
func (s *Incidents) Transition(ctx context.Context, id, to string, c Edit) (*event.Incident, error) {
	if err := c.check(); err != nil {
		return nil, err
	}
	if _, known := transitions[to]; !known {
		return nil, fmt.Errorf("%w: unknown state %q (states: %s)", ErrTransition, to, strings.Join(event.IncidentStates, ", "))
	}
	return s.Update(ctx, id, Op{Kind: ChangeTransition, Actor: c.Actor, Apply: func(inc *event.Incident, now time.Time) error {
		if !slices.Contains(transitions[inc.State], to) {
			next := strings.Join(transitions[inc.State], ", ")
			if next == "" {
				next = "none"
			}
			return fmt.Errorf("%w: %s is %s; from there: %s", ErrTransition, inc.ID, inc.State, next)
		}
		switch {
		case to == event.StateNotReportable && strings.TrimSpace(c.Comment) == "":
			return fmt.Errorf("%w: not_reportable needs the reason as a comment (GDPR Art. 33(5))", ErrInput)
		case to == event.StateClosed && inc.State == event.StateDetected && strings.TrimSpace(c.Comment) == "":
			return fmt.Errorf("%w: closing an incident that was never worked needs a comment saying why it is no breach", ErrInput)
		}
		from := inc.State
		inc.State = to
		switch to {
		case event.StateContained:
			markStep(inc, 1, c, now)
		case event.StateReported:
			if inc.Report.ReportedAt.IsZero() {
				inc.Report.ReportedAt = now
			}
			markStep(inc, 5, c, now)
		case event.StateNotReportable:
			inc.Report.NotReportableReason = clip(c.Comment)
			markStep(inc, 5, c, now)
		}
		inc.Timeline = append(inc.Timeline, c.entry(now, event.TimelineTransition, from+" → "+to))
		return nil
	}})
}

// Comment adds a note to the timeline; step > 0 also records that procedure step as done.
func (s *Incidents) Comment(ctx context.Context, id string, step int, c Edit) (*event.Incident, error) {
	if err := c.check(); err != nil {
		return nil, err
	}
	if strings.TrimSpace(c.Comment) == "" {
		return nil, fmt.Errorf("%w: empty comment", ErrInput)
	}
	if _, ok := StepNames[step]; step != 0 && !ok {
		return nil, fmt.Errorf("%w: step %d: the procedure has steps 1 to 8", ErrInput, step)
	}
	return s.Update(ctx, id, Op{Kind: ChangeComment, Actor: c.Actor, Apply: func(inc *event.Incident, now time.Time) error {
		text := "comment"
		if step > 0 {
			markStep(inc, step, c, now)
			text = fmt.Sprintf("step %d done (%s)", step, StepNames[step])
		}
		inc.Timeline = append(inc.Timeline, c.entry(now, event.TimelineComment, text))
		return nil
	}})
}

// Ack records the moment of awareness (GDPR Art. 33(1): when the controller became aware of
// the breach) and recomputes the reporting deadline from it. aware must not be in the future.
func (s *Incidents) Ack(ctx context.Context, id string, aware time.Time, c Edit) (*event.Incident, error) {
	if err := c.check(); err != nil {
		return nil, err
	}
	if aware.After(s.clock()) {
		return nil, fmt.Errorf("%w: the moment of awareness %s is in the future", ErrInput, aware.UTC().Format(time.RFC3339))
	}
	return s.Update(ctx, id, Op{Kind: ChangeAck, Actor: c.Actor, Apply: func(inc *event.Incident, now time.Time) error {
		inc.Aware = aware.UTC()
		inc.Deadline = inc.Aware.Add(event.ReportWindow)
		inc.Timeline = append(inc.Timeline, c.entry(now, event.TimelineComment,
			fmt.Sprintf("acknowledged; aware since %s, report due %s", minute(inc.Aware), minute(inc.Deadline))))
		return nil
	}})
}

// ReportChange sets the human parts of the Art. 33 notice; empty fields are left as they are.
type ReportChange struct {
	Consequences, Measures, DPO, Reference, DelayReasons string
	Art34, Art34Reason                                   string
}

// SetReport records the fields of r that are set. An Art. 34 decision needs its reason.
func (s *Incidents) SetReport(ctx context.Context, id string, r ReportChange, c Edit) (*event.Incident, error) {
	if err := c.check(); err != nil {
		return nil, err
	}
	switch r.Art34 {
	case "", event.Art34Notify, event.Art34NotRequired:
	default:
		return nil, fmt.Errorf("%w: Art. 34 decision %q (want %s or %s)", ErrInput, r.Art34, event.Art34Notify, event.Art34NotRequired)
	}
	if r.Art34 != "" && strings.TrimSpace(r.Art34Reason) == "" {
		return nil, fmt.Errorf("%w: the Art. 34 decision needs its reason", ErrInput)
	}
	return s.Update(ctx, id, Op{Kind: ChangeReport, Actor: c.Actor, Apply: func(inc *event.Incident, now time.Time) error {
		var set []string
		for _, f := range []struct {
			name     string
			v        string
			dst      *string
			maxBytes int
		}{
			{"consequences", r.Consequences, &inc.Report.Consequences, 4000},
			{"measures", r.Measures, &inc.Report.Measures, 4000},
			{"dpo", r.DPO, &inc.Report.DPO, 300},
			{"reference", r.Reference, &inc.Report.Reference, 100},
			{"delay reasons", r.DelayReasons, &inc.Report.DelayReasons, 2000},
		} {
			if v := strings.TrimSpace(f.v); v != "" {
				*f.dst = clipTo(v, f.maxBytes)
				set = append(set, f.name)
			}
		}
		if r.Art34 != "" {
			inc.Report.Art34, inc.Report.Art34Reason = r.Art34, clipTo(r.Art34Reason, 2000)
			inc.Timeline = append(inc.Timeline, c.entry(now, event.TimelineComment,
				fmt.Sprintf("Art. 34 decision: %s (%s)", r.Art34, inc.Report.Art34Reason)))
		}
		if len(set) > 0 {
			inc.Timeline = append(inc.Timeline, c.entry(now, event.TimelineComment, "report fields set: "+strings.Join(set, ", ")))
		}
		return nil
	}})
}

// maxEvidenceRefs bounds the evidence references an incident keeps (the snapshots stay in
// history).
const maxEvidenceRefs = 32

// RecordEvidence adds a snapshot reference and records steps 3 (logins) or 4 (access) as done
// by breachd if nobody has yet.
func (s *Incidents) RecordEvidence(ctx context.Context, id string, ref event.EvidenceRef) (*event.Incident, error) {
	return s.Update(ctx, id, Op{Kind: ChangeEvidence, Actor: actor, Apply: func(inc *event.Incident, now time.Time) error {
		inc.Evidence = append(inc.Evidence, ref)
		if over := len(inc.Evidence) - maxEvidenceRefs; over > 0 {
			inc.Evidence = slices.Delete(inc.Evidence, 0, over)
		}
		step := 3
		if ref.Kind != history.EvidenceLogins {
			step = 4
		}
		c := Edit{Actor: actor}
		markStep(inc, step, Edit{Actor: actor, Comment: "evidence " + ref.ID}, now)
		inc.Timeline = append(inc.Timeline, c.entry(now, event.TimelineAction,
			fmt.Sprintf("evidence collected: %s, %d rows, %s – %s, sha256 %s", ref.Kind, ref.Rows, minute(ref.From), minute(ref.To), ref.Hash[:16])))
		return nil
	}})
}

// RecordDeactivation mirrors the state of the incident's deactivation request. When it is
// done (not a dry run), step 1 is recorded and a detected incident becomes contained. It
// returns nil and no error when the incident already had that state.
func (s *Incidents) RecordDeactivation(ctx context.Context, id, state, detail string) (*event.Incident, error) {
	return s.Update(ctx, id, deactivationOp(state, detail))
}

func deactivationOp(state, detail string) Op {
	return Op{Kind: ChangeDeactivation, Actor: actor, Apply: func(inc *event.Incident, now time.Time) error {
		if inc.Deactivation == state {
			return ErrUnchanged
		}
		inc.Deactivation = state
		c := Edit{Actor: actor, Comment: detail}
		inc.Timeline = append(inc.Timeline, c.entry(now, event.TimelineAction, "deactivation "+state))
		if state == "done" {
			markStep(inc, 1, c, now)
			if inc.State == event.StateDetected {
				inc.State = event.StateContained
				inc.Timeline = append(inc.Timeline, event.TimelineEntry{At: now, Actor: actor, Kind: event.TimelineTransition,
					Text: event.StateDetected + " → " + event.StateContained + ": the account was deactivated"})
			}
		}
		return nil
	}}
}

// escalationText starts the timeline entry of a deadline warning ("deadline warning 24h: …").
const escalationText = "deadline warning "

// MarkEscalated records that the deadline warning at mark is due, with the earlier marks
// passed (recorded without a warning of their own). It returns nil and no error if mark was
// recorded before (by this or another notifier), so exactly one change per mark reaches
// INCIDENTS; its announcement is the warning.
func (s *Incidents) MarkEscalated(ctx context.Context, id, mark string, passed ...string) (*event.Incident, error) {
	return s.Update(ctx, id, Op{Kind: ChangeEscalation, Actor: actor, Mark: mark, Apply: func(inc *event.Incident, now time.Time) error {
		if slices.Contains(inc.Escalations, mark) {
			return ErrUnchanged
		}
		for _, m := range append(slices.Clone(passed), mark) {
			if slices.Contains(inc.Escalations, m) {
				continue
			}
			inc.Escalations = append(inc.Escalations, m)
			inc.Timeline = append(inc.Timeline, event.TimelineEntry{At: now, Actor: actor, Kind: event.TimelineAction,
				Text: fmt.Sprintf(escalationText+"%s: not reported, due %s", m, minute(inc.Deadline))})
		}
		return nil
	}})
}

func markStep(inc *event.Incident, n int, c Edit, now time.Time) {
	if inc.Steps == nil {
		inc.Steps = map[int]event.Step{}
	}
	if _, done := inc.Steps[n]; !done {
		inc.Steps[n] = event.Step{At: now, Actor: c.Actor, Note: clip(c.Comment)}
	}
}
