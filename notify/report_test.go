package notify

import (
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"breachd/event"
	"breachd/history"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata")

var rt0 = time.Date(2026, 11, 2, 8, 0, 0, 0, time.UTC)

// reportFixture is an incident with its two evidence snapshots, as the Watcher leaves it.
func reportFixture(t *testing.T) (*event.Incident, []history.Evidence) {
	t.Helper()
	inc := &event.Incident{
		ID: "INC-20261102-0000abcd", Org: "bergen.kommune.no", Account: "kari@bergen.kommune.no",
		State: event.StateInvestigating, Severity: event.SeverityHigh,
		Opened: rt0.Add(10 * time.Minute), Aware: rt0.Add(10 * time.Minute), Deadline: rt0.Add(10*time.Minute + event.ReportWindow),
		FirstSeen: rt0, LastSeen: rt0.Add(5 * time.Minute), AlertCount: 3,
		Rules:   map[string]int64{"pupil-as-teacher": 2, "health-read": 1},
		Summary: "pupil account kari@bergen.kommune.no used teacher rights in the LMS", Version: 7,
		Steps: map[int]event.Step{
			1: {At: rt0.Add(11 * time.Minute), Actor: "notify", Note: "via dryrun"},
			4: {At: rt0.Add(12 * time.Minute), Actor: "notify"},
		},
		Deactivation: "done",
	}
	from, taken := rt0.Add(-30*24*time.Hour), rt0.Add(12*time.Minute)
	logins, err := history.NewEvidence(inc.ID, history.EvidenceLogins, inc.Account, from, taken, taken, 1, []history.LoginRow{
		{Service: "https://lms.example.no", ServiceName: "LMS", First: rt0, Last: rt0.Add(4 * time.Minute), Successes: 2, Failures: 1},
	})
	if err != nil {
		t.Fatal(err)
	}
	access, err := history.NewEvidence(inc.ID, history.EvidenceAccess, inc.Account, from, taken, taken.Add(time.Millisecond), 3, history.AccessSummary{
		Rows: []history.AccessRow{{Subject: "ola@bergen.kommune.no", Resource: "grades", Action: "view", Events: 1, Records: 3}},
		ByResource: []history.AccessTotal{
			{Resource: "grades", People: 2, Records: 43, Events: 2},
			{Resource: "health", People: 1, Records: 1, Events: 1},
		},
		Total: history.AccessTotal{People: 2, Records: 44, Events: 3},
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range []history.Evidence{logins, access} {
		inc.Evidence = append(inc.Evidence, event.EvidenceRef{ID: e.ID, Kind: e.Kind, Taken: e.Taken, From: e.From, To: e.To, Rows: e.Rows, Hash: e.SHA256})
	}
	return inc, []history.Evidence{access, logins} // out of order on purpose
}

func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.MkdirAll("testdata", 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test ./notify -run %s -update to create it)", err, t.Name())
	}
	if string(got) != string(want) {
		t.Errorf("%s differs from the golden file (go test -update rewrites it)\n got:\n%s\nwant:\n%s", path, got, want)
	}
}

func TestReportGolden(t *testing.T) {
	_, ev := reportFixture(t)
	now := rt0.Add(30 * time.Hour)
	cases := []struct {
		name   string
		change func(inc *event.Incident)
		people map[string]uint64
	}{
		{"draft", func(*event.Incident) {}, nil},
		{"complete", func(inc *event.Incident) {
			inc.State = event.StateReported
			inc.Report = event.ReportInfo{Consequences: "Grades and a health note of two pupils were seen by another pupil.",
				Measures: "Account deactivated; teacher rights removed in the HR feed.", DPO: "personvernombud@bergen.kommune.no",
				ReportedAt: rt0.Add(20 * time.Hour), Reference: "24/01234", Art34: event.Art34Notify, Art34Reason: "health data of children"}
			inc.Steps[5] = event.Step{At: rt0.Add(20 * time.Hour), Actor: "dpo"}
		}, map[string]uint64{"student": 2}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			inc, _ := reportFixture(t)
			c.change(inc)
			r, err := BuildReport(inc, ev, c.people, now)
			if err != nil {
				t.Fatal(err)
			}
			golden(t, "report-"+c.name+".md", []byte(r.Markdown()))
			nb, err := r.MarkdownIn("nb")
			if err != nil {
				t.Fatal(err)
			}
			golden(t, "report-"+c.name+".nb.md", []byte(nb))
			js, err := json.MarshalIndent(r, "", "  ")
			if err != nil {
				t.Fatal(err)
			}
			golden(t, "report-"+c.name+".json", append(js, '\n'))
		})
	}
}

