package api

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"sync"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"breachd/auth"
	"breachd/bus"
	"breachd/event"
	"breachd/notify"
	"breachd/retry"
)

// The live incident stream (GET /api/incidents/stream): Server-Sent Events of the INCIDENTS
// stream, fanned out by one hub per Server.
const (
	// streamBuffer is how many events a client may be behind before the hub drops it.
	streamBuffer = 256
	// streamWriteTimeout bounds each write to a client, so that a client that stopped reading
	// holds its request for at most this long after the hub dropped it.
	streamWriteTimeout = 10 * time.Second
	// streamRetry is the reconnection delay the stream asks EventSource for (ms).
	streamRetry = 3000
)

// errStreamStopped answers a stream request while the hub is not running (Server.Run is not
// running, or has ended).
var errStreamStopped = &apiError{http.StatusServiceUnavailable, codeUnavailable, "the live incident stream is not running on this server; reload the list instead"}

// streamBackoff is the hub's delay before it consumes INCIDENTS again after a failure.
var streamBackoff = retry.Backoff{Initial: 500 * time.Millisecond, Max: 30 * time.Second, Jitter: 0.2}

// hub is the one consumer of INCIDENTS of a Server (an ordered, ephemeral consumer that
// delivers only new changes), fanned out to the stream's clients, each through a buffer of
// streamBuffer events. The hub never waits for a client: one whose buffer is full is dropped
// (its stream ends, EventSource reconnects and the console reloads the list) and counted.
// When the consumer fails, every client is dropped the same way and the hub consumes again
// after a backoff; clients that connect meanwhile wait until it is live again. Run owns the
// consumer; subscribe and unsubscribe are safe for concurrent use.
type hub struct {
	js      jetstream.JetStream
	log     *slog.Logger
	metrics *metrics

	mu      sync.Mutex
	running bool          // Run is consuming or retrying
	live    bool          // the consumer is created: a subscriber misses nothing from now on
	changed chan struct{} // closed (and replaced) when running or live changes
	failing bool          // the last consumer failed (logged once, until it is live again)
	clients map[*client]struct{}
}

// client is one open stream: the organisations it may see, the events the hub framed for
// it, and gone, closed when the hub dropped it.
type client struct {
	scope  event.Scope
	frames chan []byte
	gone   chan struct{}
}

func newHub(js jetstream.JetStream, log *slog.Logger, m *metrics) *hub {
	return &hub{js: js, log: log, metrics: m, changed: make(chan struct{}), clients: map[*client]struct{}{}}
}

// setState sets running and live and wakes the subscribers waiting for a change. Call with
// h.mu held.
func (h *hub) setState(running, live bool) {
	h.running, h.live = running, live
	close(h.changed)
	h.changed = make(chan struct{})
}

// subscribe adds a client that sees the incidents of scope. While the hub is reconnecting it
// waits until the hub is live or ctx ends; when the hub is not running it returns
// errStreamStopped at once.
func (h *hub) subscribe(ctx context.Context, scope event.Scope) (*client, error) {
	for {
		h.mu.Lock()
		switch {
		case !h.running:
			h.mu.Unlock()
			return nil, errStreamStopped
		case h.live:
			c := &client{scope: scope, frames: make(chan []byte, streamBuffer), gone: make(chan struct{})}
			h.clients[c] = struct{}{}
			h.metrics.streamClients.Inc()
			h.mu.Unlock()
			return c, nil
		}
		changed := h.changed
		h.mu.Unlock()
		select {
		case <-changed:
		case <-ctx.Done():
			return nil, fmt.Errorf("wait for the live incident stream: %w", ctx.Err())
		}
	}
}

// unsubscribe removes c (a client the hub dropped is removed already).
func (h *hub) unsubscribe(c *client) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.drop(c)
}

// drop removes c and tells its stream to end. Call with h.mu held.
func (h *hub) drop(c *client) bool {
	if _, ok := h.clients[c]; !ok {
		return false
	}
	delete(h.clients, c)
	close(c.gone)
	h.metrics.streamClients.Dec()
	return true
}

// dropAll drops every client and sets the state. Call with h.mu held.
func (h *hub) dropAll(running, live bool) {
	for c := range h.clients {
		h.drop(c)
	}
	h.setState(running, live)
}

// Run consumes INCIDENTS until ctx ends, again after a backoff whenever the consumer fails.
// It returns nil once ctx has ended and every client was dropped.
func (h *hub) Run(ctx context.Context) error {
	h.mu.Lock()
	if h.running {
		h.mu.Unlock()
		return errors.New("api: the live incident stream is already running (Server.Run called twice)")
	}
	h.setState(true, false)
	h.mu.Unlock()
	defer func() {
		h.mu.Lock()
		h.dropAll(false, false)
		h.mu.Unlock()
	}()
	failures := 0
	for {
		wasLive, err := h.consume(ctx)
		if ctx.Err() != nil {
			return nil
		}
		if wasLive {
			failures = 0
		}
		failures++
		h.mu.Lock()
		h.dropAll(true, false)
		if !h.failing {
			h.failing = true
			h.log.Warn("live incident stream: consuming INCIDENTS failed; its clients were closed, retrying", "err", err)
		}
		h.mu.Unlock()
		if retry.Sleep(ctx, streamBackoff.Delay(failures)) != nil {
			return nil
		}
	}
}

