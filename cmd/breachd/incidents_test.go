package main

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"breachd/bus"
	"breachd/event"
	"breachd/notify"
)

// shownIncident is what `incidents show --format json` prints.
type shownIncident struct {
	event.Incident
	NextStates   []string `json:"next_states"`
	MissingSteps []string `json:"missing_steps"`
}

// TestIncidents works one demo incident through the procedure with the real binary, as an
// operator would: list, show, ack, transitions, comments, evidence, report, register,
// deactivation and reactivation. The subtests share one data directory and run in order.
func TestIncidents(t *testing.T) {
	data := filepath.Join(t.TempDir(), "data")
	// The commands talk to a running instance (through its endpoint file) until "stop"; after
	// it they start the engines on the data directory themselves.
	stop := startDemo(t, data)
	// inc runs `breachd incidents ARGS --data DATA --as tester`.
	inc := func(t *testing.T, args ...string) (string, string, int) {
		t.Helper()
		return breachd(t, nil, append(append([]string{"incidents"}, args...), "--data", data)...)
	}
	as := []string{"--as", "tester"}
	show := func(t *testing.T, id string) shownIncident {
		t.Helper()
		out, errs, code := inc(t, "show", id, "--format", "json")
		var s shownIncident
		if code != 0 {
			t.Fatalf("show: exit %d: %s", code, errs)
		}
		if err := json.Unmarshal([]byte(out), &s); err != nil {
			t.Fatalf("show --format json: %v\n%s", err, out)
		}
		return s
	}
	mustOK := func(t *testing.T, want string, args ...string) string {
		t.Helper()
		out, errs, code := inc(t, append(args, as...)...)
		if code != 0 || !strings.Contains(out, want) {
			t.Fatalf("incidents %v: exit %d, want output containing %q\nstdout:\n%s\nstderr:\n%s", args, code, want, out, errs)
		}
		return out
	}
	mustFail := func(t *testing.T, code int, want string, args ...string) {
		t.Helper()
		out, errs, got := inc(t, append(args, as...)...)
		if got != code || !strings.Contains(errs, want) {
			t.Errorf("incidents %v: exit %d, want %d with %q\nstdout:\n%s\nstderr:\n%s", args, got, code, want, out, errs)
		}
	}

	var id string
	var all []string
	t.Run("list", func(t *testing.T) {
		out, errs, code := inc(t, "list", "--format", "json")
		var rows []map[string]any
		if code != 0 || json.Unmarshal([]byte(out), &rows) != nil {
			t.Fatalf("list: exit %d\n%s\n%s", code, out, errs)
		}
		if len(rows) != 5 {
			t.Fatalf("list: %d incidents, want the demo's 5", len(rows))
		}
		for _, r := range rows {
			all = append(all, r["id"].(string))
			if r["state"] != event.StateDetected || !strings.Contains(r["due"].(string), "left") {
				t.Errorf("fresh incident %v: state %v due %v", r["id"], r["state"], r["due"])
			}
			if strings.Contains(r["summary"].(string), "exported") { // has access rows: the richest report
				id = r["id"].(string)
			}
		}
		if id == "" {
			t.Fatalf("no demo incident about an export:\n%s", out)
		}
		if out, _, code := inc(t, "list", "--state", "closed"); code != 0 || !strings.Contains(out, "(0 rows)") {
			t.Errorf("list --state closed: exit %d\n%s", code, out)
		}
	})
	if id == "" {
		t.FailNow()
	}

	// Steps 3 and 4 are done by the evidence the pipeline collected on opening.
	t.Run("show", func(t *testing.T) {
		s := show(t, id)
		if s.ID != id || s.State != event.StateDetected || !s.Deadline.Equal(s.Aware.Add(event.ReportWindow)) ||
			!slices.Contains(s.NextStates, event.StateContained) || len(s.MissingSteps) != 6 || len(s.Timeline) == 0 {
			t.Errorf("show: %+v", s)
		}
		out, _, _ := inc(t, "show", id)
		for _, want := range []string{"[ ] 1 deactivate the account", "[ ] 8 measures against recurrence", "Timeline:", "left)"} {
			if !strings.Contains(out, want) {
				t.Errorf("show lacks %q:\n%s", want, out)
			}
		}
		if _, errs, code := inc(t, "show", "INC-20000101-00000000"); code != 1 || !strings.Contains(errs, "incident not found") {
			t.Errorf("show of an unknown incident: exit %d %s", code, errs)
		}
	})

	aware := time.Now().Add(-time.Hour).UTC().Truncate(time.Second)
	t.Run("ack", func(t *testing.T) {
		mustOK(t, "is detected", "ack", id, "--aware-at", aware.Format(time.RFC3339), "--comment", "phone call from the school")
		s := show(t, id)
		if !s.Aware.Equal(aware) || !s.Deadline.Equal(aware.Add(event.ReportWindow)) {
			t.Errorf("after ack: aware %v deadline %v, want %v and +72h", s.Aware, s.Deadline, aware)
		}
		mustFail(t, 1, "in the future", "ack", id, "--aware-at", time.Now().Add(time.Hour).Format(time.RFC3339))
		if _, errs, code := inc(t, "ack", id, "--as", ""); code != 2 || !strings.Contains(errs, "--as is required") {
			t.Errorf("ack without --as: exit %d %s", code, errs)
		}
	})

	t.Run("transition", func(t *testing.T) {
		mustFail(t, 1, "from there: contained, investigating, reported, not_reportable, closed", "transition", id, "remediated")
		mustFail(t, 1, "not_reportable needs the reason", "transition", id, event.StateNotReportable)
		mustFail(t, 1, "unknown state", "transition", id, "solved", "--comment", "x")
		mustOK(t, "is investigating", "transition", id, event.StateInvestigating, "--comment", "scoping")
		if s := show(t, id); s.State != event.StateInvestigating || s.Timeline[len(s.Timeline)-1].Actor != "tester" {
			t.Errorf("after transition: %s, last entry %+v", s.State, s.Timeline[len(s.Timeline)-1])
		}
	})

	t.Run("comment", func(t *testing.T) {
		mustOK(t, "step 2 done", "comment", id, "--step", "2", "DPO told by phone")
		if st, ok := show(t, id).Steps[2]; !ok || st.Actor != "tester" || !strings.Contains(st.Note, "DPO told") {
			t.Errorf("step 2: %+v %v", st, ok)
		}
		mustFail(t, 1, "steps 1 to 8", "comment", id, "--step", "9", "x")
	})

	t.Run("evidence", func(t *testing.T) {
		before := len(show(t, id).Evidence) // the running pipeline collected some on opening
		out := mustOK(t, "access", "evidence", id, "--refresh", "--format", "json")
		var rows []struct {
			ID       string `json:"id"`
			Kind     string `json:"kind"`
			Rows     int    `json:"rows"`
			SHA256   string `json:"sha256"`
			Verified bool   `json:"verified"`
			Query    string `json:"query"`
		}
		if err := json.Unmarshal([]byte(out), &rows); err != nil {
			t.Fatalf("evidence json: %v\n%s", err, out)
		}
		kinds := map[string]bool{}
		for _, r := range rows {
			kinds[r.Kind] = true
			if r.Rows == 0 || !r.Verified || len(r.SHA256) != 64 || !strings.Contains(r.Query, "SELECT") {
				t.Errorf("snapshot %+v: want rows, a verified hash and its query", r)
			}
		}
		if len(rows) != before+2 || !kinds["logins"] || !kinds["access"] {
			t.Errorf("snapshots: %+v", rows)
		}
		if s := show(t, id); len(s.Evidence) != before+2 || s.Steps[4].At.IsZero() {
			t.Errorf("incident evidence refs %+v, step 4 %+v", s.Evidence, s.Steps[4])
		}
	})

	t.Run("report", func(t *testing.T) {
		dir := t.TempDir()
		out := mustOK(t, "DRAFT", "report", id, "-o", dir, "--dpo", "Kari Personvern, dpo@bergen.kommune.no",
			"--art34", "notify", "--art34-reason", "special category data of children", "--reference", "26/00042")
		md, err := os.ReadFile(filepath.Join(dir, id+"-art33.md"))
		if err != nil {
			t.Fatalf("markdown not written: %v\n%s", err, out)
		}
		for _, h := range notify.ReportHeadings {
			if !strings.Contains(string(md), "\n## "+h+"\n") {
				t.Errorf("Markdown lacks section %q", h)
			}
		}
		js, err := os.ReadFile(filepath.Join(dir, id+"-art33.json"))
		if err != nil {
			t.Fatal(err)
		}
		var r notify.Report
		var fields map[string]any
		if err := json.Unmarshal(js, &r); err != nil || json.Unmarshal(js, &fields) != nil {
			t.Fatalf("report json: %v", err)
		}
		for _, f := range []string{"incident", "controller", "dpo_contact", "what_happened", "period", "discovery", "data_categories",
			"people_categories", "approximate_numbers", "services", "likely_consequences", "measures", "art34", "phased_reporting", "evidence"} {
			if v := fields[f]; v == nil || v == "" || v == false {
				t.Errorf("report field %s empty: %v", f, v)
			}
		}
		if r.Controller == "" || r.DPO != "Kari Personvern, dpo@bergen.kommune.no" || r.Art34.Decision != "notify" || r.Reference != "26/00042" ||
			!r.Numbers.Known || r.Numbers.People == 0 || r.Numbers.Records == 0 || !r.People.Determined || len(r.Services) == 0 ||
			len(r.Evidence) < 2 || slices.ContainsFunc(r.Evidence, func(e notify.EvidenceItem) bool { return !e.Verified }) || r.Discovery.Status != "pending" || !r.Discovery.Aware.Equal(aware) {
			t.Errorf("report: %+v", r)
		}
		var counted uint64
		for _, c := range r.People.Categories {
			counted += c.People
		}
		if counted != r.Numbers.People {
			t.Errorf("people categories count %d people, the evidence %d", counted, r.Numbers.People)
		}
		if !r.Draft || !slices.ContainsFunc(r.Missing, func(m string) bool { return strings.Contains(m, "--consequences") }) {
			t.Errorf("report without consequences is not a draft asking for them: %v", r.Missing)
		}
		if s := show(t, id); s.Report.Art34 != "notify" || s.Report.DPO == "" {
			t.Errorf("report fields not stored: %+v", s.Report)
		}
		mustFail(t, 1, "needs its reason", "report", id, "-o", dir, "--art34", "notify")

		// In Norwegian: the same notice under its own name, every section in bokmål.
		mustOK(t, "art33.nb.md", "report", id, "-o", dir, "--lang", "nb")
		nb, err := os.ReadFile(filepath.Join(dir, id+"-art33.nb.md"))
		if err != nil {
			t.Fatalf("Norwegian markdown not written: %v", err)
		}
		for _, h := range notify.ReportHeadingsIn("nb") {
			if !strings.Contains(string(nb), "\n## "+h+"\n") {
				t.Errorf("Norwegian Markdown lacks section %q", h)
			}
		}
		if !strings.Contains(string(nb), "Personvernombud: Kari Personvern") {
			t.Errorf("Norwegian Markdown lacks the DPO:\n%s", nb)
		}
		mustFail(t, 2, `--lang "de": want en or nb`, "report", id, "-o", dir, "--lang", "de")
	})

	t.Run("register", func(t *testing.T) {
		out, errs, code := inc(t, "register", "--format", "json")
		var rows []map[string]any
		if code != 0 || json.Unmarshal([]byte(out), &rows) != nil {
			t.Fatalf("register: exit %d\n%s\n%s", code, out, errs)
		}
		seen := map[string]int{}
		for _, r := range rows {
			rid := r["id"].(string)
			seen[rid]++
			want := event.StateDetected
			if rid == id {
				want = event.StateInvestigating
			}
			if r["state"] != want || r["reported"] != notify.RegPending {
				t.Errorf("register row %s: state %v reported %v; want %s pending", rid, r["state"], r["reported"], want)
			}
		}
		for _, x := range all {
			if seen[x] != 1 {
				t.Errorf("incident %s is %d times in the register", x, seen[x])
			}
		}
		if len(rows) != len(all) {
			t.Errorf("register has %d rows, want %d", len(rows), len(all))
		}
		if out, _, code := inc(t, "register", "--from", "2000-01-01", "--to", "2000-01-02", "--format", "csv"); code != 0 || strings.Count(out, "\n") != 1 {
			t.Errorf("register for an empty period: exit %d\n%s", code, out)
		}
	})

	t.Run("deactivation", func(t *testing.T) {
		mustFail(t, 1, "no deactivation request", "reactivate", id)
		mustOK(t, "done via dryrun: would deactivate the account; a dry run, nothing was changed", "deactivate", id, "--comment", "admin export at night")
		mustFail(t, 1, "is done, not awaiting approval", "approve", id, "--comment", "ok")
		mustFail(t, 1, "the deactivation request is done: only one that is awaiting_approval, requested, retrying can be cancelled", "cancel", id, "--comment", "stop")
		mustFail(t, 1, "5 report to Datatilsynet", "reactivate", id)
		mustFail(t, 2, "--force needs --reason", "reactivate", id, "--force")
		mustOK(t, "reactivated via dryrun: would reactivate", "reactivate", id, "--force", "--reason", "false positive: approved export")
		s := show(t, id)
		// A dry run changes no account, so step 1 (deactivate) is not recorded by it.
		if s.Deactivation != "reactivated" || s.Steps[7].Actor != "tester" || !s.Steps[1].At.IsZero() {
			t.Errorf("after reactivation: deactivation %q, step 7 %+v, step 1 %+v (want none after a dry run)", s.Deactivation, s.Steps[7], s.Steps[1])
		}
		out, errs, code := breachd(t, nil, "history", "sql", "--data", data, "--format", "csv",
			"SELECT actor, action, target, splitByChar(' ', detail)[-1] FROM audit WHERE action = 'respond.reactivate' ORDER BY time")
		want := "tester,respond.reactivate," + s.Account + ",result=refused\n" +
			"tester,respond.reactivate," + s.Account + ",result=started\n" +
			"tester,respond.reactivate," + s.Account + ",result=ok\n"
		if code != 0 || !strings.HasSuffix(out, want) {
			t.Errorf("reactivation audit: exit %d\n%s\nwant suffix\n%s\n%s", code, out, want, errs)
		}
		// The dry run is audited as what it would have done, never as a deactivation.
		out, errs, code = breachd(t, nil, "history", "sql", "--data", data, "--format", "csv",
			"SELECT action, count() FROM audit WHERE action IN ('respond.deactivated', 'respond.would_deactivate') GROUP BY action ORDER BY action")
		if code != 0 || !strings.Contains(out, "respond.would_deactivate,") || strings.Contains(out, "respond.deactivated") {
			t.Errorf("dry-run audit: exit %d\n%s\nwant respond.would_deactivate rows and no respond.deactivated\n%s", code, out, errs)
		}
	})

	stop()
	// Every change was mirrored to the history and published on the INCIDENTS stream.
	t.Run("published", func(t *testing.T) {
		s := show(t, id)
		out, errs, code := breachd(t, nil, "history", "sql", "--data", data, "--format", "tsv",
			"SELECT max(version) AS v FROM incidents WHERE id = '"+id+"'")
		if want := "v\n" + itoa64(s.Version) + "\n"; code != 0 || out != want {
			t.Errorf("history mirror: %q, want %q %s", out, want, errs)
		}
		srv, err := bus.StartEmbedded(bus.EmbeddedOptions{StoreDir: filepath.Join(data, "nats"), NoAuth: true})
		if err != nil {
			t.Fatal(err)
		}
		defer srv.Shutdown()
		nc, js, err := bus.Connect(srv.ClientURL(), "test", slog.New(slog.DiscardHandler))
		if err != nil {
			t.Fatal(err)
		}
		defer nc.Close()
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		st, err := js.Stream(ctx, bus.StreamIncidents)
		if err != nil {
			t.Fatal(err)
		}
		msg, err := st.GetLastMsgForSubject(ctx, bus.SubjectIncidents+".updated")
		if err != nil {
			t.Fatal(err)
		}
		var got event.Incident
		if err := json.Unmarshal(msg.Data, &got); err != nil || got.ID != id || got.Version != s.Version ||
			msg.Header.Get(bus.HeaderMsgID) != id+"-v"+itoa64(s.Version) {
			t.Errorf("last change published: %s v%d, msg id %q (err %v); want %s v%d", got.ID, got.Version, msg.Header.Get(bus.HeaderMsgID), err, id, s.Version)
		}
		// Each change the tester made is on the stream once, with its kind and actor.
		info, err := st.Info(ctx)
		if err != nil {
			t.Fatal(err)
		}
		byTester := map[string]int{}
		for seq := info.State.FirstSeq; seq <= info.State.LastSeq; seq++ {
			m, err := st.GetMsg(ctx, seq)
			if err != nil {
				t.Fatal(err)
			}
			if strings.HasPrefix(m.Header.Get(bus.HeaderMsgID), id+"-v") && m.Header.Get(notify.HeaderActor) == "tester" {
				byTester[m.Header.Get(notify.HeaderChange)]++
			}
		}
		for _, kind := range []string{notify.ChangeAck, notify.ChangeTransition, notify.ChangeReport} {
			if byTester[kind] != 1 {
				t.Errorf("%s changes by tester on INCIDENTS: %d, want 1 (all: %v)", kind, byTester[kind], byTester)
			}
		}
		if byTester[notify.ChangeComment] < 2 { // the step 2 comment and the reactivation's step 7
			t.Errorf("comments by tester on INCIDENTS: %v", byTester)
		}
	})
}