// TestReportFields checks every item of the notice, for a complete and for a bare incident.
func TestReportFields(t *testing.T) {
	inc, ev := reportFixture(t)
	inc.Report = event.ReportInfo{Consequences: "c", Measures: "m", DPO: "dpo@x", Art34: event.Art34NotRequired, Art34Reason: "r"}
	now := rt0.Add(time.Hour)
	r, err := BuildReport(inc, ev, map[string]uint64{"student": 1, "": 1}, now)
	if err != nil {
		t.Fatal(err)
	}
	if r.Draft || len(r.Missing) != 0 {
		t.Errorf("complete incident is a draft: %v", r.Missing)
	}
	// Every top-level JSON field is present and non-empty.
	var m map[string]any
	b, _ := json.Marshal(r)
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{"incident", "controller", "dpo_contact", "what_happened", "period", "discovery", "data_categories",
		"special_categories", "people_categories", "approximate_numbers", "services", "likely_consequences", "measures", "art34",
		"phased_reporting", "evidence", "generated"} {
		if v, ok := m[f]; !ok || v == nil || v == "" || reflect.ValueOf(v).Kind() == reflect.Slice && reflect.ValueOf(v).Len() == 0 {
			t.Errorf("field %s missing or empty: %v", f, v)
		}
	}
	checks := []struct {
		name      string
		got, want any
	}{
		{"people", r.Numbers.People, uint64(2)},
		{"records", r.Numbers.Records, uint64(44)},
		{"special", r.Special, true},
		{"health sensitivity", r.Data[1].Sensitivity, "special (GDPR Art. 9)"},
		{"services", r.Services[0].ID, "https://lms.example.no"},
		{"deadline", r.Discovery.Status, "pending"},
		{"time left", r.Discovery.TimeLeft, "2d 23h 10m"},
		{"evidence verified", r.Evidence[0].Verified && r.Evidence[1].Verified, true},
		{"evidence order", r.Evidence[0].Kind, history.EvidenceLogins},
		{"steps", len(r.Measures.Steps), 8},
		{"step 1 done", r.Measures.Steps[0].Done, true},
		{"step 2 open", r.Measures.Steps[1].Done, false},
		{"people categories", r.People.Categories[0].Category + "," + r.People.Categories[1].Category, "people without a directory record,pupils"},
		{"art34", r.Art34.Decision, event.Art34NotRequired},
	}
	for _, c := range checks {
		if !reflect.DeepEqual(c.got, c.want) {
			t.Errorf("%s: got %v, want %v", c.name, c.got, c.want)
		}
	}
	md := r.Markdown()
	for _, h := range ReportHeadings {
		if !strings.Contains(md, "\n## "+h+"\n") {
			t.Errorf("Markdown lacks heading %q", h)
		}
	}
	if strings.Contains(md, "DRAFT") {
		t.Error("complete report carries the DRAFT banner")
	}

	// A bare incident: no evidence, nothing decided, past its deadline.
	bare := &event.Incident{ID: "INC-1", Org: "o", Account: "a", State: event.StateDetected, Aware: rt0, Deadline: rt0.Add(event.ReportWindow)}
	r, err = BuildReport(bare, ev, nil, rt0.Add(100*time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	if !r.Draft || len(r.Missing) != 7 || len(r.Evidence) != 0 {
		t.Errorf("bare incident: draft %v, missing %d %v, evidence %d (other incident's snapshots must be ignored)", r.Draft, len(r.Missing), r.Missing, len(r.Evidence))
	}
	if r.Discovery.Status != "overdue" || r.Discovery.LateBy != "1d 4h 0m" || r.Consequences != DraftConsequences || r.Art34.Decision != NotDecided {
		t.Errorf("bare incident: %+v, consequences %q, art34 %q", r.Discovery, r.Consequences, r.Art34.Decision)
	}
	md = r.Markdown()
	for _, want := range []string{"DRAFT — not ready to submit", "OVERDUE by 1d 4h 0m", "## Missing before submission", "- [ ] DPO contact"} {
		if !strings.Contains(md, want) {
			t.Errorf("bare Markdown lacks %q", want)
		}
	}
	// The reasons for the delay, once given, replace the placeholder and leave the list of
	// missing items.
	bare.Report.DelayReasons = "the school owner learnt of it from the press"
	if r, err = BuildReport(bare, ev, nil, rt0.Add(100*time.Hour)); err != nil {
		t.Fatal(err)
	}
	if r.Discovery.DelayReasons != bare.Report.DelayReasons || len(r.Missing) != 6 {
		t.Errorf("with delay reasons: %q, missing %v", r.Discovery.DelayReasons, r.Missing)
	}
}

// TestReportLanguages: in both languages every section is rendered, every missing item is in
// the checklist (in the language), and the Norwegian draft has none of the English texts
// breachd writes.
func TestReportLanguages(t *testing.T) {
	inc, ev := reportFixture(t)
	complete, err := BuildReport(inc, ev, map[string]uint64{"student": 1, "": 1}, rt0.Add(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	bare := &event.Incident{ID: "INC-1", Org: "o", Account: "a", State: event.StateDetected, Aware: rt0, Deadline: rt0.Add(event.ReportWindow)}
	draft, err := BuildReport(bare, nil, nil, rt0.Add(100*time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	if len(draft.Missing) != 7 {
		t.Fatalf("bare incident: missing %v, want all 7 items", draft.Missing)
	}
	for _, lang := range ReportLanguages {
		w, err := reportWordsOf(lang)
		if err != nil {
			t.Fatal(err)
		}
		for name, r := range map[string]Report{"complete": complete, "draft": draft} {
			md, err := r.MarkdownIn(lang)
			if err != nil {
				t.Fatal(err)
			}
			headings := ReportHeadingsIn(lang)
			if len(headings) != len(ReportHeadings) {
				t.Fatalf("%s: %d headings, want %d", lang, len(headings), len(ReportHeadings))
			}
			last := 0
			for _, h := range headings {
				i := strings.Index(md, "\n## "+h+"\n")
				if i < last {
					t.Errorf("%s %s: heading %q missing or out of order", lang, name, h)
				}
				last = i
			}
			for _, m := range r.Missing {
				if !strings.Contains(md, "\n- [ ] "+w.v(m)+"\n") {
					t.Errorf("%s %s: the checklist lacks %q", lang, name, w.v(m))
				}
			}
			if hasList := strings.Contains(md, "\n## "+w.missingHeading+"\n"); hasList != r.Draft {
				t.Errorf("%s %s: checklist shown %v, draft %v", lang, name, hasList, r.Draft)
			}
			if lang == "nb" {
				for en := range w.values {
					if strings.Count(en, " ") >= 2 && strings.Contains(md, en) {
						t.Errorf("nb %s: the English text %q is left in the draft", name, en)
					}
				}
			}
		}
	}
	if _, err := draft.MarkdownIn("de"); err == nil || !errors.Is(err, ErrInput) {
		t.Errorf("unknown language: %v, want an ErrInput", err)
	}
	if ReportHeadingsIn("de") != nil {
		t.Error("headings of an unknown language")
	}
}

// TestReportBokmalComplete: every value BuildReport writes has its bokmål text.
func TestReportBokmalComplete(t *testing.T) {
	var want []string
	want = append(want, event.IncidentStates...)
	want = append(want, event.Resources...)
	for _, n := range StepNames {
		want = append(want, n)
	}
	for _, v := range affiliationCategory {
		want = append(want, v)
	}
	for _, v := range dataSensitivity {
		want = append(want, v)
	}
	want = append(want, missingDPO, missingConsequences, missingMeasures, missingArt34, missingNumbers, missingPeople, missingDelay,
		natureConfidentiality, natureAccess, phasedText, DraftConsequences, DraftDelay, NotDetermined, NotDecided,
		sourceNone, sourceAccess, deactivationNone, DeactivationText(DeactivationDryRun), event.Art34Notify, event.Art34NotRequired,
		history.EvidenceLogins, history.EvidenceAccess)
	for _, s := range want {
		if _, ok := bokmal.values[s]; !ok {
			t.Errorf("no bokmål text for %q", s)
		}
	}
	if got := nbDuration("1d 4h 0m"); got != "1 d 4 t 0 min" {
		t.Errorf("nbDuration: %q", got)
	}
}

// TestReportTamperedEvidence: a snapshot whose content changed, or that differs from the
// incident's reference, is listed as not verified.
func TestReportTamperedEvidence(t *testing.T) {
	inc, ev := reportFixture(t)
	ev[0].Content = strings.Replace(ev[0].Content, "43", "4", 1)
	inc.Evidence[0].Hash = strings.Repeat("0", 64) // the logins reference no longer matches
	r, err := BuildReport(inc, ev, nil, rt0)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range r.Evidence {
		if e.Verified {
			t.Errorf("snapshot %s verified", e.ID)
		}
	}
	if !strings.Contains(r.Markdown(), "| NO |") {
		t.Error("Markdown does not flag the unverified snapshots")
	}
}

func TestReportBadEvidence(t *testing.T) {
	inc, ev := reportFixture(t)
	ev[0].Content = "not json"
	if _, err := BuildReport(inc, ev, nil, rt0); err == nil || !strings.Contains(err.Error(), "access evidence") {
		t.Errorf("undecodable evidence: %v", err)
	}
	if _, err := BuildReport(nil, nil, nil, rt0); err == nil {
		t.Error("nil incident accepted")
	}
}

// BenchmarkBuildReport: a report over an access snapshot of 5,000 rows, with Markdown and JSON.
func BenchmarkBuildReport(b *testing.B) {
	inc := &event.Incident{ID: "INC-1", Org: "o", Account: "a", Aware: rt0, Deadline: rt0.Add(event.ReportWindow)}
	sum := history.AccessSummary{Total: history.AccessTotal{People: 5000, Records: 50000, Events: 5000}}
	for i := range 5000 {
		sum.Rows = append(sum.Rows, history.AccessRow{Subject: fmt.Sprintf("p%d@o", i), Resource: "grades", Action: "view", Events: 1, Records: 10})
	}
	sum.ByResource = []history.AccessTotal{{Resource: "grades", People: 5000, Records: 50000, Events: 5000}}
	e, err := history.NewEvidence(inc.ID, history.EvidenceAccess, inc.Account, rt0.Add(-time.Hour), rt0, rt0, len(sum.Rows), sum)
	if err != nil {
		b.Fatal(err)
	}
	ev := []history.Evidence{e}
	b.ReportAllocs()
	for b.Loop() {
		r, err := BuildReport(inc, ev, nil, rt0)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := json.Marshal(r); err != nil || r.Markdown() == "" {
			b.Fatal(err)
		}
	}
}
