package notify

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"breachd/bus"
	"breachd/event"
)

// Incidents is the one way to change an incident, used by the notifier (alerts), the watcher
// (deadline warnings, evidence, deactivation state), the CLI and the API. Every change takes
// one path:
//
//  1. a compare-and-set on the incident in the KV bucket (Store; retried when another writer
//     got there first), which bumps its version and appends to its timeline;
//  2. an upsert into the Mirror (history), if there is one;
//  3. a publication on the INCIDENTS stream, subject breachd.incidents.opened for the change
//     an alert opened the incident with and breachd.incidents.updated for every other one
//     (payload: the incident as JSON; Nats-Msg-Id "<id>-v<version>"; headers below), and the
//     wait for the PubAck;
//  4. the announcement to the channels, which an Announcer per Sink makes from the stream
//     (durable, at least once), not this call.
//
// Headers of a change: Breachd-Change (the kind: opened, updated, transition, comment, ack,
// report, evidence, deactivation, escalation), Breachd-Actor (who made it; "notify" for
// breachd), Breachd-Alert (for the alert kinds: JSON {"alert": the alert's id, rule, title,
// severity, tags, summary, org and account; "ref": what it changed, event.AlertRef}) and
// Breachd-Mark (for an escalation: the mark, e.g. "24h").
//
// An error after step 1 says that the change is stored but not yet mirrored or published. The
// notifier repeats steps 2 and 3 on the alert's redelivery (the stream's duplicate window drops
// a repeated publication); the others return the error to their caller. The embedded Store
// reads (Get, OpenFor, List). Safe for concurrent use, also by several processes.
type Incidents struct {
	*Store
	js     jetstream.JetStream
	mirror Mirror
	pub    *bus.Publisher
	clock  func() time.Time
}

// IncidentsOptions configures Incidents. The zero value is usable.
type IncidentsOptions struct {
	Mirror Mirror           // nil: no mirror
	Clock  func() time.Time // the time of each change; default time.Now
}

// NewIncidents binds to the incidents bucket (created by bus.Ensure) and publishes on js.
func NewIncidents(ctx context.Context, js jetstream.JetStream, opts IncidentsOptions) (*Incidents, error) {
	store, err := NewStore(ctx, js)
	if err != nil {
		return nil, err
	}
	if opts.Clock == nil {
		opts.Clock = time.Now
	}
	return &Incidents{Store: store, js: js, mirror: opts.Mirror, pub: bus.NewPublisher(js), clock: opts.Clock}, nil
}

// Headers of the messages on the INCIDENTS stream.
const (
	HeaderChange = "Breachd-Change"
	HeaderActor  = "Breachd-Actor"
	HeaderAlert  = "Breachd-Alert"
	HeaderMark   = "Breachd-Mark"
)

// Op is one change to an incident for Update: its kind and actor (the INCIDENTS headers),
// the escalation mark if it is one, and Apply, which makes the change on a fresh copy of the
// incident at time now (the service's clock; Update then bumps the version and sets Updated
// to now). Apply is called again when another writer got there first, so it must have no
// side effects; an error from it aborts the update (ErrUnchanged: nothing to do).
type Op struct {
	Kind  string
	Actor string
	Mark  string
	Apply func(inc *event.Incident, now time.Time) error
}

func (op Op) at(now time.Time) func(*event.Incident) error {
	return func(inc *event.Incident) error { return op.Apply(inc, now) }
}

// ErrUnchanged, returned by an Op's Apply, ends Update without a change: it returns nil, nil.
var ErrUnchanged = errors.New("unchanged")

// Update applies op to the incident id and hands the new version off (mirror, INCIDENTS). It
// returns the incident as written, or nil and nil if op had nothing to change. When the
// hand-off fails it returns the incident as written with the error (the change is stored).
func (s *Incidents) Update(ctx context.Context, id string, op Op) (*event.Incident, error) {
	if op.Kind == "" || strings.ContainsAny(op.Kind, ".*> ") {
		return nil, fmt.Errorf("update incident %s: bad change kind %q", id, op.Kind)
	}
	now := s.clock()
	inc, err := s.Store.update(ctx, id, now, op.at(now))
	if errors.Is(err, ErrUnchanged) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	_, err = s.handOff(ctx, Change{Kind: op.Kind, Incident: inc, Actor: op.Actor, Mark: op.Mark})
	return inc, err
}

// handOff mirrors ch's incident and publishes ch on INCIDENTS; fresh is false if the stream
// already had it (a repeated hand-off).
func (s *Incidents) handOff(ctx context.Context, ch Change) (fresh bool, err error) {
	inc := ch.Incident
	if s.mirror != nil {
		if err := s.mirror.UpsertIncident(ctx, inc); err != nil {
			return false, fmt.Errorf("%s v%d is stored, but mirroring it to the history failed: %w", inc.ID, inc.Version, err)
		}
	}
	msg, err := encodeChange(ch)
	if err != nil {
		return false, err
	}
	f, err := s.pub.Publish(ctx, msg.Subject, msg.Header.Get(bus.HeaderMsgID), msg.Data, msg.Header)
	if err == nil {
		var acks []*jetstream.PubAck
		if acks, err = bus.Wait(ctx, []jetstream.PubAckFuture{f}); err == nil {
			return !acks[0].Duplicate, nil
		}
	}
	return false, fmt.Errorf("%s v%d is stored, but publishing the change failed: %w", inc.ID, inc.Version, err)
}

