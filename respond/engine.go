package respond

import (
	"cmp"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"

	"breachd/retry"
)

// Options configures an Engine. Adapter and Auditor are required.
type Options struct {
	Adapter     Adapter            // used for every organisation without an entry in OrgAdapters
	OrgAdapters map[string]Adapter // per-organisation adapters (e.g. each school owner's SCIM)
	Auditor     Auditor            // required: every decision and call is audited
	Policy      Policy
	Clock       func() time.Time      // default time.Now; all due times and leases use it
	Logger      *slog.Logger          // default slog.Default()
	Registerer  prometheus.Registerer // nil: metrics are not registered
	// Instance names this engine in leases and audit entries (default host-pid-random).
	// Two live engines must not share it.
	Instance     string
	MaxAttempts  int           // adapter calls per deactivation before failed (default 6)
	MinBackoff   time.Duration // delay after the first transient failure (default 10 s), doubled after each
	MaxBackoff   time.Duration // cap of that delay and of a Retry-After (default 15 min)
	CallTimeout  time.Duration // per adapter call (default 30 s)
	Lease        time.Duration // how long a claim holds before another engine may take over (default 2 min, > CallTimeout)
	PollInterval time.Duration // how often Run looks for due work (default 5 s)
}

const (
	defaultMaxAttempts = 6
	defaultMinBackoff  = 10 * time.Second
	defaultMaxBackoff  = 15 * time.Minute
	defaultCallTimeout = 30 * time.Second
	defaultLease       = 2 * time.Minute
	defaultPoll        = 5 * time.Second
	recordTimeout      = 10 * time.Second // recording an outcome after the call, past the caller's ctx
	maxHistory         = 20
	maxPerPass         = 512
	maxText            = 500
	actionDeactivate   = "deactivate"
	actionReactivate   = "reactivate"
)

// Engine executes deactivation requests. See the package documentation for its guarantees.
// It is safe for concurrent use, also with other Engines in other processes on the same
// bucket.
type Engine struct {
	kv         jetstream.KeyValue
	opts       Options
	allow      allowList
	maxPerHour int
	m          *metrics
	log        *slog.Logger
	owner      string
	backoff    retry.Backoff // between transient failures; jitter so one outage's requests spread out
}

// New checks opts and binds to the responses bucket (EnsureBucket creates it).
func New(ctx context.Context, js jetstream.JetStream, opts Options) (*Engine, error) {
	if js == nil {
		return nil, errors.New("respond: nil JetStream")
	}
	if opts.Adapter == nil {
		return nil, errors.New("respond: Options.Adapter is required (use &respond.DryRun{} for demo mode)")
	}
	for org, a := range opts.OrgAdapters {
		if a == nil {
			return nil, fmt.Errorf("respond: OrgAdapters[%q] is nil", org)
		}
	}
	if opts.Auditor == nil {
		return nil, errors.New("respond: Options.Auditor is required")
	}
	allow, err := newAllowList(opts.Policy.AllowList)
	if err != nil {
		return nil, fmt.Errorf("respond: policy: %w", err)
	}
	maxPerHour := opts.Policy.MaxPerHour
	if maxPerHour < 0 {
		return nil, fmt.Errorf("respond: policy: max per hour %d is negative", maxPerHour)
	}
	if maxPerHour == 0 {
		maxPerHour = DefaultMaxPerHour
	}
	if opts.Clock == nil {
		opts.Clock = time.Now
	}
	opts.Logger = cmp.Or(opts.Logger, slog.Default())
	if opts.Instance == "" {
		opts.Instance = defaultInstance()
	}
	opts.MaxAttempts = cmp.Or(max(opts.MaxAttempts, 0), defaultMaxAttempts)
	opts.MinBackoff = cmp.Or(max(opts.MinBackoff, 0), defaultMinBackoff)
	opts.MaxBackoff = max(cmp.Or(max(opts.MaxBackoff, 0), defaultMaxBackoff), opts.MinBackoff)
	opts.CallTimeout = cmp.Or(max(opts.CallTimeout, 0), defaultCallTimeout)
	opts.Lease = cmp.Or(max(opts.Lease, 0), defaultLease)
	opts.PollInterval = cmp.Or(max(opts.PollInterval, 0), defaultPoll)
	if opts.Lease <= opts.CallTimeout {
		return nil, fmt.Errorf("respond: lease %s must exceed the call timeout %s", opts.Lease, opts.CallTimeout)
	}
	kv, err := js.KeyValue(ctx, Bucket)
	if err != nil {
		return nil, fmt.Errorf("respond: bind bucket %s (created by respond.EnsureBucket): %w", Bucket, err)
	}
	m, err := newMetrics(opts.Registerer)
	if err != nil {
		return nil, fmt.Errorf("respond: metrics: %w", err)
	}
	return &Engine{
		kv: kv, opts: opts, allow: allow, maxPerHour: maxPerHour, m: m, owner: opts.Instance,
		log:     opts.Logger.With("component", "respond", "instance", opts.Instance),
		backoff: retry.Backoff{Initial: opts.MinBackoff, Max: opts.MaxBackoff, Jitter: 0.2},
	}, nil
}