// syncBuffer is a bytes.Buffer safe to read while a process writes to it.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// startDemo runs `breachd run --demo` on data until its input is processed and returns the
// function that stops it with SIGINT and checks that it exited cleanly.
func startDemo(t *testing.T, data string) (stop func()) {
	t.Helper()
	_, out, _, stop := startRun(t, "Input processed", 2*time.Minute, "run", "--demo", "--data", data, "--metrics-addr", "")
	if n := strings.Count(out.String(), " opened "); n != 5 {
		t.Fatalf("demo opened %d incidents, want 5", n)
	}
	return stop
}

// startRun starts breachd with args and waits at most wait until its stdout shows ready. It
// returns the process, its stdout and stderr, and the function that stops it with SIGINT and
// checks that it exited cleanly; cleanup calls that too.
func startRun(t *testing.T, ready string, wait time.Duration, args ...string) (*exec.Cmd, *syncBuffer, *syncBuffer, func()) {
	t.Helper()
	cmd := exec.Command(binary, args...)
	// Its own session: were a statement such as SYSTEM SHUTDOWN to get through to the engine,
	// chDB would signal the whole process group, the test runner included.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	out, errb := &syncBuffer{}, &syncBuffer{}
	cmd.Stdout, cmd.Stderr = out, errb
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	stopped := false
	stop := func() {
		if stopped {
			return
		}
		stopped = true
		_ = cmd.Process.Signal(os.Interrupt)
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("breachd %s: %v\n%s", args[0], err, errb.String())
			}
		case <-time.After(2 * time.Minute):
			_ = cmd.Process.Kill()
			t.Errorf("breachd %s did not stop after SIGINT\n%s", args[0], errb.String())
		}
	}
	t.Cleanup(stop)
	deadline := time.Now().Add(wait)
	for !strings.Contains(out.String(), ready) {
		select {
		case err := <-done:
			stopped = true
			t.Fatalf("breachd %v exited early: %v\n%s\n%s", args, err, out.String(), errb.String())
		case <-time.After(50 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatalf("breachd %v did not print %q in %s\n%s", args, ready, wait, errb.String())
		}
	}
	return cmd, out, errb, stop
}

