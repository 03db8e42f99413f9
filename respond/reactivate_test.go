package respond_test

import (
	"errors"
	"strings"
	"testing"

	"breachd/respond"
)

func TestReactivation(t *testing.T) {
	ctx := ctxT(t)
	env := newEnv(t, "ola@school.no", "kari@school.no", "per@school.no")
	eng := env.engine(func(o *respond.Options) { o.Policy.MaxPerHour = 2 })
	tg := target("school.no", "ola@school.no", "INC-r")
	expect(t, respond.StateDone)(eng.Request(ctx, tg, "", "notify"))

	tests := []struct {
		name string
		opts respond.ReactivateOptions
		want error
	}{
		{"steps open", respond.ReactivateOptions{Actor: "soc-anne", MissingSteps: []string{"3", "5"}, Reason: "looks fine"}, respond.ErrStepsOpen},
		{"force without reason", respond.ReactivateOptions{Actor: "soc-anne", MissingSteps: []string{"3"}, Force: true}, respond.ErrStepsOpen},
	}
	for _, tc := range tests {
		r, err := eng.Reactivate(ctx, tg.Incident, tc.opts)
		if !errors.Is(err, tc.want) {
			t.Fatalf("%s: err = %v, want %v", tc.name, err, tc.want)
		}
		if r == nil || r.State != respond.StateDone {
			t.Fatalf("%s: request changed: %+v", tc.name, r)
		}
		if active, _ := env.scim.Active("ola@school.no"); active {
			t.Fatalf("%s: account reactivated", tc.name)
		}
	}
	if _, err := eng.Reactivate(ctx, tg.Incident, respond.ReactivateOptions{}); err == nil {
		t.Fatal("reactivation without an actor accepted")
	}
	// Forced with a reason: allowed, recorded, audited.
	r := expect(t, respond.StateReactivated)(eng.Reactivate(ctx, tg.Incident, respond.ReactivateOptions{
		Actor: "soc-anne", MissingSteps: []string{"5"}, Force: true, Reason: "Datatilsynet report filed on paper"}))
	if r.Reactivation == nil || !r.Reactivation.Forced || r.Reactivation.By != "soc-anne" || len(r.Reactivation.MissingSteps) != 1 {
		t.Fatalf("reactivation record: %+v", r.Reactivation)
	}
	if active, _ := env.scim.Active("ola@school.no"); !active {
		t.Fatal("account not active after reactivation")
	}
	// Twice is refused: the request is no longer done.
	if _, err := eng.Reactivate(ctx, tg.Incident, respond.ReactivateOptions{Actor: "soc-anne"}); !errors.Is(err, respond.ErrState) {
		t.Fatalf("second reactivation: %v", err)
	}
	// All steps done: no force needed.
	tg2 := target("school.no", "kari@school.no", "INC-r2")
	expect(t, respond.StateDone)(eng.Request(ctx, tg2, "", "notify"))
	expect(t, respond.StateReactivated)(eng.Reactivate(ctx, tg2.Incident, respond.ReactivateOptions{Actor: "soc-bo", Reason: "checklist complete"}))
	// A request that never deactivated anything cannot be reactivated; nor can a missing one.
	tg3 := target("school.no", "per@school.no", "INC-r3")
	expect(t, respond.StateAwaitingApproval)(eng.Request(ctx, tg3, "", "notify"))
	if _, err := eng.Reactivate(ctx, tg3.Incident, respond.ReactivateOptions{Actor: "soc-bo"}); !errors.Is(err, respond.ErrState) {
		t.Fatalf("reactivate a held request: %v", err)
	}
	if _, err := eng.Reactivate(ctx, "INC-none", respond.ReactivateOptions{Actor: "soc-bo"}); !errors.Is(err, respond.ErrNotFound) {
		t.Fatalf("reactivate unknown incident: %v", err)
	}

	var refused, started, ok int
	for _, e := range env.audit.entries(t) {
		if e.Action != respond.AuditReactivate {
			continue
		}
		switch e.Result {
		case "refused":
			refused++
		case "started":
			started++
			if e.Incident == tg.Incident && !strings.Contains(e.Detail, "forced over open steps 5") {
				t.Fatalf("forced reactivation audited without the override: %+v", e)
			}
		case respond.ResultOK:
			ok++
		}
	}
	if refused != 4 || started != 2 || ok != 2 {
		t.Fatalf("reactivation audit: refused %d, started %d, ok %d; want 4, 2, 2", refused, started, ok)
	}
}

func TestReactivationFailureKeepsDone(t *testing.T) {
	ctx := ctxT(t)
	env := newEnv(t, "ola@school.no")
	eng := env.engine(nil)
	tg := target("school.no", "ola@school.no", "INC-f")
	expect(t, respond.StateDone)(eng.Request(ctx, tg, "", "notify"))
	env.scim.FailPatches(1, 503, "")
	r, err := eng.Reactivate(ctx, tg.Incident, respond.ReactivateOptions{Actor: "soc-anne", Reason: "done"})
	if err == nil || r == nil || r.State != respond.StateDone || !strings.Contains(r.LastError, "reactivation failed") {
		t.Fatalf("failed reactivation: %+v, %v", r, err)
	}
	expect(t, respond.StateReactivated)(eng.Reactivate(ctx, tg.Incident, respond.ReactivateOptions{Actor: "soc-anne", Reason: "done"}))
	if active, _ := env.scim.Active("ola@school.no"); !active {
		t.Fatal("not active")
	}
}
