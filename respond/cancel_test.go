package respond_test

import (
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"breachd/respond"
)

// TestCancel: a request awaiting approval, requested or retrying is cancelled (audited, final:
// no engine calls the adapter for it again, approval is refused); one in progress, done or
// already cancelled is not, nor one that does not exist.
func TestCancel(t *testing.T) {
	ctx := ctxT(t)
	env := newEnv(t, "a@one.no", "b@one.no", "c@three.no", "d@four.no", "e@five.no")
	fa := &failingAuditor{Auditor: respond.NewJSONAuditor(env.audit)}
	eng := env.engine(func(o *respond.Options) { o.Auditor, o.Policy.MaxPerHour = fa, 1 })

	done := expect(t, respond.StateDone)(eng.Request(ctx, target("one.no", "a@one.no", "INC-1"), "", "notify"))
	expect(t, respond.StateAwaitingApproval)(eng.Request(ctx, target("one.no", "b@one.no", "INC-2"), "", "notify"))
	fa.mu.Lock()
	fa.action = respond.AuditAttempt // the engine releases its claim: the request stays requested
	fa.mu.Unlock()
	if _, err := eng.Request(ctx, target("three.no", "c@three.no", "INC-3"), "", "notify"); err == nil {
		t.Fatal("no error with the attempt's audit failing")
	}
	expect(t, respond.StateRequested)(eng.Get(ctx, "INC-3"))
	fa.mu.Lock()
	fa.action = ""
	fa.mu.Unlock()
	env.scim.FailPatches(1, 503, "")
	expect(t, respond.StateRetrying)(eng.Request(ctx, target("four.no", "d@four.no", "INC-4"), "", "notify"))
	patches := env.scim.Patches()

	if _, err := eng.Cancel(ctx, "INC-2", "soc-lead", " "); err == nil {
		t.Error("a cancellation without a reason")
	}
	for _, inc := range []string{"INC-2", "INC-3", "INC-4"} {
		r := expect(t, respond.StateCancelled)(eng.Cancel(ctx, inc, "soc-lead", "false positive: a planned test"))
		if r.Cancellation == nil || r.Cancellation.By != "soc-lead" || r.Cancellation.Comment != "false positive: a planned test" {
			t.Errorf("%s: cancellation %+v", inc, r.Cancellation)
		}
		expect(t, respond.StateCancelled)(eng.Get(ctx, inc))
	}
	env.clock.Advance(2 * time.Hour)
	if n, err := eng.ProcessDue(ctx); n != 0 || err != nil {
		t.Errorf("ProcessDue after the cancellations: %d calls, %v", n, err)
	}
	if _, err := eng.Approve(ctx, "INC-2", "soc-lead", "go"); !errors.Is(err, respond.ErrState) {
		t.Errorf("approve a cancelled request: %v", err)
	}
	if env.scim.Patches() != patches {
		t.Errorf("adapter called for a cancelled request: %d patches, want %d", env.scim.Patches(), patches)
	}
	for inc, state := range map[string]string{"INC-1": done.State, "INC-2": respond.StateCancelled} {
		r, err := eng.Cancel(ctx, inc, "soc-lead", "again")
		if !errors.Is(err, respond.ErrState) || r == nil || r.State != state {
			t.Errorf("cancel %s (%s): %+v, %v; want ErrState with the request", inc, state, r, err)
		}
	}
	if _, err := eng.Cancel(ctx, "INC-none", "soc-lead", "x"); !errors.Is(err, respond.ErrNotFound) {
		t.Errorf("cancel of no request: %v", err)
	}

	// In progress: the adapter holds the call; cancelling is refused, the call completes.
	release := env.scim.Hold()
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		_, _ = eng.Request(ctx, target("five.no", "e@five.no", "INC-5"), "", "notify")
	}()
	for {
		if r, err := eng.Get(ctx, "INC-5"); err == nil && r.State == respond.StateInProgress {
			break
		}
		time.Sleep(5 * time.Millisecond)
	}
	if r, err := eng.Cancel(ctx, "INC-5", "soc-lead", "stop"); !errors.Is(err, respond.ErrState) || r.State != respond.StateInProgress {
		t.Errorf("cancel in progress: %+v, %v", r, err)
	}
	release()
	wg.Wait()
	expect(t, respond.StateDone)(eng.Get(ctx, "INC-5"))

	var cancels []respond.Entry
	for _, e := range env.audit.entries(t) {
		if e.Action == respond.AuditCancel {
			cancels = append(cancels, e)
		}
	}
	if len(cancels) != 3 {
		t.Fatalf("%d cancel audit entries, want 3: %+v", len(cancels), cancels)
	}
	for _, e := range cancels {
		if e.Actor != "soc-lead" || e.Result != respond.StateCancelled || !strings.Contains(e.Detail, "false positive: a planned test") || e.Account == "" {
			t.Errorf("cancel audit entry %+v", e)
		}
	}
}

// TestCancelRacesEngine: cancellations race an engine taking the same due requests (the
// engine is first held in its call on one of them, so at least that one is refused). Each
// request ends one way: cancelled with no second adapter call, or taken by the engine (the
// cancellation refused with ErrState) and done.
func TestCancelRacesEngine(t *testing.T) {
	ctx := ctxT(t)
	const n = 12
	var users []string
	for i := range n {
		users = append(users, fmt.Sprintf("u%d@race.no", i))
	}
	env := newEnv(t, users...)
	worker := env.engine(func(o *respond.Options) { o.Policy.MaxPerHour = 100 })
	desk := env.engine(func(o *respond.Options) { o.Policy.MaxPerHour = 100 })
	env.scim.FailPatches(n, 503, "")
	for i, u := range users {
		expect(t, respond.StateRetrying)(worker.Request(ctx, target("race.no", u, fmt.Sprintf("INC-%d", i)), "", "notify"))
	}
	env.clock.Advance(time.Hour) // every one is due
	errs := make([]error, n)
	release := env.scim.Hold()
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		if _, err := worker.ProcessDue(ctx); err != nil {
			t.Error(err)
		}
	}()
	for taken := false; !taken; time.Sleep(5 * time.Millisecond) {
		for i := range n {
			if r, err := worker.Get(ctx, fmt.Sprintf("INC-%d", i)); err == nil && r.State == respond.StateInProgress {
				taken = true
			}
		}
	}
	wg.Add(1)
	go func() { defer wg.Done(); release() }()
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, errs[i] = desk.Cancel(ctx, fmt.Sprintf("INC-%d", i), "soc-lead", "race")
		}()
	}
	wg.Wait()
	cancelled := 0
	for i := range n {
		r, err := worker.Get(ctx, fmt.Sprintf("INC-%d", i))
		if err != nil {
			t.Fatal(err)
		}
		switch {
		case errs[i] == nil && r.State == respond.StateCancelled && r.Attempts == 1:
			cancelled++
		case errors.Is(errs[i], respond.ErrState) && r.State == respond.StateDone && r.Attempts == 2:
		default:
			t.Errorf("INC-%d: cancel %v, request %s after %d attempts", i, errs[i], r.State, r.Attempts)
		}
	}
	if cancelled == n {
		t.Error("every request was cancelled, also the one the engine held")
	}
	if got, want := env.scim.Patches(), n+(n-cancelled); got != want {
		t.Errorf("%d adapter calls, want %d (%d failed first, %d taken by the engine)", got, want, n, n-cancelled)
	}
	t.Logf("%d of %d cancelled before the engine took them", cancelled, n)
}