func itoa64(n int64) string { return strconv.FormatInt(n, 10) }

func TestIncidentsUsage(t *testing.T) {
	data := filepath.Join(t.TempDir(), "data")
	cases := []struct {
		args []string
		code int
		want string
	}{
		{[]string{"incidents"}, 2, "usage: breachd incidents list|show"},
		{[]string{"incidents", "frob"}, 2, `unknown subcommand "frob"`},
		{[]string{"incidents", "--help"}, 0, "the breach register"},
		{[]string{"incidents", "report", "--help"}, 0, "Usage: breachd incidents report ID"},
		{[]string{"incidents", "list", "--format", "xml", "--data", data}, 2, `"--format" flag: "xml"`},
		{[]string{"incidents", "show", "--format", "csv", "--data", data}, 2, `"--format" flag: "csv"`},
		{[]string{"incidents", "transition", "INC-1", "--data", data, "--as", "x"}, 2, "usage: breachd incidents transition ID STATE"},
		{[]string{"incidents", "cancel", "INC-1", "--data", data, "--as", "x"}, 2, "incidents cancel: --comment is required"},
		{[]string{"incidents", "deactivate", "INC-1", "--respond", filepath.Join(data, "no-such-respond.yaml"), "--data", data, "--as", "x"}, 1, "no-such-respond.yaml"},
	}
	for _, c := range cases {
		out, errs, code := breachd(t, nil, c.args...)
		if code != c.code || !strings.Contains(out+errs, c.want) {
			t.Errorf("breachd %v: exit %d, output %q; want exit %d containing %q", c.args, code, out+errs, c.code, c.want)
		}
	}
}