func defaultInstance() string {
	host, _ := os.Hostname()
	var b [4]byte
	_, _ = rand.Read(b[:])
	return fmt.Sprintf("%s-%d-%s", cmp.Or(host, "engine"), os.Getpid(), hex.EncodeToString(b[:]))
}

func (e *Engine) adapterFor(org string) Adapter {
	if a, ok := e.opts.OrgAdapters[org]; ok {
		return a
	}
	return e.opts.Adapter
}

// Get returns the request of incident, or an error wrapping ErrNotFound.
func (e *Engine) Get(ctx context.Context, incident string) (*Request, error) {
	r, _, err := e.load(ctx, RequestID(incident))
	return r, err
}

// Request asks for t's account to be deactivated because of t.Incident, and returns the
// request as it stands when the call ends. It is idempotent per incident: a second call
// (a redelivered alert, another notifier) returns the existing request and starts no second
// deactivation. A new request is checked against the allow-list (refused: never touched),
// then the organisation's hourly cap (awaiting_approval), then executed: Request makes the
// first adapter call itself, bounded by CallTimeout and ctx; later attempts are left to
// ProcessDue/Run. The decision is audited (actor requestedBy) before it is stored; if the
// audit fails nothing is stored and the error is returned, so the caller's retry repeats it.
// An error means the request may or may not be stored: call again.
func (e *Engine) Request(ctx context.Context, t Target, reason, requestedBy string) (*Request, error) {
	if t.Org == "" || t.Account == "" || t.Incident == "" {
		return nil, errors.New("respond: request needs an org, an account and an incident")
	}
	if strings.TrimSpace(requestedBy) == "" {
		return nil, errors.New("respond: request needs requestedBy (who asks is audited)")
	}
	id := RequestID(t.Incident)
	r, _, err := e.load(ctx, id)
	switch {
	case err == nil:
		return e.existing(ctx, r, t)
	case !errors.Is(err, ErrNotFound):
		return nil, err
	}
	now := e.opts.Clock()
	r = &Request{
		ID: id, Incident: t.Incident, Org: t.Org, Account: t.Account, Reason: clip(reason),
		RequestedBy: requestedBy, Adapter: e.adapterFor(t.Org).Name(), Created: now, Updated: now,
	}
	entry := Entry{Time: now, Actor: requestedBy, Detail: clip(reason)}
	if rule := e.allow.match(t.Account); rule != "" {
		r.State, r.Refusal = StateRefused, "account matches allow-list entry "+rule
		entry.Action, entry.Detail = AuditRefuse, r.Refusal
	} else {
		ok, err := e.takeSlot(ctx, t.Org, id, now, false)
		if err != nil {
			return nil, fmt.Errorf("respond: %w", err)
		}
		r.State, entry.Action = StateRequested, AuditRequest
		if !ok {
			r.State, entry.Action = StateAwaitingApproval, AuditHold
			entry.Detail = fmt.Sprintf("over the cap of %d deactivations per hour for %s; approve with the incident id", e.maxPerHour, t.Org)
		}
	}
	entry.Result = r.State
	if err := e.audit(ctx, r, entry); err != nil {
		return nil, fmt.Errorf("respond: audit request: %w", err)
	}
	if _, err := e.write(ctx, r, 0); err != nil {
		if retry.IsLost(err) { // another process created it first
			cur, _, err := e.load(ctx, id)
			if err != nil {
				return nil, err
			}
			return e.existing(ctx, cur, t)
		}
		return nil, fmt.Errorf("respond: %w", err)
	}
	e.m.states.WithLabelValues(r.State).Inc()
	e.log.Info("deactivation request", "request", id, "incident", t.Incident, "org", t.Org, "state", r.State)
	if r.State != StateRequested {
		return r, nil
	}
	if err := e.markPending(ctx, r); err != nil {
		return r, fmt.Errorf("respond: %w", err)
	}
	return e.drive(ctx, id)
}

