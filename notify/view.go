package notify

import (
	"cmp"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"breachd/event"
)

// DeadlineText says where the incident stands against its Art. 33 deadline at now.
func DeadlineText(inc *event.Incident, now time.Time) string {
	due := inc.Deadline.UTC().Format("2006-01-02 15:04 UTC")
	switch {
	case !inc.Report.ReportedAt.IsZero():
		return "reported " + inc.Report.ReportedAt.UTC().Format("2006-01-02 15:04 UTC") + " (due " + due + ")"
	case inc.Report.NotReportableReason != "":
		return "not reportable (documented)"
	case now.After(inc.Deadline):
		return "report OVERDUE by " + Duration(now.Sub(inc.Deadline)) + " (due " + due + ")"
	}
	return "report due " + due + " (" + Duration(inc.Deadline.Sub(now)) + " left)"
}

// Shown is everything about one incident for a person (`breachd incidents show`), for
// output.Write: in JSON the incident as stored with the states it may move to, the procedure
// steps not done and where it stands against its deadline.
type Shown struct {
	*event.Incident
	NextStates   []string `json:"next_states"`
	MissingSteps []string `json:"missing_steps"`
	Due          string   `json:"due"`
}

// Show returns inc as shown at now.
func Show(inc *event.Incident, now time.Time) Shown {
	return Shown{inc, append([]string{}, NextStates(inc.State)...), append([]string{}, MissingSteps(inc, 1, 2, 3, 4, 5, 6, 7, 8)...),
		DeadlineText(inc, now)}
}

// WriteText writes the incident, its procedure steps, timeline and evidence.
func (v Shown) WriteText(w io.Writer) error {
	inc := v.Incident
	ts := func(t time.Time) string {
		if t.IsZero() {
			return "-"
		}
		return t.UTC().Format("2006-01-02 15:04:05 UTC")
	}
	rules := make([]string, 0, len(inc.Rules))
	for r, n := range inc.Rules {
		rules = append(rules, fmt.Sprintf("%s=%d", r, n))
	}
	slices.Sort(rules)
	fmt.Fprintf(w, "Incident      %s (version %d)\nOrganisation  %s\nAccount       %s\n", inc.ID, inc.Version, inc.Org, inc.Account)
	fmt.Fprintf(w, "State         %s (next: %s)\nSeverity      %s\nSummary       %s\n", inc.State,
		cmp.Or(strings.Join(NextStates(inc.State), ", "), "none"), inc.Severity, inc.Summary)
	fmt.Fprintf(w, "Opened        %s\nAware         %s\nDeadline      %s\n", ts(inc.Opened), ts(inc.Aware), v.Due)
	fmt.Fprintf(w, "Seen          %s – %s\nAlerts        %d (%s)\nSubjects      %d", ts(inc.FirstSeen), ts(inc.LastSeen), inc.AlertCount, strings.Join(rules, ", "), len(inc.Subjects))
	if inc.SubjectsTruncated {
		fmt.Fprint(w, " (list truncated)")
	}
	fmt.Fprintf(w, "\nDeactivation  %s\n", cmp.Or(DeactivationText(inc.Deactivation), map[bool]string{true: "requested", false: "not requested"}[inc.RespondRequested]))
	r := inc.Report
	fmt.Fprintf(w, "Report        dpo=%q reference=%q art34=%s consequences=%t measures=%t", r.DPO, r.Reference, cmp.Or(r.Art34, NotDecided), r.Consequences != "", r.Measures != "")
	if r.NotReportableReason != "" {
		fmt.Fprintf(w, " not_reportable=%q", r.NotReportableReason)
	}
	fmt.Fprintln(w, "\n\nSteps:")
	for n := 1; n <= len(StepNames); n++ {
		if s, ok := inc.Steps[n]; ok {
			fmt.Fprintf(w, "  [x] %d %-62s %s by %s %s\n", n, StepNames[n], ts(s.At), s.Actor, s.Note)
		} else {
			fmt.Fprintf(w, "  [ ] %d %s\n", n, StepNames[n])
		}
	}
	fmt.Fprintln(w, "\nTimeline:")
	for _, e := range inc.Timeline {
		fmt.Fprintf(w, "  %s  %-10s %-10s %s\n", ts(e.At), e.Actor, e.Kind, e.Text)
	}
	if inc.TimelineOmitted > 0 {
		fmt.Fprintf(w, "  (%d further alerts without an entry)\n", inc.TimelineOmitted)
	}
	fmt.Fprintln(w, "\nEvidence:")
	if len(inc.Evidence) == 0 {
		fmt.Fprintln(w, "  none (breachd incidents evidence --refresh "+inc.ID+")")
	}
	for _, e := range inc.Evidence {
		fmt.Fprintf(w, "  %s  %-15s %6d rows  %s – %s  sha256 %s\n", e.ID, e.Kind, e.Rows, ts(e.From), ts(e.To), e.Hash)
	}
	return nil
}