// alertHeader is the Breachd-Alert header: what an announcement needs of the alert (its id,
// rule, title, severity, tags and summary) and what it changed.
type alertHeader struct {
	Alert *event.Alert   `json:"alert"`
	Ref   event.AlertRef `json:"ref"`
}

// encodeChange makes the INCIDENTS message of ch.
func encodeChange(ch Change) (*nats.Msg, error) {
	inc := ch.Incident
	data, err := json.Marshal(inc)
	if err != nil {
		return nil, fmt.Errorf("encode incident %s: %w", inc.ID, err)
	}
	subject := bus.SubjectIncidents + "." + ChangeUpdated
	if ch.Kind == ChangeOpened {
		subject = bus.SubjectIncidents + "." + ChangeOpened
	}
	version := inc.Version
	h := nats.Header{}
	h.Set(HeaderChange, ch.Kind)
	h.Set(HeaderActor, ch.Actor)
	if a := ch.Alert; a != nil {
		version = ch.Ref.Version
		ah, err := json.Marshal(alertHeader{Ref: ch.Ref, Alert: &event.Alert{ID: a.ID, RuleID: a.RuleID,
			Title: a.Title, Severity: a.Severity, Tags: a.Tags, Summary: clip(a.Summary), Org: a.Org, Account: a.Account}})
		if err != nil {
			return nil, fmt.Errorf("encode alert %s: %w", a.ID, err)
		}
		h.Set(HeaderAlert, string(ah))
	}
	if ch.Mark != "" {
		h.Set(HeaderMark, ch.Mark)
	}
	h.Set(bus.HeaderMsgID, fmt.Sprintf("%s-v%d", inc.ID, version))
	return &nats.Msg{Subject: subject, Data: data, Header: h}, nil
}

// DecodeChange reads a message of the INCIDENTS stream. A message without the Breachd-Change
// header (published by an older breachd) is of the kind its subject names, with no alert.
func DecodeChange(subject string, h nats.Header, data []byte) (Change, error) {
	var inc event.Incident
	if err := json.Unmarshal(data, &inc); err != nil {
		return Change{}, fmt.Errorf("decode incident change: %w", err)
	}
	if !ValidID(inc.ID) {
		return Change{}, fmt.Errorf("incident change without a valid incident id (%q)", inc.ID)
	}
	ch := Change{Kind: h.Get(HeaderChange), Incident: &inc, Actor: h.Get(HeaderActor), Mark: h.Get(HeaderMark)}
	if ch.Kind == "" {
		ch.Kind = strings.TrimPrefix(subject, bus.SubjectIncidents+".")
	}
	if v := h.Get(HeaderAlert); v != "" {
		var ah alertHeader
		if err := json.Unmarshal([]byte(v), &ah); err != nil || ah.Alert == nil {
			return Change{}, fmt.Errorf("incident %s: decode %s header: %v", inc.ID, HeaderAlert, err)
		}
		ch.Alert, ch.Ref = ah.Alert, ah.Ref
	}
	return ch, nil
}

// recordAlert adds a to its account's open incident (opening one if there is none), files
// the deactivation request its rule allows with r (nil: only recorded) and hands the change
// off. A redelivered alert repeats the hand-off of the change it produced while the incident
// is open. The deactivation state the alert's request reached is part of the alert's change:
// one message, carrying the state after it.
func (s *Incidents) recordAlert(ctx context.Context, a *event.Alert, r Responder) (alertResult, error) {
	now := s.clock()
	out, err := s.Store.record(ctx, a, now)
	res := alertResult{conflicts: out.conflicts}
	if err != nil {
		return res, err
	}
	switch {
	case out.dup && !out.inc.Open():
		res.result = resultDuplicate
		return res, nil // its hand-offs were done before the incident was closed
	case out.dup:
		res.result = resultDuplicate
	case out.ref.Version == 1:
		res.result = resultOpened
	default:
		res.result = resultUpdated
	}
	if out.ref.Respond && r != nil && out.inc.Deactivation == "" {
		// Idempotent per incident: a redelivered alert finds the request made before.
		req, err := RequestDeactivation(ctx, r, out.inc)
		if err != nil {
			return res, err
		}
		next, err := s.Store.update(ctx, out.inc.ID, now, deactivationOp(DeactivationState(req), RequestDetail(req)).at(now))
		switch {
		case errors.Is(err, ErrUnchanged):
		case err != nil:
			return res, err
		default:
			out.inc = next
		}
	}
	res.change = Change{Kind: ChangeUpdated, Incident: out.inc, Actor: actor, Alert: a, Ref: out.ref}
	if out.ref.Version == 1 {
		res.change.Kind = ChangeOpened
	}
	res.fresh, err = s.handOff(ctx, res.change)
	return res, err
}

// alertResult is what recordAlert did.
type alertResult struct {
	change    Change
	result    string // the result label of breach_notify_alerts_total
	fresh     bool   // the change was published now (not a repeat)
	conflicts int    // compare-and-set races lost on the way
}
