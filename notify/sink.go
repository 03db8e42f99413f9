package notify

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"sync"
	"time"

	"breachd/event"
	"breachd/notify/channel"
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
		state := DeactivationText(inc.Deactivation)
		fmt.Fprintf(&b, "INCIDENT %s deactivation requested (%s)  %s  %s  rule=%s\n",
			inc.ID, cmp.Or(state, "pending"), inc.Org, inc.Account, a.RuleID)
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

// ChannelSink hands incident changes to notification channels (a Dispatcher): each change
// becomes the messages channel.ChangeMessages makes of it (opened, severity raised,
// deactivation requested), queued for a bounded pool of workers so that a slow channel with
// its retries does not hold up the notifier. The Dispatcher deduplicates by message key, so a
// change handed over twice (a redelivered alert) pages once. A full queue drops the change
// with an error (counted and logged by the notifier), and changes still queued at a crash are
// lost: notifications are best-effort; the incident itself is durable.
type ChannelSink struct {
	d       Dispatcher
	queue   chan channel.Message
	timeout time.Duration
	log     *slog.Logger
	wg      sync.WaitGroup
	ctx     context.Context
	stop    context.CancelFunc
	mu      sync.Mutex // guards closed and sends on queue
	closed  bool
}

// NewChannelSink starts workers sending through d, each message bounded by timeout (which
// should cover the dispatcher's retries). Close stops them.
func NewChannelSink(d Dispatcher, workers, queue int, timeout time.Duration, log *slog.Logger) *ChannelSink {
	ctx, stop := context.WithCancel(context.Background())
	s := &ChannelSink{d: d, queue: make(chan channel.Message, max(queue, 1)), timeout: timeout,
		log: log.With("component", "notify.channels"), ctx: ctx, stop: stop}
	for range max(workers, 1) {
		s.wg.Add(1)
		go s.work()
	}
	return s
}

func (s *ChannelSink) work() {
	defer s.wg.Done()
	for m := range s.queue {
		s.send(s.ctx, m)
	}
}

// Send queues one message (also used for deadline warnings and lifecycle changes).
func (s *ChannelSink) Send(m channel.Message) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return fmt.Errorf("notifications stopped: %s dropped", m.Key)
	}
	select {
	case s.queue <- m:
		return nil
	default:
		return fmt.Errorf("notification queue full (%d): %s dropped", cap(s.queue), m.Key)
	}
}

func (s *ChannelSink) send(ctx context.Context, m channel.Message) {
	ctx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()
	if err := s.d.Dispatch(ctx, m); err != nil {
		s.log.Error("notification not delivered", "key", m.Key, "err", err)
	}
}

// Notify implements Sink: it queues the messages of c.
func (s *ChannelSink) Notify(_ context.Context, c Change) error {
	var errs []error
	for _, m := range channel.ChangeMessages(c.Kind, c.Incident, c.Alert, c.Ref) {
		if err := s.Send(m); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// Dispatch implements Dispatcher by queueing m, so the Watcher's deadline warnings share the
// workers.
func (s *ChannelSink) Dispatch(_ context.Context, m channel.Message) error { return s.Send(m) }

// Close stops accepting messages and lets the workers deliver what is queued for at most
// wait; then the sends still running are cancelled.
func (s *ChannelSink) Close(wait time.Duration) {
	s.mu.Lock()
	if !s.closed {
		s.closed = true
		close(s.queue)
	}
	s.mu.Unlock()
	t := time.AfterFunc(wait, s.stop)
	s.wg.Wait()
	t.Stop()
	s.stop()
}
