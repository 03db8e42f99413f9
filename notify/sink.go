package notify

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"sync"
	"time"

	"breachd/event"
	"breachd/notify/channel"
	"breachd/retry"
)

// Change kinds of an alert (the subject suffix on the INCIDENTS stream, and Change.Kind; the
// lifecycle kinds are in lifecycle.go).
const (
	ChangeOpened  = "opened"  // an alert opened the incident (version 1)
	ChangeUpdated = "updated" // an alert was added to the incident
)

// Change is one incident change as published on the INCIDENTS stream and handed to sinks.
type Change struct {
	// Kind is ChangeOpened or ChangeUpdated for an alert, else a lifecycle kind
	// (ChangeTransition, ChangeEscalation, …).
	Kind string
	// Incident is the incident's state when the change was published. For an alert that is
	// replayed after a failed hand-off it may be a later version than the one the alert
	// produced (Ref.Version). Read-only; it may be retained.
	Incident *event.Incident
	// Actor made the change: a person, or "notify" for breachd.
	Actor string
	// Alert is the alert that caused the change (alert kinds only; as read back from the
	// stream it has the id, rule, severity, summary, tags, org and account). Read-only.
	Alert *event.Alert
	// Ref says what the alert changed: the version it produced, whether it raised the severity
	// (RaisedFrom) and whether it made the incident request deactivation (Respond).
	Ref event.AlertRef
	// Mark is the deadline mark of an escalation, e.g. "24h".
	Mark string
}

// Escalated reports whether the change raised the incident's severity.
func (c Change) Escalated() bool { return c.Ref.RaisedFrom != "" }

// Sink tells people or systems about incident changes: the console, or one notification
// channel. Each sink is fed by its own Announcer, a durable consumer of the INCIDENTS stream
// named "announce-<Name>": Notify is called at least once per change published there (again
// after a crash or a failure), and the change is acknowledged only when Notify returned nil.
// An error is retried with a growing delay, unless it is permanent (retry.IsPermanent). So
// Notify must be idempotent (the channels deduplicate by message key), must honour ctx (it
// carries a deadline) and must not modify the change.
type Sink interface {
	Name() string // [A-Za-z0-9_-]: the consumer is "announce-<Name>"
	Notify(ctx context.Context, c Change) error
}

// Messages returns the notifications a change makes: an opened incident, a severity rise, a
// deactivation request (channel.ChangeMessages), the deadline warning of an escalation, and a
// state change made by a person. Other changes (comments, evidence, breachd's own deactivation
// bookkeeping) make none: one incident does not page for every change.
func Messages(c Change) []channel.Message {
	inc := c.Incident
	switch c.Kind {
	case ChangeOpened, ChangeUpdated:
		if c.Alert == nil {
			return nil
		}
		return channel.ChangeMessages(c.Kind, inc, c.Alert, c.Ref)
	case ChangeEscalation:
		if mark, err := time.ParseDuration(c.Mark); err == nil && mark > 0 {
			return []channel.Message{channel.DeadlineMessage(inc, mark, inc.Updated)}
		}
	case ChangeTransition:
		if c.Actor == actor {
			return nil
		}
		for _, e := range slices.Backward(inc.Timeline) {
			if e.Kind == event.TimelineTransition {
				return []channel.Message{channel.TransitionMessage(inc, e)}
			}
		}
	}
	return nil
}

// ConsoleSink writes one line per opened incident, per severity rise, per deactivation
// request and per deadline warning to a writer (e.g. stdout) — not one per alert. Safe for
// concurrent use.
type ConsoleSink struct {
	mu sync.Mutex
	w  io.Writer
}

// NewConsoleSink returns a sink writing to w.
func NewConsoleSink(w io.Writer) *ConsoleSink { return &ConsoleSink{w: w} }

// Name is "console". Several notifier processes share its consumer: their consoles together
// print each change once.
func (s *ConsoleSink) Name() string { return "console" }

// Notify writes the lines for c, if any. It does not block beyond the writer.
func (s *ConsoleSink) Notify(_ context.Context, c Change) error {
	var b strings.Builder
	inc, a := c.Incident, c.Alert
	if a == nil {
		if c.Kind == ChangeEscalation {
			fmt.Fprintf(&b, "INCIDENT %s deadline warning %s  not reported, due %s  %s  %s\n",
				inc.ID, c.Mark, minute(inc.Deadline), inc.Org, inc.Account)
		}
		return s.write(b.String())
	}
	if c.Kind == ChangeOpened {
		fmt.Fprintf(&b, "INCIDENT %s opened  %s  %s  %s  rule=%s  %q  deadline %s\n",
			inc.ID, inc.Severity, inc.Org, inc.Account, a.RuleID, inc.Summary, minute(inc.Deadline))
	}
	if c.Escalated() {
		fmt.Fprintf(&b, "INCIDENT %s escalated  %s -> %s  %s  %s  rule=%s  alerts=%d  %q\n",
			inc.ID, c.Ref.RaisedFrom, a.Severity, inc.Org, inc.Account, a.RuleID, inc.AlertCount, clip(a.Summary))
	}
	if c.Ref.Respond {
		state := DeactivationText(inc.Deactivation)
		fmt.Fprintf(&b, "INCIDENT %s deactivation requested (%s)  %s  %s  rule=%s\n",
			inc.ID, cmp.Or(state, "pending"), inc.Org, inc.Account, a.RuleID)
	}
	return s.write(b.String())
}

func (s *ConsoleSink) write(text string) error {
	if text == "" {
		return nil
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, err := io.WriteString(s.w, text); err != nil {
		return fmt.Errorf("console sink: %w", err)
	}
	return nil
}

// minute formats t in UTC to the minute, e.g. 2026-11-05T08:01Z.
func minute(t time.Time) string { return t.UTC().Format("2006-01-02T15:04Z") }

// ChannelSink is one notification channel of a channel.Dispatcher as a Sink: it sends the
// Messages of a change that the dispatcher's routes select for that channel, with the
// channel's retries and deduplication by message key. A change whose message is being sent by
// another process (a live dedup claim) fails, so that it is retried later rather than lost if
// that sender dies.
type ChannelSink struct {
	d    *channel.Dispatcher
	name string
}

// ChannelSinks returns one Sink per channel of d.
func ChannelSinks(d *channel.Dispatcher) []Sink {
	var out []Sink
	for _, name := range d.Channels() {
		out = append(out, &ChannelSink{d: d, name: name})
	}
	return out
}

// Name is the channel's name.
func (s *ChannelSink) Name() string { return s.name }

// Notify delivers the messages of c routed to the channel.
func (s *ChannelSink) Notify(ctx context.Context, c Change) error {
	var transient, lasting []error
	for _, m := range Messages(c) {
		switch err := s.d.DispatchTo(ctx, s.name, m); {
		case err == nil:
		case retry.IsPermanent(err):
			lasting = append(lasting, err)
		default:
			transient = append(transient, err)
		}
	}
	if len(transient) > 0 { // retried as a whole; what was delivered is not sent again
		return errors.Join(transient...)
	}
	return errors.Join(lasting...)
}