// consume fans out the changes on INCIDENTS from now on until ctx ends (nil) or the
// consumer fails (the error); wasLive says whether the consumer was created.
func (h *hub) consume(ctx context.Context) (wasLive bool, err error) {
	cctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	cons, err := h.js.OrderedConsumer(cctx, bus.StreamIncidents, jetstream.OrderedConsumerConfig{
		DeliverPolicy: jetstream.DeliverNewPolicy, MaxResetAttempts: 3, InactiveThreshold: time.Minute,
	})
	cancel()
	if err != nil {
		return false, fmt.Errorf("ordered consumer on %s: %w", bus.StreamIncidents, err)
	}
	defer h.deleteConsumer(ctx, cons)
	it, err := cons.Messages()
	if err != nil {
		return false, fmt.Errorf("consume %s: %w", bus.StreamIncidents, err)
	}
	defer it.Stop()
	stop := context.AfterFunc(ctx, it.Stop)
	defer stop()
	h.mu.Lock()
	h.setState(true, true)
	if h.failing {
		h.failing = false
		h.log.Info("live incident stream: consuming INCIDENTS again")
	}
	h.mu.Unlock()
	for {
		msg, err := it.Next()
		if err != nil {
			if ctx.Err() != nil {
				return true, nil
			}
			return true, fmt.Errorf("consume %s: %w", bus.StreamIncidents, err)
		}
		h.publish(msg)
	}
}

// deleteConsumer deletes the hub's consumer at once rather than leaving it to its inactivity
// threshold (best effort: it may be gone, or NATS unreachable).
func (h *hub) deleteConsumer(ctx context.Context, cons jetstream.Consumer) {
	info := cons.CachedInfo()
	if info == nil {
		return
	}
	dctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	if err := h.js.DeleteConsumer(dctx, bus.StreamIncidents, info.Name); err != nil && !errors.Is(err, jetstream.ErrConsumerNotFound) {
		h.log.Debug("live incident stream: delete the consumer", "consumer", info.Name, "err", err)
	}
}

// streamEvent is the data of an incident event: the change's kind and actor (the INCIDENTS
// headers) and the incident as a row of GET /api/incidents.
type streamEvent struct {
	Change string         `json:"change"`
	Actor  string         `json:"actor"`
	Row    map[string]any `json:"row"`
}

// publish frames msg once and hands it to every client whose scope holds the incident's
// organisation, dropping those whose buffer is full.
func (h *hub) publish(msg jetstream.Msg) {
	md, err := msg.Metadata()
	if err != nil {
		h.log.Warn("live incident stream: a message without metadata was skipped", "err", err)
		return
	}
	var inc event.Incident
	if err := json.Unmarshal(msg.Data(), &inc); err != nil || inc.ID == "" {
		h.log.Warn("live incident stream: a change that is not an incident was skipped", "seq", md.Sequence.Stream, "err", err)
		return
	}
	data, err := json.Marshal(streamEvent{Change: msg.Headers().Get(notify.HeaderChange), Actor: msg.Headers().Get(notify.HeaderActor),
		Row: rowObject(notify.ListColumns, notify.ListRow(time.Now())(&inc))})
	if err != nil {
		h.log.Error("live incident stream: encode a change", "incident", inc.ID, "err", err)
		return
	}
	frame := fmt.Appendf(nil, "event: incident\nid: %d\ndata: %s\n\n", md.Sequence.Stream, data)
	h.mu.Lock()
	defer h.mu.Unlock()
	for c := range h.clients {
		if !c.scope.Contains(inc.Org) {
			continue
		}
		select {
		case c.frames <- frame:
		default:
			if h.drop(c) {
				h.metrics.streamDropped.Inc()
			}
		}
	}
}

// Run runs what the server does besides answering requests: the hub of the live incident
// stream, which consumes INCIDENTS. It returns nil once ctx has ended (every open stream was
// ended, so a graceful shutdown of the HTTP server does not wait for them). Without Run, GET
// /api/incidents/stream answers 503. Call it once.
func (s *Server) Run(ctx context.Context) error {
	if s.cfg.JS == nil {
		<-ctx.Done() // nothing to consume: the stream answers 503
		return nil
	}
	return s.hub.Run(ctx)
}

// incStream is GET /api/incidents/stream: the changes of the incidents of the caller's
// organisations as Server-Sent Events (docs/api.md), until StreamMax has passed, the client
// goes away, falls behind or the hub's consumer fails.
func (s *Server) incStream(w http.ResponseWriter, r *http.Request, p *auth.Principal) (any, error) {
	c, err := s.hub.subscribe(r.Context(), p.ScopeFor(auth.IncidentsRead))
	if err != nil {
		return nil, err
	}
	defer s.hub.unsubscribe(c)
	rc := http.NewResponseController(w)
	// The server's read timeout would end the request (and its context) mid-stream; the
	// stream's own end and the write deadline of each event bound it instead.
	_ = rc.SetReadDeadline(time.Time{})
	defer rc.SetWriteDeadline(time.Time{}) //nolint:errcheck // the next request on the connection sets its own
	h := w.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Accel-Buffering", "no") // nginx: pass each event on at once
	w.WriteHeader(http.StatusOK)
	write := func(b []byte) error {
		_ = rc.SetWriteDeadline(time.Now().Add(streamWriteTimeout)) // unsupported only in tests' recorders
		if _, err := w.Write(b); err != nil {
			return err
		}
		return rc.Flush()
	}
	if write(fmt.Appendf(nil, "retry: %d\n\n", streamRetry)) != nil {
		return nil, nil
	}
	ping := time.NewTicker(s.cfg.StreamPing)
	defer ping.Stop()
	end := time.NewTimer(s.cfg.StreamMax)
	defer end.Stop()
	for {
		select {
		case f := <-c.frames:
			if write(f) != nil {
				return nil, nil
			}
			s.metrics.streamEvents.Inc()
		case <-ping.C:
			if write([]byte(": ping\n\n")) != nil {
				return nil, nil
			}
		case <-c.gone:
			return nil, nil
		case <-end.C:
			return nil, nil
		case <-r.Context().Done():
			return nil, nil
		}
	}
}
