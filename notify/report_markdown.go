package notify

import (
	"cmp"
	"fmt"
	"strings"
	"time"
)

// ReportHeadings are the section headings of Markdown, in order: one per item of Art. 33(3)
// and of Datatilsynet's form.
var ReportHeadings = []string{
	"1. Controller and contact",
	"2. What happened",
	"3. When it happened",
	"4. When it was discovered and the 72-hour deadline",
	"5. Categories of personal data",
	"6. Categories of people concerned",
	"7. Approximate numbers of people and records",
	"8. Services involved",
	"9. Likely consequences",
	"10. Measures taken or proposed",
	"11. Communication to the people concerned (Art. 34)",
	"12. Phased reporting",
	"13. Evidence",
}

// Markdown renders the notice for people: a DRAFT banner and a checklist while anything is
// missing, then one section per item of the notice.
func (r Report) Markdown() string {
	var b strings.Builder
	p := func(format string, args ...any) { fmt.Fprintf(&b, format, args...) }
	ts := func(t time.Time) string {
		if t.IsZero() {
			return NotDetermined
		}
		return t.UTC().Format("2006-01-02 15:04 UTC")
	}
	section := func(i int) { p("\n## %s\n\n", ReportHeadings[i]) }

	p("# Notification of a personal data breach (GDPR Art. 33): %s\n\n", r.Incident)
	if r.Draft {
		p("> **DRAFT — not ready to submit.** %d item(s) missing, see the checklist at the end.\n\n", len(r.Missing))
	}
	p("Generated %s from incident %s (version %d, state %s)", ts(r.Generated), r.Incident, r.Version, r.State)
	if r.Reference != "" {
		p("; Datatilsynet case %s", r.Reference)
	}
	p(".\n")

	section(0)
	p("- Controller: %s\n", r.Controller)
	p("- Data protection officer: %s\n", cmp.Or(r.DPO, "MISSING"))

	section(1)
	p("%s\n\n", cmp.Or(r.What.Summary, "(no summary)"))
	p("- Account involved: %s\n", r.What.Account)
	p("- Nature of the breach: %s\n", strings.Join(r.What.Nature, "; "))
	p("- Detection rules triggered (%d alerts):", r.What.Alerts)
	if len(r.What.Rules) == 0 {
		p(" none recorded\n")
	} else {
		p("\n")
		for _, rc := range r.What.Rules {
			p("  - %s: %d\n", rc.Rule, rc.Alerts)
		}
	}

	section(2)
	p("- First seen: %s\n- Last seen: %s\n", ts(r.Period.FirstSeen), ts(r.Period.LastSeen))
	if !r.Period.EvidenceFrom.IsZero() {
		p("- Evidence window: %s – %s\n", ts(r.Period.EvidenceFrom), ts(r.Period.EvidenceTo))
	}

	section(3)
	d := r.Discovery
	p("- Detected: %s\n- Aware (Art. 33(1)): %s\n- Deadline (aware + 72 h): %s\n", ts(d.Detected), ts(d.Aware), ts(d.Deadline))
	switch d.Status {
	case "met":
		p("- Reported: %s, within the deadline\n", ts(d.ReportedAt))
	case "late":
		p("- Reported: %s, **%s late**\n", ts(d.ReportedAt), d.LateBy)
	case "overdue":
		p("- Not reported: **OVERDUE by %s**\n", d.LateBy)
	case "not_reportable":
		p("- Not reportable: %s\n", d.NotReportableReason)
	default:
		p("- Not reported yet: %s left\n", d.TimeLeft)
	}
	if d.DelayReasons != "" {
		p("- Reasons for the delay: %s\n", d.DelayReasons)
	}

	section(4)
	if len(r.Data) == 0 {
		p("%s (no access evidence, or no access in its window).\n", NotDetermined)
	} else {
		p("| Category | People | Records | Events | Sensitivity |\n|---|---:|---:|---:|---|\n")
		for _, c := range r.Data {
			p("| %s | %d | %d | %d | %s |\n", c.Category, c.People, c.Records, c.Events, cmp.Or(c.Sensitivity, "-"))
		}
		if r.Special {
			p("\nSpecial categories of data (GDPR Art. 9) or otherwise sensitive data are involved.\n")
		}
	}

	section(5)
	if !r.People.Determined {
		p("Not determined: no directory records were looked up for the people in the evidence.\n")
	} else {
		for _, c := range r.People.Categories {
			p("- %s (%s): %d\n", c.Category, cmp.Or(c.Affiliation, "none"), c.People)
		}
		if len(r.People.Categories) == 0 {
			p("None found.\n")
		}
	}

	section(6)
	if r.Numbers.Known {
		p("- People: about %d\n- Records: about %d (%d access events)\n", r.Numbers.People, r.Numbers.Records, r.Numbers.Events)
	}
	p("- Source: %s\n", r.Numbers.Source)

	section(7)
	if len(r.Services) == 0 {
		p("%s (no logins evidence, or no logins in its window).\n", NotDetermined)
	}
	for _, s := range r.Services {
		p("- %s%s: %s – %s, %d successful and %d failed logins\n", s.ID, paren(s.Name), ts(s.First), ts(s.Last), s.Successes, s.Failures)
	}

	section(8)
	p("%s\n", r.Consequences)

	section(9)
	p("- Deactivation of the account: %s\n", r.Measures.Deactivation)
	if r.Measures.Text != "" {
		p("- %s\n", r.Measures.Text)
	} else {
		p("- Further measures: MISSING\n")
	}
	p("\nProcedure steps:\n\n")
	for _, s := range r.Measures.Steps {
		if s.Done {
			p("- [x] %d. %s — %s by %s%s\n", s.N, s.Name, ts(s.At), s.Actor, paren(s.Note))
		} else {
			p("- [ ] %d. %s\n", s.N, s.Name)
		}
	}

	section(10)
	p("- Decision: %s\n", r.Art34.Decision)
	if r.Art34.Reason != "" {
		p("- Reason: %s\n", r.Art34.Reason)
	}

	section(11)
	p("%s\n", r.Phased)

	section(12)
	if len(r.Evidence) == 0 {
		p("No evidence snapshots.\n")
	} else {
		p("| Snapshot | Kind | Taken | Window | Rows | SHA-256 | Verified |\n|---|---|---|---|---:|---|---|\n")
		for _, e := range r.Evidence {
			p("| %s | %s | %s | %s – %s | %d | `%s` | %s |\n", e.ID, e.Kind, ts(e.Taken), ts(e.From), ts(e.To), e.Rows, e.SHA256, yesNo(e.Verified))
		}
	}

	if r.Draft {
		p("\n## Missing before submission\n\n")
		for _, m := range r.Missing {
			p("- [ ] %s\n", m)
		}
	}
	return b.String()
}

func paren(s string) string {
	if s == "" {
		return ""
	}
	return " (" + s + ")"
}

func yesNo(b bool) string {
	if b {
		return "yes"
	}
	return "NO"
}
