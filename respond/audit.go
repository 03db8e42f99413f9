package respond

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"sync"
	"time"

	"breachd/retry"
)

// Audit actions the engine writes.
const (
	AuditRequest    = "respond.request"     // a request was admitted (Result: its state)
	AuditRefuse     = "respond.refuse"      // allow-listed: refused, nothing touched
	AuditHold       = "respond.hold"        // over the cap: awaiting approval
	AuditApprove    = "respond.approve"     // a human let a held request run
	AuditCancel     = "respond.cancel"      // a human withdrew a request no engine had taken
	AuditAttempt    = "respond.attempt"     // an adapter call is about to start
	AuditResult     = "respond.result"      // an adapter call ended (Result: ok, transient, permanent)
	AuditReactivate = "respond.reactivate"  // the reactivation command (Result: refused, ok, ...)
	AuditDeactivate = "respond.deactivated" // the request reached done: the account is off
	AuditFail       = "respond.failed"      // the request reached failed

	// AuditWouldDeactivate replaces AuditDeactivate when the dry-run adapter handled the
	// request: it reached done, and nothing was changed.
	AuditWouldDeactivate = "respond.would_deactivate"
)

// Entry is one audit record.
type Entry struct {
	Time     time.Time `json:"time"`
	Actor    string    `json:"actor"`  // who asked: a person, or the engine's instance name
	Action   string    `json:"action"` // one of the Audit* constants
	Org      string    `json:"org"`
	Account  string    `json:"account"`
	Incident string    `json:"incident"`
	Request  string    `json:"request"`
	Adapter  string    `json:"adapter,omitempty"`
	Result   string    `json:"result,omitempty"` // the state reached or the call's result
	Detail   string    `json:"detail,omitempty"` // reason, error text, attempt number
}

// Auditor stores audit entries durably (the history package's audit table in production).
//
// Audit returns nil only when the entry is stored. The engine writes the entry for an
// adapter call before the call and does not make the call if that fails; entries written
// after an outcome was recorded (results) are retried by nobody: an error there is logged
// and counted. It must honour ctx and be safe for concurrent use.
type Auditor interface {
	Audit(ctx context.Context, e Entry) error
}

// JSONAuditor writes every entry as one JSON line to a writer. It is safe for concurrent
// use; it is meant for tests, demos and a file next to the process.
type JSONAuditor struct {
	mu sync.Mutex
	w  io.Writer
}

// NewJSONAuditor returns an Auditor writing JSON lines to w.
func NewJSONAuditor(w io.Writer) *JSONAuditor { return &JSONAuditor{w: w} }

// Audit writes e as one line.
func (a *JSONAuditor) Audit(ctx context.Context, e Entry) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	b, err := json.Marshal(e)
	if err != nil {
		return fmt.Errorf("encode audit entry: %w", err)
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	if _, err := a.w.Write(append(b, '\n')); err != nil {
		return fmt.Errorf("write audit entry: %w", err)
	}
	return nil
}

// DryRun is the adapter of demo mode: it records what it would do and changes nothing.
type DryRun struct {
	mu    sync.Mutex
	calls []DryRunCall
}

// DryRunCall is one call DryRun received.
type DryRunCall struct {
	Action string
	Target Target
}

// maxDryRunCalls bounds DryRun's memory; older calls are dropped.
const maxDryRunCalls = 1000

// DryRunName is the Name of the DryRun adapter, as requests, audit entries and metrics carry it.
const DryRunName = "dryrun"

// IsDryRun reports whether adapter (a Request's or an Entry's Adapter) is the dry run, whose
// "deactivated" means "would have deactivated": every text for people must say so.
func IsDryRun(adapter string) bool { return adapter == DryRunName }

// Name returns DryRunName.
func (d *DryRun) Name() string { return DryRunName }

// Deactivate records the call and returns nil.
func (d *DryRun) Deactivate(ctx context.Context, t Target) error {
	return d.record(ctx, "deactivate", t)
}

// Reactivate records the call and returns nil.
func (d *DryRun) Reactivate(ctx context.Context, t Target) error {
	return d.record(ctx, "reactivate", t)
}

func (d *DryRun) record(ctx context.Context, action string, t Target) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if t.Account == "" {
		return retry.Permanent(errors.New("dryrun: empty account"))
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if len(d.calls) >= maxDryRunCalls {
		d.calls = d.calls[1:]
	}
	d.calls = append(d.calls, DryRunCall{Action: action, Target: t})
	return nil
}

// Calls returns a copy of the calls recorded so far (the last 1000), oldest first.
func (d *DryRun) Calls() []DryRunCall {
	d.mu.Lock()
	defer d.mu.Unlock()
	return append([]DryRunCall(nil), d.calls...)
}
