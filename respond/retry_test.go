package respond_test

import (
	"context"
	"encoding/json"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"breachd/respond"
)

func TestTransientFailuresRetriedThenDone(t *testing.T) {
	ctx := ctxT(t)
	env := newEnv(t, "ola@school.no")
	env.scim.FailPatches(2, 503, "")
	env.scim.FailPatches(1, 429, "600")
	eng := env.engine(func(o *respond.Options) { o.MinBackoff, o.MaxBackoff = 10*time.Second, time.Hour })
	tg := target("school.no", "ola@school.no", "INC-1")

	r := expect(t, respond.StateRetrying)(eng.Request(ctx, tg, "", "notify"))
	if r.Attempts != 1 || !r.NextAttempt.After(env.clock.Now()) || r.LastError == "" {
		t.Fatalf("after the first failure: %+v", r)
	}
	for i := 2; i <= 3; i++ {
		// Not due yet: nothing happens, however often we look.
		env.clock.Advance(time.Second)
		if n, err := eng.ProcessDue(ctx); n != 0 || err != nil {
			t.Fatalf("ProcessDue before the next attempt: %d calls, %v", n, err)
		}
		env.clock.Advance(r.NextAttempt.Sub(env.clock.Now()))
		if n, err := eng.ProcessDue(ctx); n != 1 || err != nil {
			t.Fatalf("ProcessDue when due: %d calls, %v", n, err)
		}
		r = expect(t, respond.StateRetrying)(eng.Get(ctx, tg.Incident))
		if r.Attempts != i {
			t.Fatalf("attempts = %d, want %d", r.Attempts, i)
		}
	}
	// The third failure was a 429 with Retry-After: 600, longer than the backoff (40 s).
	if wait := r.NextAttempt.Sub(env.clock.Now()); wait < 600*time.Second {
		t.Fatalf("next attempt in %s, want at least the Retry-After of 600 s", wait)
	}
	env.clock.Advance(r.NextAttempt.Sub(env.clock.Now()))
	if n, err := eng.ProcessDue(ctx); n != 1 || err != nil {
		t.Fatalf("last ProcessDue: %d calls, %v", n, err)
	}
	r = expect(t, respond.StateDone)(eng.Get(ctx, tg.Incident))
	if env.scim.Patches() != 4 || r.Attempts != 4 || len(r.History) != 4 {
		t.Fatalf("patches %d, attempts %d, history %d; want 4 each", env.scim.Patches(), r.Attempts, len(r.History))
	}
	if active, _ := env.scim.Active("ola@school.no"); active {
		t.Fatal("user still active")
	}
	au := env.audit.entries(t)
	if countActions(au, respond.AuditAttempt, "") != 4 || countActions(au, respond.AuditResult, respond.ResultTransient) != 3 ||
		countActions(au, respond.AuditResult, respond.ResultOK) != 1 {
		t.Fatalf("audit: %+v", au)
	}
}

func TestPermanentErrorsAndExhaustedAttempts(t *testing.T) {
	ctx := ctxT(t)
	env := newEnv(t, "ola@school.no", "kari@school.no")
	eng := env.engine(func(o *respond.Options) { o.MaxAttempts = 3 })

	// A 400 is permanent: one PATCH, failed, never again.
	env.scim.FailPatches(1, 400, "")
	r := expect(t, respond.StateFailed)(eng.Request(ctx, target("school.no", "ola@school.no", "INC-1"), "", "notify"))
	if r.LastError == "" || env.scim.Patches() != 1 {
		t.Fatalf("after 400: %+v, patches %d", r, env.scim.Patches())
	}
	// An unknown user is permanent too, and no PATCH is sent.
	expect(t, respond.StateFailed)(eng.Request(ctx, target("school.no", "ghost@school.no", "INC-2"), "", "notify"))
	env.clock.Advance(24 * time.Hour)
	if n, err := eng.ProcessDue(ctx); n != 0 || err != nil {
		t.Fatalf("ProcessDue retried a permanent failure: %d calls, %v", n, err)
	}
	if env.scim.Patches() != 1 {
		t.Fatalf("patches = %d, want 1", env.scim.Patches())
	}

	// Transient failures stop after MaxAttempts.
	env.scim.FailPatches(10, 500, "")
	tg := target("school.no", "kari@school.no", "INC-3")
	r = expect(t, respond.StateRetrying)(eng.Request(ctx, tg, "", "notify"))
	for range 2 {
		env.clock.Advance(r.NextAttempt.Sub(env.clock.Now()))
		if _, err := eng.ProcessDue(ctx); err != nil {
			t.Fatal(err)
		}
		if r, _ = eng.Get(ctx, tg.Incident); r == nil {
			t.Fatal("request vanished")
		}
	}
	expect(t, respond.StateFailed)(eng.Get(ctx, tg.Incident))
	env.clock.Advance(24 * time.Hour)
	if n, _ := eng.ProcessDue(ctx); n != 0 || env.scim.Patches() != 4 {
		t.Fatalf("after giving up: %d calls, %d patches (want 0, 4)", n, env.scim.Patches())
	}
	if got := countActions(env.audit.entries(t), respond.AuditFail, ""); got != 3 {
		t.Fatalf("failed audit entries = %d, want 3", got)
	}
}

