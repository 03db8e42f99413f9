package respond_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"breachd/bus/bustest"
	"breachd/respond"
	"breachd/respond/scim"
	"breachd/respond/scim/scimtest"
)

// clock is a time source the test moves by hand.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func newClock() *clock { return &clock{now: time.Date(2026, 11, 23, 10, 0, 0, 0, time.UTC)} }

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

// lockedBuffer lets the test read audit lines while engines write them.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) entries(t *testing.T) []respond.Entry {
	t.Helper()
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []respond.Entry
	for _, line := range strings.Split(strings.TrimSpace(l.b.String()), "\n") {
		if line == "" {
			continue
		}
		var e respond.Entry
		if err := json.Unmarshal([]byte(line), &e); err != nil {
			t.Fatalf("audit line %q: %v", line, err)
		}
		out = append(out, e)
	}
	return out
}

// env is one NATS server, one SCIM provider, one clock and one audit log shared by the
// engines of a test.
type env struct {
	t     *testing.T
	bus   *bustest.Server
	scim  *scimtest.Server
	clock *clock
	audit *lockedBuffer
	n     int
}

func newEnv(t *testing.T, users ...string) *env {
	t.Helper()
	e := &env{t: t, bus: bustest.StartServer(t), scim: scimtest.Start(t, users...), clock: newClock(), audit: &lockedBuffer{}}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := respond.EnsureBucket(ctx, e.bus.JS, 1, 0); err != nil {
		t.Fatal(err)
	}
	return e
}

// engine builds an Engine (a new "process") with the SCIM adapter; mod adjusts the options.
func (e *env) engine(mod func(*respond.Options)) *respond.Engine {
	e.t.Helper()
	a, err := scim.New(scim.Config{BaseURL: e.scim.URL, Token: e.scim.Token})
	if err != nil {
		e.t.Fatal(err)
	}
	e.n++
	opts := respond.Options{
		Adapter: a, Auditor: respond.NewJSONAuditor(e.audit), Clock: e.clock.Now,
		Logger:   slog.New(slog.DiscardHandler),
		Instance: fmt.Sprintf("engine-%d", e.n),
		Policy:   respond.Policy{AllowList: []string{"breakglass@*", "*-admin@*"}, MaxPerHour: 3},
	}
	if mod != nil {
		mod(&opts)
	}
	eng, err := respond.New(context.Background(), e.bus.JS, opts)
	if err != nil {
		e.t.Fatal(err)
	}
	return eng
}

func target(org, account, incident string) respond.Target {
	return respond.Target{Org: org, Account: account, Incident: incident}
}

func ctxT(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// expect returns a checker for what Request, Approve, Get or Reactivate returned:
// expect(t, respond.StateDone)(eng.Request(...)).
func expect(t *testing.T, want string) func(*respond.Request, error) *respond.Request {
	t.Helper()
	return func(r *respond.Request, err error) *respond.Request {
		t.Helper()
		if err != nil {
			t.Fatalf("want state %s, got error %v", want, err)
		}
		if r.State != want {
			t.Fatalf("state = %s, want %s (last error %q)", r.State, want, r.LastError)
		}
		return r
	}
}

func countActions(entries []respond.Entry, action, result string) int {
	n := 0
	for _, e := range entries {
		if e.Action == action && (result == "" || e.Result == result) {
			n++
		}
	}
	return n
}

func TestExactlyOnceWithRedeliveryAndRestart(t *testing.T) {
	ctx := ctxT(t)
	env := newEnv(t, "ola@school.no")
	tg := target("school.no", "ola@school.no", "INC-20261123-0001")

	a := env.engine(nil)
	expect(t, respond.StateDone)(a.Request(ctx, tg, "rule takeover", "notify"))
	if env.scim.Patches() != 1 {
		t.Fatalf("patches = %d after the first request", env.scim.Patches())
	}
	// Redelivery to the same process.
	expect(t, respond.StateDone)(a.Request(ctx, tg, "rule takeover", "notify"))
	// A restarted notifier: a new engine on the same bucket.
	b := env.engine(nil)
	expect(t, respond.StateDone)(b.Request(ctx, tg, "rule takeover", "notify"))
	if n, err := b.ProcessDue(ctx); err != nil || n != 0 {
		t.Fatalf("ProcessDue after restart: %d calls, %v", n, err)
	}
	env.clock.Advance(3 * time.Hour)
	if n, err := b.ProcessDue(ctx); err != nil || n != 0 {
		t.Fatalf("ProcessDue later: %d calls, %v", n, err)
	}
	if env.scim.Patches() != 1 || env.scim.Searches() != 1 {
		t.Fatalf("SCIM saw %d PATCH and %d searches, want exactly 1 each", env.scim.Patches(), env.scim.Searches())
	}
	if active, _ := env.scim.Active("ola@school.no"); active {
		t.Fatal("user still active")
	}
	// The same incident for another account is a mistake, not a second request.
	if _, err := b.Request(ctx, target("school.no", "kari@school.no", tg.Incident), "x", "notify"); !errors.Is(err, respond.ErrTargetMismatch) {
		t.Fatalf("other account, same incident: %v", err)
	}
	au := env.audit.entries(t)
	if countActions(au, respond.AuditRequest, respond.StateRequested) != 1 || countActions(au, respond.AuditAttempt, "") != 1 ||
		countActions(au, respond.AuditResult, respond.ResultOK) != 1 || countActions(au, respond.AuditDeactivate, "") != 1 {
		t.Fatalf("audit entries: %+v", au)
	}
	for _, e := range au {
		if e.Incident != tg.Incident || e.Account != tg.Account || e.Actor == "" || e.Time.IsZero() {
			t.Fatalf("incomplete audit entry %+v", e)
		}
	}
}
