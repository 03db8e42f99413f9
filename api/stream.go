package api

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
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
	// hubBuffer is how many incident changes the hub's subscription holds while the hub is
	// busy; a burst beyond it is a change dropped, and every stream ends (their consoles
	// reload).
	hubBuffer = 8192
	// streamCheck is how often the hub checks that its subscription missed nothing.
	streamCheck = time.Second
)

// errStreamStopped answers a stream request while the hub is not running (Server.Run is not
// running, or has ended).
var errStreamStopped = &apiError{http.StatusServiceUnavailable, codeUnavailable, "the live incident stream is not running on this server; reload the list instead"}

// errTooManyStreams answers a stream request while maxStreams are open.
var errTooManyStreams = &apiError{http.StatusServiceUnavailable, codeUnavailable, "too many live incident streams are open on this server; try again later or reload the list instead"}

// streamBackoff is the hub's delay before it subscribes again after a failure.
var streamBackoff = retry.Backoff{Initial: 500 * time.Millisecond, Max: 30 * time.Second, Jitter: 0.2}

// hub is the one subscriber to the incident changes of a Server (a core NATS subscription to
// the INCIDENTS stream's subjects, which sees every change published from when it is made),
// fanned out to the stream's clients, each through a buffer of streamBuffer events. The hub
// never waits for a client: one whose buffer is full is dropped (its stream ends,
// EventSource reconnects and the console reloads the list) and counted. When the
// subscription may have missed a change (the connection was interrupted, or it fell behind),
// every client is dropped the same way and the hub subscribes again after a backoff; clients
// that connect meanwhile wait until it is live again. At most maxClients are open at once.
// Run owns the subscription; subscribe and unsubscribe are safe for concurrent use.
type hub struct {
	js         jetstream.JetStream
	maxClients int // Config.StreamClients
	log        *slog.Logger
	metrics    *metrics

	mu      sync.Mutex
	running bool          // Run is consuming or retrying
	live    bool          // the subscription is made: a subscriber misses nothing from now on
	changed chan struct{} // closed (and replaced) when running or live changes
	failing bool          // the last subscription failed (logged once, until it is live again)
	clients map[*client]struct{}
	seq     uint64 // the id of the last event framed
}

// client is one open stream: the organisations it may see, the events the hub framed for
// it, and gone, closed when the hub dropped it.
type client struct {
	scope  event.Scope
	frames chan []byte
	gone   chan struct{}
}

func newHub(js jetstream.JetStream, maxClients int, log *slog.Logger, m *metrics) *hub {
	return &hub{js: js, maxClients: maxClients, log: log, metrics: m, changed: make(chan struct{}), clients: map[*client]struct{}{}}
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
		case h.live && len(h.clients) >= h.maxClients:
			h.mu.Unlock()
			return nil, errTooManyStreams
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
			return nil, errStreamStopped // the client left, or the wait outlasted the request
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

// Run receives the incident changes until ctx ends, subscribing again after a backoff whenever
// the subscription failed or may have missed one.
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
			h.log.Warn("live incident stream: receiving INCIDENTS failed or may have missed a change; its clients were closed (their consoles reload), retrying", "err", err)
		}
		h.mu.Unlock()
		if retry.Sleep(ctx, streamBackoff.Delay(failures)) != nil {
			return nil
		}
	}
}