func TestAllowListNeverTouched(t *testing.T) {
	ctx := ctxT(t)
	env := newEnv(t, "breakglass@school.no", "it-admin@school.no")
	eng := env.engine(nil)
	for i, acc := range []string{"breakglass@school.no", "IT-Admin@school.no"} {
		r := expect(t, respond.StateRefused)(eng.Request(ctx, target("school.no", acc, "INC-"+acc), "", "notify"))
		if r.Refusal == "" {
			t.Fatalf("%s: no refusal reason", acc)
		}
		// Approve does not apply and redelivery changes nothing.
		if _, err := eng.Approve(ctx, "INC-"+acc, "boss", "do it"); !errors.Is(err, respond.ErrState) {
			t.Fatalf("approve refused request: %v", err)
		}
		expect(t, respond.StateRefused)(eng.Request(ctx, target("school.no", acc, "INC-"+acc), "", "notify"))
		if got := countActions(env.audit.entries(t), respond.AuditRefuse, respond.StateRefused); got != i+1 {
			t.Fatalf("refuse audit entries = %d, want %d", got, i+1)
		}
	}
	env.clock.Advance(time.Hour)
	if _, err := eng.ProcessDue(ctx); err != nil {
		t.Fatal(err)
	}
	if env.scim.Patches() != 0 || env.scim.Searches() != 0 {
		t.Fatalf("SCIM saw %d PATCH, %d searches for allow-listed accounts", env.scim.Patches(), env.scim.Searches())
	}
}

