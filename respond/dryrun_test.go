package respond_test

import (
	"log/slog"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"

	"breachd/respond"
)

func TestDryRunAndMetrics(t *testing.T) {
	ctx := ctxT(t)
	env := newEnv(t, "ola@school.no")
	dry := &respond.DryRun{}
	reg := prometheus.NewRegistry()
	scimEngine := env.engine(func(o *respond.Options) { o.Registerer = reg })
	eng, err := respond.New(ctx, env.bus.JS, respond.Options{
		Adapter: dry, Auditor: respond.NewJSONAuditor(env.audit), Clock: env.clock.Now, Registerer: reg,
		Logger: slog.New(slog.DiscardHandler),
	})
	if err != nil {
		t.Fatalf("second engine on one registry: %v", err)
	}
	tg := target("school.no", "ola@school.no", "INC-dry")
	r := expect(t, respond.StateDone)(eng.Request(ctx, tg, "", "notify"))
	if r.Adapter != "dryrun" {
		t.Fatalf("adapter = %q", r.Adapter)
	}
	expect(t, respond.StateReactivated)(eng.Reactivate(ctx, tg.Incident, respond.ReactivateOptions{Actor: "soc", Reason: "demo"}))
	calls := dry.Calls()
	if len(calls) != 2 || calls[0].Action != "deactivate" || calls[1].Action != "reactivate" || calls[0].Target.Account != tg.Account ||
		calls[0].Target.Request != respond.RequestID(tg.Incident) {
		t.Fatalf("dry-run calls: %+v", calls)
	}
	if env.scim.Patches() != 0 || env.scim.Searches() != 0 {
		t.Fatal("dry run touched the directory")
	}
	// Both engines count into the same collectors.
	expect(t, respond.StateDone)(scimEngine.Request(ctx, target("school.no", "ola@school.no", "INC-real"), "", "notify"))
	for _, c := range []struct {
		labels []string
		want   float64
	}{
		{[]string{"deactivate", "dryrun", "ok"}, 1},
		{[]string{"reactivate", "dryrun", "ok"}, 1},
		{[]string{"deactivate", "scim", "ok"}, 1},
	} {
		m, err := metricValue(reg, "breach_respond_adapter_calls_total", c.labels)
		if err != nil || m != c.want {
			t.Fatalf("calls%v = %v (%v), want %v", c.labels, m, err, c.want)
		}
	}
	if done, err := metricValue(reg, "breach_respond_requests_total", []string{respond.StateDone}); err != nil || done != 2 {
		t.Fatalf("requests entering done = %v (%v), want 2", done, err)
	}
}

// metricValue returns a counter; labels are given in label-name order (as Gather sorts them).
func metricValue(reg *prometheus.Registry, name string, labels []string) (float64, error) {
	mfs, err := reg.Gather()
	if err != nil {
		return 0, err
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
	next:
		for _, m := range mf.GetMetric() {
			for i, lp := range m.GetLabel() {
				if i >= len(labels) || lp.GetValue() != labels[i] {
					continue next
				}
			}
			return m.GetCounter().GetValue(), nil
		}
	}
	return 0, nil
}

// A dry run is never reported as a deactivation: its audit entries and log lines say what it
// would have done (the "extra" defect of issue 10: it was audited as respond.deactivated and
// logged as "account deactivated ... adapter=dryrun").
func TestDryRunSaysWould(t *testing.T) {
	ctx := ctxT(t)
	env := newEnv(t)
	var logs lockedBuffer
	eng, err := respond.New(ctx, env.bus.JS, respond.Options{
		Adapter: &respond.DryRun{}, Auditor: respond.NewJSONAuditor(env.audit), Clock: env.clock.Now,
		Logger: slog.New(slog.NewTextHandler(&logs, nil)),
	})
	if err != nil {
		t.Fatal(err)
	}
	tg := target("school.no", "ola@school.no", "INC-would")
	expect(t, respond.StateDone)(eng.Request(ctx, tg, "", "notify"))
	expect(t, respond.StateReactivated)(eng.Reactivate(ctx, tg.Incident, respond.ReactivateOptions{Actor: "soc", Reason: "demo"}))

	au := env.audit.entries(t)
	if n := countActions(au, respond.AuditDeactivate, ""); n != 0 {
		t.Errorf("the dry run wrote %d %s entries", n, respond.AuditDeactivate)
	}
	if n := countActions(au, respond.AuditWouldDeactivate, respond.StateDone); n != 1 {
		t.Errorf("%d %s entries, want 1: %+v", n, respond.AuditWouldDeactivate, au)
	}
	for _, e := range au {
		switch e.Action {
		case respond.AuditAttempt, respond.AuditResult:
			if !strings.HasPrefix(e.Detail, "would deactivate (dry run)") {
				t.Errorf("%s detail %q, want it to say would deactivate", e.Action, e.Detail)
			}
		case respond.AuditReactivate:
			if e.Result == respond.ResultOK && !strings.Contains(e.Detail, "would reactivate") {
				t.Errorf("reactivation detail %q, want it to say would reactivate", e.Detail)
			}
		}
	}
	logs.mu.Lock()
	text := logs.b.String()
	logs.mu.Unlock()
	if strings.Contains(text, "account deactivated") || strings.Contains(text, "account reactivated") {
		t.Errorf("the dry run logged a deactivation or reactivation:\n%s", text)
	}
	if !strings.Contains(text, "would deactivate") || !strings.Contains(text, "would reactivate") {
		t.Errorf("the dry run's log does not say what it would have done:\n%s", text)
	}
}