// consume fans out the changes published on INCIDENTS' subjects from now on, through a core
// NATS subscription (the API's logins need no JetStream consumer, so they cannot touch the
// notifier's), until ctx ends (nil) or the subscription can no longer promise that nothing
// was missed (the error): the connection was interrupted or reconnected (changes published
// meanwhile were not delivered), or the subscription dropped messages because the hub fell
// behind. The caller then drops every client, whose consoles reload their lists. wasLive says
// whether the subscription was made.
func (h *hub) consume(ctx context.Context) (wasLive bool, err error) {
	nc := h.js.Conn()
	if nc == nil || !nc.IsConnected() {
		return false, errors.New("NATS is not connected")
	}
	msgs := make(chan *nats.Msg, hubBuffer)
	sub, err := nc.ChanSubscribe(bus.SubjectIncidents+".>", msgs)
	if err != nil {
		return false, fmt.Errorf("subscribe to %s.>: %w", bus.SubjectIncidents, err)
	}
	defer func() { _ = sub.Unsubscribe() }()
	reconnects := nc.Stats().Reconnects
	fctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	err = nc.FlushWithContext(fctx) // the server has the subscription, or refused it
	cancel()
	if err != nil {
		return false, fmt.Errorf("subscribe to %s.>: %w", bus.SubjectIncidents, err)
	}
	// A refused subscription stays valid on the client and delivers nothing: the server's
	// refusal arrives before the PONG the flush waited for.
	if e := nc.LastError(); errors.Is(e, nats.ErrPermissionViolation) && strings.Contains(e.Error(), bus.SubjectIncidents) {
		return false, fmt.Errorf("subscribe to %s.>: %w", bus.SubjectIncidents, e)
	}
	h.mu.Lock()
	h.setState(true, true)
	if h.failing {
		h.failing = false
		h.log.Info("live incident stream: receiving INCIDENTS again")
	}
	h.mu.Unlock()
	check := time.NewTicker(streamCheck)
	defer check.Stop()
	for {
		select {
		case <-ctx.Done():
			return true, nil
		case msg := <-msgs:
			h.publish(msg)
		case <-check.C:
			if !nc.IsConnected() || nc.Stats().Reconnects != reconnects {
				return true, errors.New("the NATS connection was interrupted: changes may have been missed")
			}
			if n, _ := sub.Dropped(); n > 0 {
				return true, fmt.Errorf("the hub fell behind and %d changes were dropped", n)
			}
			if !sub.IsValid() {
				return true, errors.New("the subscription was closed")
			}
		}
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
func (h *hub) publish(msg *nats.Msg) {
	var inc event.Incident
	if err := json.Unmarshal(msg.Data, &inc); err != nil || inc.ID == "" {
		h.log.Warn("live incident stream: a change that is not an incident was skipped", "subject", msg.Subject, "err", err)
		return
	}
	data, err := json.Marshal(streamEvent{Change: msg.Header.Get(notify.HeaderChange), Actor: msg.Header.Get(notify.HeaderActor),
		Row: rowObject(notify.ListColumns, notify.ListRow(time.Now())(&inc))})
	if err != nil {
		h.log.Error("live incident stream: encode a change", "incident", inc.ID, "err", err)
		return
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	h.seq++
	frame := fmt.Appendf(nil, "event: incident\nid: %d\ndata: %s\n\n", h.seq, data)
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
// stream, which subscribes to the incident changes. It returns nil once ctx has ended (every open stream was
// ended, so a graceful shutdown of the HTTP server does not wait for them). Without Run, GET
// /api/incidents/stream answers 503. Call it once.
func (s *Server) Run(ctx context.Context) error {
	if s.cfg.JS == nil {
		<-ctx.Done() // nothing to consume: the stream answers 503
		return nil
	}
	return s.hub.Run(ctx)
}

// writeFlushed writes b to w and flushes it, within streamWriteTimeout: the one way a streamed
// answer (the live stream, a backtest's progress) writes, so that a client that stopped
// reading cannot hold the handler.
func writeFlushed(rc *http.ResponseController, w io.Writer, b []byte) error {
	_ = rc.SetWriteDeadline(time.Now().Add(streamWriteTimeout)) // unsupported only in tests' recorders
	if _, err := w.Write(b); err != nil {
		return err
	}
	return rc.Flush()
}

// incStream is GET /api/incidents/stream: the changes of the incidents of the caller's
// organisations as Server-Sent Events (docs/api.md), until StreamMax has passed, the client
// goes away, falls behind, its credential no longer authenticates (checked at every ping) or
// the hub's subscription fails.
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
	write := func(b []byte) error { return writeFlushed(rc, w, b) }
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
			if !s.cfg.Auth.Valid(r) { // signed out, expired, revoked or disabled: the stream ends
				return nil, nil
			}
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