func TestCapPerOrganisation(t *testing.T) {
	ctx := ctxT(t)
	env := newEnv(t, "a1@a.no", "a2@a.no", "a3@a.no", "a4@a.no", "a5@a.no", "b1@b.no")
	// Two processes share the cap through the bucket.
	e1, e2 := env.engine(nil), env.engine(nil) // MaxPerHour 3
	expect(t, respond.StateDone)(e1.Request(ctx, target("a.no", "a1@a.no", "I1"), "", "notify"))
	env.clock.Advance(10 * time.Minute)
	expect(t, respond.StateDone)(e2.Request(ctx, target("a.no", "a2@a.no", "I2"), "", "notify"))
	expect(t, respond.StateDone)(e1.Request(ctx, target("a.no", "a3@a.no", "I3"), "", "notify"))
	held := expect(t, respond.StateAwaitingApproval)(e2.Request(ctx, target("a.no", "a4@a.no", "I4"), "", "notify"))
	// Redelivery of the held request keeps it held and does not take a slot.
	expect(t, respond.StateAwaitingApproval)(e1.Request(ctx, target("a.no", "a4@a.no", "I4"), "", "notify"))
	// Another organisation is not affected.
	expect(t, respond.StateDone)(e2.Request(ctx, target("b.no", "b1@b.no", "I5"), "", "notify"))
	if env.scim.Patches() != 4 {
		t.Fatalf("patches = %d, want 4", env.scim.Patches())
	}
	if active, _ := env.scim.Active("a4@a.no"); !active {
		t.Fatal("held account deactivated")
	}
	if n, _ := e1.ProcessDue(ctx); n != 0 {
		t.Fatalf("ProcessDue ran a held request (%d calls)", n)
	}
	// A human approves: it runs, over the cap.
	r := expect(t, respond.StateDone)(e1.Approve(ctx, held.Incident, "soc-anne", "confirmed takeover"))
	if r.Approval == nil || r.Approval.By != "soc-anne" {
		t.Fatalf("approval not recorded: %+v", r.Approval)
	}
	if active, _ := env.scim.Active("a4@a.no"); active {
		t.Fatal("approved account still active")
	}
	if _, err := e2.Approve(ctx, held.Incident, "soc-anne", "again"); !errors.Is(err, respond.ErrState) {
		t.Fatalf("second approval: %v", err)
	}
	// Approved requests count too; the window slides per request, not per clock hour.
	expect(t, respond.StateAwaitingApproval)(e1.Request(ctx, target("a.no", "a5@a.no", "I6"), "", "notify"))
	env.clock.Advance(51 * time.Minute) // 61 min after I1, 51 after I2 and I3
	expect(t, respond.StateAwaitingApproval)(e1.Request(ctx, target("a.no", "a5@a.no", "I7"), "", "notify"))
	env.clock.Advance(10 * time.Minute) // I2, I3 and the approved I4 have left the window
	expect(t, respond.StateDone)(e1.Request(ctx, target("a.no", "a5@a.no", "I8"), "", "notify"))
	au := env.audit.entries(t)
	if countActions(au, respond.AuditHold, respond.StateAwaitingApproval) != 3 || countActions(au, respond.AuditApprove, "") != 1 {
		t.Fatalf("audit: %+v", au)
	}
}

func TestTwoEnginesRacing(t *testing.T) {
	ctx := ctxT(t)
	env := newEnv(t, "ola@school.no")
	engines := []*respond.Engine{env.engine(nil), env.engine(nil)}
	tg := target("school.no", "ola@school.no", "INC-race")
	// The provider holds the first PATCH, so every other Request runs while the first call
	// is in flight.
	release := env.scim.Hold()
	defer release()
	var wg sync.WaitGroup
	var returned atomic.Int32
	errs := make(chan error, 16)
	for i := range 16 {
		wg.Go(func() {
			defer returned.Add(1)
			r, err := engines[i%2].Request(ctx, tg, "", "notify")
			if err == nil && r.State != respond.StateDone && r.State != respond.StateInProgress && r.State != respond.StateRequested {
				err = errors.New("unexpected state " + r.State)
			}
			errs <- err
		})
	}
	// Wait until 15 Requests have returned (the 16th holds the call) or a second PATCH
	// arrived (a broken claim), then let the provider answer.
	for returned.Load() < 15 && env.scim.Patches() < 2 && ctx.Err() == nil {
		time.Sleep(5 * time.Millisecond)
	}
	release()
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	expect(t, respond.StateDone)(engines[0].Get(ctx, tg.Incident))
	if env.scim.Patches() != 1 {
		t.Fatalf("SCIM saw %d PATCH requests, want 1", env.scim.Patches())
	}
	if got := countActions(env.audit.entries(t), respond.AuditAttempt, ""); got != 1 {
		t.Fatalf("attempt audit entries = %d, want 1", got)
	}
}