// Written is a report written to files (Report.WriteFiles), for output.Write: the paths, and
// whether it is a draft with what is missing.
type Written struct {
	Markdown string   `json:"markdown"`
	JSON     string   `json:"json"`
	Draft    bool     `json:"draft"`
	Missing  []string `json:"missing"`
}

// WriteFiles writes r as Markdown in lang (see MarkdownIn; "" is English) and as JSON to
// dir/<incident>-art33.md (in another language than English <incident>-art33.<lang>.md) and
// dir/<incident>-art33.json (mode 0640; dir is made, 0750, if missing).
func (r *Report) WriteFiles(dir, lang string) (Written, error) {
	lang = cmp.Or(lang, "en")
	md, err := r.MarkdownIn(lang)
	if err != nil {
		return Written{}, err
	}
	js, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return Written{}, err
	}
	mdName := r.Incident + "-art33.md"
	if lang != "en" {
		mdName = r.Incident + "-art33." + lang + ".md"
	}
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return Written{}, fmt.Errorf("report directory: %w", err)
	}
	w := Written{Markdown: filepath.Join(dir, mdName), JSON: filepath.Join(dir, r.Incident+"-art33.json"), Draft: r.Draft, Missing: r.Missing}
	for _, f := range []struct {
		path string
		data []byte
	}{{w.Markdown, []byte(md)}, {w.JSON, append(js, '\n')}} {
		if err := os.WriteFile(f.path, f.data, 0o640); err != nil {
			return Written{}, fmt.Errorf("write report: %w", err)
		}
	}
	return w, nil
}

// WriteText says where the report was written and what is missing from a draft.
func (w Written) WriteText(out io.Writer) error {
	fmt.Fprintf(out, "wrote %s\nwrote %s\n", w.Markdown, w.JSON)
	if w.Draft {
		fmt.Fprintf(out, "DRAFT: %d item(s) missing:\n", len(w.Missing))
		for _, m := range w.Missing {
			fmt.Fprintln(out, "  - "+m)
		}
	}
	return nil
}

// The columns of incident listings as people see them (`breachd incidents list|register`), in
// the order of ListRow and RegisterRow.Row. The aligned table of a list shows the first
// ListTableColumns; rules (the sorted ids of the rules that hit) and updated (the last change)
// are for JSON, CSV and TSV, the API and the console.
var (
	ListColumns     = []string{"id", "org", "account", "state", "severity", "opened", "deadline", "due", "alerts", "summary", "rules", "updated"}
	RegisterColumns = []string{"id", "org", "account", "severity", "state", "opened", "aware", "deadline",
		"reported", "reported_at", "late", "reason", "reference", "art34", "subjects", "evidence", "closed", "summary"}
)

// ListTableColumns is how many of ListColumns the aligned table of a list shows.
const ListTableColumns = 10

// ListRow returns the row of an incident under ListColumns at now.
func ListRow(now time.Time) func(*event.Incident) []any {
	return func(inc *event.Incident) []any {
		rules := make([]string, 0, len(inc.Rules))
		for r := range inc.Rules {
			rules = append(rules, r)
		}
		slices.Sort(rules)
		return []any{inc.ID, inc.Org, inc.Account, inc.State, string(inc.Severity), inc.Opened, inc.Deadline,
			DeadlineText(inc, now), inc.AlertCount, inc.Summary, rules, inc.Updated}
	}
}

// Row is r under RegisterColumns.
func (r RegisterRow) Row() []any {
	return []any{r.ID, r.Org, r.Account, string(r.Severity), r.State, r.Opened, r.Aware, r.Deadline,
		r.Reported, optTime(r.ReportedAt), r.Late, r.Reason, r.Reference, r.Art34, r.Subjects, r.Evidence, optTime(r.Closed), r.Summary}
}

// optTime is nil for the zero time, so tables show an empty cell.
func optTime(t time.Time) any {
	if t.IsZero() {
		return nil
	}
	return t
}
