package notify

import (
	"context"
	"fmt"
	"io"
	"strings"
	"sync"
	"time"

	"breachd/event"
)

// Change kinds: the subject suffix on the INCIDENTS stream and Change.Kind.
const (
	ChangeOpened  = "opened"
	ChangeUpdated = "updated"
)

// Change is one incident change caused by one alert, as handed to sinks.
type Change struct {
	Kind string // ChangeOpened or ChangeUpdated
	// Incident is the incident's state when the change was handed off. For an alert that is
	// replayed after a failed hand-off it may be a later version than the one the alert
	// produced (Ref.Version). Read-only; it may be retained.
	Incident *event.Incident
	// Alert is the alert that caused the change. Read-only.
	Alert *event.Alert
	// Ref says what the alert changed: the version it produced, whether it raised the severity
	// (RaisedFrom) and whether it made the incident request deactivation (Respond).
	Ref event.AlertRef
}

// Escalated reports whether the change raised the incident's severity.
func (c Change) Escalated() bool { return c.Ref.RaisedFrom != "" }

// Sink receives incident changes, e.g. to tell people. Notify is called once per change whose
// publication on the INCIDENTS stream was new (not a duplicate), after the incident was
// stored, mirrored and published, from the notifier's one goroutine: a slow sink slows the
// notifier, so Notify must honour ctx (it carries a deadline). An error is logged and counted;
// the change is not retried (notifications are best-effort in this version). Notify must not
// modify the change.
type Sink interface {
	Notify(ctx context.Context, c Change) error
}

// ConsoleSink writes one line per opened incident, per severity rise and per deactivation
// request to a writer (e.g. stdout) — not one per alert. Safe for concurrent use.
type ConsoleSink struct {
	mu sync.Mutex
	w  io.Writer
}

// NewConsoleSink returns a sink writing to w.
func NewConsoleSink(w io.Writer) *ConsoleSink { return &ConsoleSink{w: w} }

// Notify writes the lines for c, if any. It does not block beyond the writer.
func (s *ConsoleSink) Notify(_ context.Context, c Change) error {
	var b strings.Builder
	inc, a := c.Incident, c.Alert
	if c.Kind == ChangeOpened {
		fmt.Fprintf(&b, "INCIDENT %s opened  %s  %s  %s  rule=%s  %q  deadline %s\n",
			inc.ID, inc.Severity, inc.Org, inc.Account, a.RuleID, inc.Summary, minute(inc.Deadline))
	}
	if c.Escalated() {
		fmt.Fprintf(&b, "INCIDENT %s escalated  %s -> %s  %s  %s  rule=%s  alerts=%d  %q\n",
			inc.ID, c.Ref.RaisedFrom, a.Severity, inc.Org, inc.Account, a.RuleID, inc.AlertCount, clip(a.Summary))
	}
	if c.Ref.Respond {
		fmt.Fprintf(&b, "INCIDENT %s deactivation requested  %s  %s  rule=%s\n",
			inc.ID, inc.Org, inc.Account, a.RuleID)
	}
	if b.Len() == 0 {
		return nil
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, err := io.WriteString(s.w, b.String()); err != nil {
		return fmt.Errorf("console sink: %w", err)
	}
	return nil
}

// minute formats t in UTC to the minute, e.g. 2026-11-05T08:01Z.
func minute(t time.Time) string { return t.UTC().Format("2006-01-02T15:04Z") }
