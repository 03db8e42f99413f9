package deploy

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"breachd/event"
	"breachd/history"
	"breachd/notify"
	"breachd/output"
	"breachd/respond"
)

// TestRunProcessThenDesk runs a process as `breachd run FILE --exit-when-done` does
// (RunProcess: banner, inputs, pipeline, summary), then works one of its incidents through the
// desk people's commands and the API use (Attach, Attached.Desk) on the data directory it left:
// listing, acknowledgement, evidence collected and verified, the Art. 33 draft written, and the
// dry-run deactivation requested, refused for approval and for reactivation while steps are
// open, then reactivated by force, each state mirrored into the incident.
func TestRunProcessThenDesk(t *testing.T) {
	dir := t.TempDir()
	path, _, gen := writeSimulation(t, dir)
	data := filepath.Join(dir, "data")
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	var console bytes.Buffer
	err := RunProcess(ctx, ProcessConfig{Infra: InfraConfig{DataDir: data, Logger: testLogger(t)}, Inputs: &SourceConfig{Files: []string{path}},
		Banner: &console, Pipeline: PipelineConfig{ExitWhenDone: true, Logger: testLogger(t)}})
	if err != nil {
		t.Fatalf("RunProcess: %v", err)
	}
	if out := console.String(); !strings.Contains(out, "breachd is running. Where to look:") || !strings.Contains(out, "Input processed. History holds") ||
		strings.Contains(out, "Still running") {
		t.Errorf("banner and summary:\n%s", out)
	}

	a, err := Attach(ctx, AttachConfig{InfraConfig: InfraConfig{DataDir: data, Logger: testLogger(t)}, NATS: NATSOperator, History: true})
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	d, err := a.Desk(ctx, "")
	if err != nil {
		t.Fatal(err)
	}
	open, err := d.List(ctx, notify.ListRequest{})
	if err != nil || len(open.Rows) == 0 || len(open.Rows) > len(gen.Breaches()) {
		t.Fatalf("open incidents: %v, %v (breaches injected: %d)", open, err, len(gen.Breaches()))
	}
	id := open.Rows[0][0].(string)
	if _, err := d.Ack(ctx, id, time.Now().Add(-time.Minute), notify.Edit{Actor: "tester"}); err != nil {
		t.Fatal(err)
	}

	d.Asker = history.Asker{Issuer: "breachd:local", Subject: "tess", Roles: []string{"soc"}}
	ev, err := d.Evidence(ctx, id, true, "tester")
	if err != nil || len(ev.Rows) < 2 {
		t.Fatalf("evidence: %+v, %v", ev, err)
	}
	for _, row := range ev.Rows {
		if row[7] != true || !strings.Contains(row[8].(string), "SELECT") {
			t.Errorf("evidence row not verified or without its query: %v", row)
		}
	}
	var table strings.Builder
	if err := output.Write(&table, output.Table, ev); err != nil || strings.Contains(table.String(), "SELECT") {
		t.Errorf("the evidence table shows the query: %v\n%s", err, table.String())
	}

	w, err := d.Report(ctx, notify.ReportRequest{ID: id, Dir: filepath.Join(dir, "reports"), Actor: "tester",
		Change: notify.ReportChange{DPO: "Kari Personvern, dpo@example.no"}})
	if err != nil || !w.Draft {
		t.Fatalf("report: %+v, %v", w, err)
	}
	for _, f := range []string{w.Markdown, w.JSON} {
		if b, err := os.ReadFile(f); err != nil || !strings.Contains(string(b), "Kari Personvern") {
			t.Errorf("report file %s: %v", f, err)
		}
	}

	// The lookups of the evidence and the report are audited with the desk's identity and the
	// incident's organisation; another organisation's view of the audit log does not show them.
	shown, err := d.Show(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	audit, err := a.History.AuditLog(ctx, event.Everywhere, time.Now().Add(-time.Hour), time.Now().Add(time.Hour), 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	byAction := map[string]history.AuditEntry{}
	for _, e := range audit {
		byAction[e.Action] = e
	}
	for _, action := range []string{history.AuditLogins, history.AuditAccess, "incidents.report"} {
		e := byAction[action]
		if e.Actor != "tester" || e.Issuer != "breachd:local" || e.Subject != "tess" || !slices.Equal(e.Roles, []string{"soc"}) || e.Org != shown.Org {
			t.Errorf("audit row of %s: %+v; want the desk's identity and org %s", action, e, shown.Org)
		}
	}
	if others, err := a.History.AuditLog(ctx, event.OrgScope("elsewhere.no"), time.Now().Add(-time.Hour), time.Now().Add(time.Hour), 0, 0); err != nil || len(others) != 0 {
		t.Errorf("another organisation's audit view: %+v, %v", others, err)
	}

	if _, err := d.Approve(ctx, id, "ok", "tester"); err == nil || !strings.Contains(err.Error(), "no deactivation request to approve") {
		t.Errorf("approve before a request: %v", err)
	}
	dep, err := d.Deactivate(ctx, id, "test", "tester")
	if err != nil || dep.Incident.Deactivation != notify.DeactivationDryRun || dep.Request.Incident != id {
		t.Fatalf("deactivate: %+v, %v", dep, err)
	}
	if _, err := d.Approve(ctx, id, "ok", "tester"); err == nil || !strings.Contains(err.Error(), "not awaiting approval") {
		t.Errorf("approve of a done request: %v", err)
	}
	if _, err := d.Reactivate(ctx, notify.ReactivateRequest{ID: id, Actor: "tester"}); err == nil || !strings.Contains(err.Error(), "steps not recorded done") {
		t.Errorf("reactivate with open steps: %v", err)
	}
	dep, err = d.Reactivate(ctx, notify.ReactivateRequest{ID: id, Actor: "tester", Force: true, Reason: "a test"})
	if err != nil || dep.Request.State != respond.StateReactivated {
		t.Fatalf("forced reactivation: %+v, %v", dep, err)
	}
	inc, err := d.Incidents.Get(ctx, id)
	if err != nil || inc.Steps[7].Actor != "tester" || !strings.Contains(inc.Steps[7].Note, "forced over open steps") || inc.Deactivation != respond.StateReactivated {
		t.Errorf("incident after reactivation: steps %+v, deactivation %q, %v", inc.Steps, inc.Deactivation, err)
	}
}
