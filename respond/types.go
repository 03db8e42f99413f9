package respond

import (
	"context"
	"time"
)

// Target is the account an action is about.
type Target struct {
	Org      string // the account's organisation (Feide realm), e.g. "oslo.kommune.no"
	Account  string // the login name, e.g. eduPersonPrincipalName "ola@oslo.kommune.no"
	Incident string // the incident that asked for the action
	Request  string // the request id (set by the engine; adapters may use it as an idempotency key)
}

// Adapter performs the actions on the system that owns the account.
//
// Both methods must be idempotent: the engine may call them again for the same Target after
// a crash between the call and the recording of its result (see the package documentation),
// and deactivating an account that is already off must succeed. They must honour ctx (it
// carries the engine's per-call deadline) and may block until then. A nil error means the
// account is now off (Deactivate) or on (Reactivate). An error marked by retry.Permanent is
// not retried; any other error is retried with backoff, after at least the delay it carries
// (retry.Transient, e.g. from retry.HTTPError with a Retry-After). Error texts are stored,
// audited and logged: they must not contain secrets.
type Adapter interface {
	Name() string // short, stable, low-cardinality: "scim", "ldap", "webhook", "dryrun"
	Deactivate(ctx context.Context, t Target) error
	Reactivate(ctx context.Context, t Target) error
}

// Request states.
const (
	StateRequested        = "requested"         // admitted, not yet attempted
	StateRefused          = "refused"           // the account is on the allow-list; never touched
	StateAwaitingApproval = "awaiting_approval" // over the organisation's hourly cap; needs Approve
	StateInProgress       = "in_progress"       // an engine holds the lease and calls the adapter
	StateRetrying         = "retrying"          // a transient failure; next attempt at NextAttempt
	StateDone             = "done"              // the account is deactivated
	StateFailed           = "failed"            // a permanent error, or attempts exhausted
	StateReactivating     = "reactivating"      // an engine calls Reactivate (lease held)
	StateReactivated      = "reactivated"       // the account is back on
	StateCancelled        = "cancelled"         // a person withdrew it before an engine took it (Cancel)
)

// Request is one deactivation request: at most one per incident. It is stored as JSON in the
// responses bucket; the account appears only in the value, never in a key.
type Request struct {
	ID          string    `json:"id"`
	Incident    string    `json:"incident"`
	Org         string    `json:"org"`
	Account     string    `json:"account"`
	Reason      string    `json:"reason,omitempty"`
	RequestedBy string    `json:"requested_by"`
	Adapter     string    `json:"adapter"`
	State       string    `json:"state"`
	Created     time.Time `json:"created"`
	Updated     time.Time `json:"updated"`
	// Refusal says why the request was refused (the allow-list entry that matched).
	Refusal string `json:"refusal,omitempty"`
	// Attempts counts adapter calls for the current action (deactivation, then reactivation).
	Attempts    int       `json:"attempts,omitempty"`
	NextAttempt time.Time `json:"next_attempt,omitzero"`
	LastError   string    `json:"last_error,omitempty"`
	// Owner and LeaseUntil are set while in_progress or reactivating: the engine instance
	// that holds the request and until when (on the engine's clock) nobody else may take it.
	Owner        string        `json:"owner,omitempty"`
	LeaseUntil   time.Time     `json:"lease_until,omitzero"`
	Approval     *Approval     `json:"approval,omitempty"`
	Cancellation *Approval     `json:"cancellation,omitempty"` // who cancelled it, when and why
	Reactivation *Reactivation `json:"reactivation,omitempty"`
	// History holds the last attempts (at most 20), oldest first.
	History []Attempt `json:"history,omitempty"`
	// Deactivated is when the adapter confirmed the deactivation.
	Deactivated time.Time `json:"deactivated,omitzero"`
}

// Terminal reports whether nothing more happens to r without a human: done, failed,
// refused, reactivated, cancelled or awaiting approval.
func (r *Request) Terminal() bool {
	switch r.State {
	case StateDone, StateFailed, StateRefused, StateReactivated, StateCancelled, StateAwaitingApproval:
		return true
	}
	return false
}

// Approval records who let a request over the cap run (or, as Request.Cancellation, who
// cancelled it).
type Approval struct {
	By      string    `json:"by"`
	At      time.Time `json:"at"`
	Comment string    `json:"comment,omitempty"`
}

// Reactivation records the explicit command that turned the account back on.
type Reactivation struct {
	By           string    `json:"by"`
	At           time.Time `json:"at"`
	Reason       string    `json:"reason,omitempty"`
	Forced       bool      `json:"forced,omitempty"`
	MissingSteps []string  `json:"missing_steps,omitempty"` // open steps overridden by force
}

// Attempt is one adapter call.
type Attempt struct {
	Action   string        `json:"action"` // "deactivate" or "reactivate"
	At       time.Time     `json:"at"`
	Owner    string        `json:"owner"`
	Result   string        `json:"result"` // "ok", "transient", "permanent"
	Error    string        `json:"error,omitempty"`
	Duration time.Duration `json:"duration_ns"`
}

// Adapter call results (Attempt.Result, metrics, audit).
const (
	ResultOK        = "ok"
	ResultTransient = "transient"
	ResultPermanent = "permanent"
)