// existing handles a Request call for an incident that already has a request.
func (e *Engine) existing(ctx context.Context, r *Request, t Target) (*Request, error) {
	if r.Org != t.Org || r.Account != t.Account {
		return r, fmt.Errorf("respond: incident %s: %w", t.Incident, ErrTargetMismatch)
	}
	if r.Terminal() {
		return r, nil
	}
	// Repair a crash between creating the request and marking it pending, then help along.
	if err := e.markPending(ctx, r); err != nil {
		return r, fmt.Errorf("respond: %w", err)
	}
	return e.drive(ctx, r.ID)
}

// Approve lets a request held by the cap run: approver (required) is audited with comment.
// The allow-list is checked again and still wins (the request becomes refused). Approve
// makes the first adapter call like Request does. It returns ErrState (wrapped) if the
// request is not awaiting approval.
func (e *Engine) Approve(ctx context.Context, incident, approver, comment string) (*Request, error) {
	if strings.TrimSpace(approver) == "" {
		return nil, errors.New("respond: approve needs the approver's name")
	}
	id := RequestID(incident)
	var r, refused *Request
	err := retry.CAS(ctx, "respond: approve "+incident, func(ctx context.Context) error {
		var rev uint64
		var err error
		if r, rev, err = e.load(ctx, id); err != nil {
			return fmt.Errorf("respond: approve: %w", err)
		}
		if r.State != StateAwaitingApproval {
			refused = r
			return fmt.Errorf("respond: approve request of %s in state %s: %w", incident, r.State, ErrState)
		}
		now := e.opts.Clock()
		entry := Entry{Time: now, Actor: approver, Action: AuditApprove, Detail: clip(comment)}
		if rule := e.allow.match(r.Account); rule != "" {
			r.State, r.Refusal = StateRefused, "account matches allow-list entry "+rule
			entry.Action, entry.Detail = AuditRefuse, r.Refusal+" (at approval)"
		} else {
			if _, err := e.takeSlot(ctx, r.Org, id, now, true); err != nil {
				return fmt.Errorf("respond: approve: %w", err)
			}
			r.State = StateRequested
			r.Approval = &Approval{By: approver, At: now, Comment: clip(comment)}
		}
		r.Updated = now
		entry.Result = r.State
		if err := e.audit(ctx, r, entry); err != nil {
			return fmt.Errorf("respond: audit approval: %w", err)
		}
		if _, err := e.write(ctx, r, rev); err != nil {
			return fmt.Errorf("respond: approve: %w", err)
		}
		return nil
	})
	if err != nil {
		return refused, err
	}
	e.m.states.WithLabelValues(r.State).Inc()
	if r.State == StateRefused {
		return r, nil
	}
	if err := e.markPending(ctx, r); err != nil {
		return r, fmt.Errorf("respond: %w", err)
	}
	return e.drive(ctx, id)
}

// audit writes one entry, filling in the request's fields.
func (e *Engine) audit(ctx context.Context, r *Request, en Entry) error {
	en.Org, en.Account, en.Incident, en.Request = r.Org, r.Account, r.Incident, r.ID
	if en.Adapter == "" {
		en.Adapter = r.Adapter
	}
	if en.Time.IsZero() {
		en.Time = e.opts.Clock()
	}
	return e.opts.Auditor.Audit(ctx, en)
}

// auditOutcome audits something already stored: a failure can only be logged and counted.
func (e *Engine) auditOutcome(ctx context.Context, r *Request, en Entry) {
	if err := e.audit(ctx, r, en); err != nil {
		e.m.auditFailures.Inc()
		e.log.Error("audit entry lost", "err", err, "request", r.ID, "action", en.Action, "result", en.Result)
	}
}

func clip(s string) string {
	if len(s) <= maxText {
		return s
	}
	cut := maxText
	for cut > 0 && s[cut]&0xC0 == 0x80 { // do not split a UTF-8 sequence
		cut--
	}
	return s[:cut] + "…"
}
