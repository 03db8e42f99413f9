package notify

import (
	"cmp"
	"fmt"
	"slices"
	"strings"
	"time"

	"breachd/output"
)

// ReportLanguages are the languages Markdown renders the notice in: English and Norwegian
// bokmål (Datatilsynet's form is Norwegian).
var ReportLanguages = []string{"en", "nb"}

// ReportHeadings are the English section headings of Markdown, in order: one per item of
// Art. 33(3) and of Datatilsynet's form (ReportHeadingsIn for another language).
var ReportHeadings = english.headings

// reportWords are the texts of the notice in one language. The values breachd itself writes
// into a Report (states, step names, checklist items, categories, placeholders) are looked up
// in values; what people wrote (summary, consequences, measures, reasons) is never changed.
type reportWords struct {
	title, draft, generated, caseRef string
	headings                         []string
	controller, dpo, missing         string
	noSummary, account, nature       string
	rules, noRules                   string
	firstSeen, lastSeen, window      string
	discovery                        string // detected, aware, deadline: three %s
	met, late, overdue               string
	notReportable, pending, delay    string
	dataNone, dataHeader, special    string
	peopleNone, peopleEmpty, noAff   string
	numbers, source                  string
	servicesNone, service            string
	deactivation, measures           string
	steps, stepDone                  string
	decision, reason                 string
	evidenceNone, evidenceHeader     string
	yes, no                          string
	missingHeading                   string
	// duration renders a Duration ("2d 3h 4m") in the language.
	duration func(string) string
	values   map[string]string
}

// v is s in the language: its translation if breachd wrote it, else s as it is.
func (w *reportWords) v(s string) string {
	if t, ok := w.values[s]; ok {
		return t
	}
	return s
}

var english = &reportWords{
	title:     "# Notification of a personal data breach (GDPR Art. 33): %s\n\n",
	draft:     "> **DRAFT — not ready to submit.** %d item(s) missing, see the checklist at the end.\n\n",
	generated: "Generated %s from incident %s (version %d, state %s)",
	caseRef:   "; Datatilsynet case %s",
	headings: []string{
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
	},
	controller:     "- Controller: %s\n",
	dpo:            "- Data protection officer: %s\n",
	missing:        "MISSING",
	noSummary:      "(no summary)",
	account:        "- Account involved: %s\n",
	nature:         "- Nature of the breach: %s\n",
	rules:          "- Detection rules triggered (%d alerts):",
	noRules:        " none recorded\n",
	firstSeen:      "- First seen: %s\n",
	lastSeen:       "- Last seen: %s\n",
	window:         "- Evidence window: %s – %s\n",
	discovery:      "- Detected: %s\n- Aware (Art. 33(1)): %s\n- Deadline (aware + 72 h): %s\n",
	met:            "- Reported: %s, within the deadline\n",
	late:           "- Reported: %s, **%s late**\n",
	overdue:        "- Not reported: **OVERDUE by %s**\n",
	notReportable:  "- Not reportable: %s\n",
	pending:        "- Not reported yet: %s left\n",
	delay:          "- Reasons for the delay: %s\n",
	dataNone:       "%s (no access evidence, or no access in its window).\n",
	dataHeader:     "| Category | People | Records | Events | Sensitivity |\n|---|---:|---:|---:|---|\n",
	special:        "\nSpecial categories of data (GDPR Art. 9) or otherwise sensitive data are involved.\n",
	peopleNone:     "Not determined: no directory records were looked up for the people in the evidence.\n",
	peopleEmpty:    "None found.\n",
	noAff:          "none",
	numbers:        "- People: about %d\n- Records: about %d (%d access events)\n",
	source:         "- Source: %s\n",
	servicesNone:   "%s (no logins evidence, or no logins in its window).\n",
	service:        "- %s%s: %s – %s, %d successful and %d failed logins\n",
	deactivation:   "- Deactivation of the account: %s\n",
	measures:       "- Further measures: MISSING\n",
	steps:          "\nProcedure steps:\n\n",
	stepDone:       "- [x] %d. %s — %s by %s%s\n",
	decision:       "- Decision: %s\n",
	reason:         "- Reason: %s\n",
	evidenceNone:   "No evidence snapshots.\n",
	evidenceHeader: "| Snapshot | Kind | Taken | Window | Rows | SHA-256 | Verified |\n|---|---|---|---|---:|---|---|\n",
	yes:            "yes",
	no:             "NO",
	missingHeading: "Missing before submission",
	duration:       func(s string) string { return s },
}

// reportWordsOf returns the words of lang (see ReportLanguages).
func reportWordsOf(lang string) (*reportWords, error) {
	switch lang {
	case "en":
		return english, nil
	case "nb":
		return bokmal, nil
	}
	return nil, fmt.Errorf("%w: report language %q (want %s)", ErrInput, lang, output.OrList(ReportLanguages))
}

// CheckReportLanguage returns an error wrapping ErrInput unless lang is one of
// ReportLanguages or "" (English).
func CheckReportLanguage(lang string) error {
	if lang == "" {
		return nil
	}
	_, err := reportWordsOf(lang)
	return err
}

// ReportHeadingsIn returns the section headings of MarkdownIn(lang), in order (nil for a
// language not in ReportLanguages).
func ReportHeadingsIn(lang string) []string {
	w, err := reportWordsOf(lang)
	if err != nil {
		return nil
	}
	return slices.Clone(w.headings)
}

// Markdown renders the notice in English (MarkdownIn).
func (r Report) Markdown() string { return r.render(english) }