func TestResumeAfterOwnerDied(t *testing.T) {
	ctx := ctxT(t)
	env := newEnv(t, "ola@school.no")
	tg := target("school.no", "ola@school.no", "INC-crash")
	// A process claimed the request and died before the call returned: its record stays
	// in_progress with a lease. Write that record as it would have.
	now := env.clock.Now()
	id := respond.RequestID(tg.Incident)
	dead := respond.Request{ID: id, Incident: tg.Incident, Org: tg.Org, Account: tg.Account, RequestedBy: "notify",
		Adapter: "scim", State: respond.StateInProgress, Created: now, Updated: now, Attempts: 1,
		Owner: "dead-engine", LeaseUntil: now.Add(2 * time.Minute)}
	data, _ := json.Marshal(dead)
	kv, err := env.bus.JS.KeyValue(ctx, respond.Bucket)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := kv.Create(ctx, "req."+id, data); err != nil {
		t.Fatal(err)
	}
	if _, err := kv.Put(ctx, "pend."+id, nil); err != nil {
		t.Fatal(err)
	}
	eng := env.engine(nil)
	// The lease is live: neither redelivery nor ProcessDue touches it.
	expect(t, respond.StateInProgress)(eng.Request(ctx, tg, "", "notify"))
	if n, _ := eng.ProcessDue(ctx); n != 0 || env.scim.Patches() != 0 {
		t.Fatalf("took a live lease: %d calls, %d patches", n, env.scim.Patches())
	}
	env.clock.Advance(2*time.Minute + time.Second)
	if n, err := eng.ProcessDue(ctx); n != 1 || err != nil {
		t.Fatalf("expired lease not resumed: %d calls, %v", n, err)
	}
	r := expect(t, respond.StateDone)(eng.Get(ctx, tg.Incident))
	if r.Attempts != 2 || env.scim.Patches() != 1 {
		t.Fatalf("attempts %d, patches %d", r.Attempts, env.scim.Patches())
	}
	// The pending mark is gone: nothing is listed any more.
	if _, err := kv.Get(ctx, "pend."+id); err == nil {
		t.Fatal("pending mark left behind")
	}
}

// failingAuditor fails entries of one action.
type failingAuditor struct {
	respond.Auditor
	mu     sync.Mutex
	action string
}

func (f *failingAuditor) Audit(ctx context.Context, e respond.Entry) error {
	f.mu.Lock()
	fail := f.action != "" && e.Action == f.action
	f.mu.Unlock()
	if fail {
		return errors.New("audit store down")
	}
	return f.Auditor.Audit(ctx, e)
}

func TestNoCallWithoutAudit(t *testing.T) {
	ctx := ctxT(t)
	env := newEnv(t, "ola@school.no")
	fa := &failingAuditor{Auditor: respond.NewJSONAuditor(env.audit), action: respond.AuditAttempt}
	eng := env.engine(func(o *respond.Options) { o.Auditor = fa })
	tg := target("school.no", "ola@school.no", "INC-a")
	if _, err := eng.Request(ctx, tg, "", "notify"); err == nil {
		t.Fatal("no error with the audit store down")
	}
	if env.scim.Patches() != 0 || env.scim.Searches() != 0 {
		t.Fatal("adapter called without an audit entry")
	}
	r := expect(t, respond.StateRequested)(eng.Get(ctx, tg.Incident))
	if r.Attempts != 0 {
		t.Fatalf("attempts = %d after a released claim", r.Attempts)
	}
	fa.mu.Lock()
	fa.action = ""
	fa.mu.Unlock()
	if n, err := eng.ProcessDue(ctx); n != 1 || err != nil {
		t.Fatalf("ProcessDue after the audit store is back: %d calls, %v", n, err)
	}
	expect(t, respond.StateDone)(eng.Get(ctx, tg.Incident))
}

func TestOutcomeRecordedAfterCallerGaveUp(t *testing.T) {
	ctx := ctxT(t)
	env := newEnv(t, "ola@school.no")
	eng := env.engine(nil)
	tg := target("school.no", "ola@school.no", "INC-slow")
	release := env.scim.Hold()
	short, cancel := context.WithTimeout(ctx, 300*time.Millisecond)
	defer cancel()
	// The caller's deadline ends during the call: the attempt counts as transient and is
	// recorded as retrying, not left in_progress for the lease to expire.
	r := expect(t, respond.StateRetrying)(eng.Request(short, tg, "", "notify"))
	release()
	if r.Attempts != 1 || r.Owner != "" {
		t.Fatalf("after the timed-out call: %+v", r)
	}
	env.clock.Advance(r.NextAttempt.Sub(env.clock.Now()))
	if n, err := eng.ProcessDue(ctx); n != 1 || err != nil {
		t.Fatalf("retry: %d calls, %v", n, err)
	}
	expect(t, respond.StateDone)(eng.Get(ctx, tg.Incident))
	if active, _ := env.scim.Active("ola@school.no"); active {
		t.Fatal("still active")
	}
}