// MarkdownIn renders the notice for people in lang (one of ReportLanguages; another is an
// error wrapping ErrInput): a DRAFT banner and a checklist while anything is missing, then one
// section per item of the notice.
func (r Report) MarkdownIn(lang string) (string, error) {
	w, err := reportWordsOf(lang)
	if err != nil {
		return "", err
	}
	return r.render(w), nil
}

func (r Report) render(w *reportWords) string {
	var b strings.Builder
	p := func(format string, args ...any) { fmt.Fprintf(&b, format, args...) }
	ts := func(t time.Time) string {
		if t.IsZero() {
			return w.v(NotDetermined)
		}
		return t.UTC().Format("2006-01-02 15:04 UTC")
	}
	section := func(i int) { p("\n## %s\n\n", w.headings[i]) }

	p(w.title, r.Incident)
	if r.Draft {
		p(w.draft, len(r.Missing))
	}
	p(w.generated, ts(r.Generated), r.Incident, r.Version, w.v(r.State))
	if r.Reference != "" {
		p(w.caseRef, r.Reference)
	}
	p(".\n")

	section(0)
	p(w.controller, r.Controller)
	p(w.dpo, cmp.Or(r.DPO, w.missing))

	section(1)
	p("%s\n\n", cmp.Or(r.What.Summary, w.noSummary))
	p(w.account, r.What.Account)
	nature := make([]string, len(r.What.Nature))
	for i, n := range r.What.Nature {
		nature[i] = w.v(n)
	}
	p(w.nature, strings.Join(nature, "; "))
	p(w.rules, r.What.Alerts)
	if len(r.What.Rules) == 0 {
		b.WriteString(w.noRules)
	} else {
		p("\n")
		for _, rc := range r.What.Rules {
			p("  - %s: %d\n", rc.Rule, rc.Alerts)
		}
	}

	section(2)
	p(w.firstSeen, ts(r.Period.FirstSeen))
	p(w.lastSeen, ts(r.Period.LastSeen))
	if !r.Period.EvidenceFrom.IsZero() {
		p(w.window, ts(r.Period.EvidenceFrom), ts(r.Period.EvidenceTo))
	}

	section(3)
	d := r.Discovery
	p(w.discovery, ts(d.Detected), ts(d.Aware), ts(d.Deadline))
	switch d.Status {
	case "met":
		p(w.met, ts(d.ReportedAt))
	case "late":
		p(w.late, ts(d.ReportedAt), w.duration(d.LateBy))
	case "overdue":
		p(w.overdue, w.duration(d.LateBy))
	case "not_reportable":
		p(w.notReportable, d.NotReportableReason)
	default:
		p(w.pending, w.duration(d.TimeLeft))
	}
	if d.DelayReasons != "" {
		p(w.delay, w.v(d.DelayReasons))
	}

	section(4)
	if len(r.Data) == 0 {
		p(w.dataNone, w.v(NotDetermined))
	} else {
		b.WriteString(w.dataHeader)
		for _, c := range r.Data {
			p("| %s | %d | %d | %d | %s |\n", w.v(c.Category), c.People, c.Records, c.Events, cmp.Or(w.v(c.Sensitivity), "-"))
		}
		if r.Special {
			b.WriteString(w.special)
		}
	}

	section(5)
	if !r.People.Determined {
		b.WriteString(w.peopleNone)
	} else {
		for _, c := range r.People.Categories {
			p("- %s (%s): %d\n", w.v(c.Category), cmp.Or(c.Affiliation, w.noAff), c.People)
		}
		if len(r.People.Categories) == 0 {
			b.WriteString(w.peopleEmpty)
		}
	}

	section(6)
	if r.Numbers.Known {
		p(w.numbers, r.Numbers.People, r.Numbers.Records, r.Numbers.Events)
	}
	source := w.v(r.Numbers.Source)
	if rest, ok := strings.CutPrefix(r.Numbers.Source, sourceAccess); ok {
		source = w.v(sourceAccess) + rest
	}
	p(w.source, source)

	section(7)
	if len(r.Services) == 0 {
		p(w.servicesNone, w.v(NotDetermined))
	}
	for _, s := range r.Services {
		p(w.service, s.ID, paren(s.Name), ts(s.First), ts(s.Last), s.Successes, s.Failures)
	}

	section(8)
	p("%s\n", w.v(r.Consequences))

	section(9)
	p(w.deactivation, w.v(r.Measures.Deactivation))
	if r.Measures.Text != "" {
		p("- %s\n", r.Measures.Text)
	} else {
		b.WriteString(w.measures)
	}
	b.WriteString(w.steps)
	for _, s := range r.Measures.Steps {
		if s.Done {
			p(w.stepDone, s.N, w.v(s.Name), ts(s.At), s.Actor, paren(s.Note))
		} else {
			p("- [ ] %d. %s\n", s.N, w.v(s.Name))
		}
	}

	section(10)
	p(w.decision, w.v(r.Art34.Decision))
	if r.Art34.Reason != "" {
		p(w.reason, r.Art34.Reason)
	}

	section(11)
	p("%s\n", w.v(r.Phased))

	section(12)
	if len(r.Evidence) == 0 {
		b.WriteString(w.evidenceNone)
	} else {
		b.WriteString(w.evidenceHeader)
		for _, e := range r.Evidence {
			verified := w.no
			if e.Verified {
				verified = w.yes
			}
			p("| %s | %s | %s | %s – %s | %d | `%s` | %s |\n", e.ID, w.v(e.Kind), ts(e.Taken), ts(e.From), ts(e.To), e.Rows, e.SHA256, verified)
		}
	}

	if r.Draft {
		p("\n## %s\n\n", w.missingHeading)
		for _, m := range r.Missing {
			p("- [ ] %s\n", w.v(m))
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
