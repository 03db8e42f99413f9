package notify

import (
	"cmp"
	"encoding/json"
	"fmt"
	"slices"
	"time"

	"breachd/event"
	"breachd/history"
)

// Report is the draft notification of a personal-data breach to Datatilsynet (GDPR Art. 33(3),
// and the items of Datatilsynet's form), built from an incident, its evidence snapshots and
// what the people working it recorded (event.ReportInfo). It is a draft for a person to check
// and submit: breachd does not send it. Missing lists what a person still has to supply;
// Draft is true while anything is missing.
type Report struct {
	Draft     bool      `json:"draft"`
	Missing   []string  `json:"missing"`
	Generated time.Time `json:"generated"`
	Incident  string    `json:"incident"`
	Version   int64     `json:"incident_version"`
	State     string    `json:"state"`
	Reference string    `json:"reference"` // Datatilsynet's case number, once reported

	Controller string `json:"controller"`  // the organisation (Feide realm) responsible
	DPO        string `json:"dpo_contact"` // Art. 33(3)(b)

	What      What      `json:"what_happened"`      // Art. 33(3)(a): nature of the breach
	Period    Period    `json:"period"`             // when it happened
	Discovery Discovery `json:"discovery"`          // when discovered; the 72-hour deadline
	Data      []DataCat `json:"data_categories"`    // Art. 33(3)(a): categories of data
	Special   bool      `json:"special_categories"` // Art. 9 or otherwise sensitive data involved
	People    PeopleCat `json:"people_categories"`  // Art. 33(3)(a): categories of people
	Numbers   Numbers   `json:"approximate_numbers"`
	Services  []Service `json:"services"`

	Consequences string         `json:"likely_consequences"` // Art. 33(3)(c)
	Measures     Measures       `json:"measures"`            // Art. 33(3)(d)
	Art34        Art34          `json:"art34"`               // communication to the people affected
	Phased       string         `json:"phased_reporting"`    // Art. 33(4)
	Evidence     []EvidenceItem `json:"evidence"`
}

// What describes the breach.
type What struct {
	Summary string      `json:"summary"`
	Account string      `json:"account"`
	Nature  []string    `json:"nature"`
	Rules   []RuleCount `json:"rules_triggered"`
	Alerts  int64       `json:"alerts"`
}

// RuleCount is one detection rule and how often it fired.
type RuleCount struct {
	Rule   string `json:"rule"`
	Alerts int64  `json:"alerts"`
}

// Period is when the breach happened, as far as the alerts and the evidence show.
type Period struct {
	FirstSeen    time.Time `json:"first_seen"`
	LastSeen     time.Time `json:"last_seen"`
	EvidenceFrom time.Time `json:"evidence_from,omitzero"`
	EvidenceTo   time.Time `json:"evidence_to,omitzero"`
}

// Discovery is when the controller became aware, and the Art. 33(1) deadline.
type Discovery struct {
	Detected   time.Time `json:"detected"`
	Aware      time.Time `json:"aware"`
	Deadline   time.Time `json:"deadline"`
	ReportedAt time.Time `json:"reported_at,omitzero"`
	// Status is "met" (reported in time), "late" (reported after the deadline), "pending"
	// (not reported, deadline ahead), "overdue" (not reported, deadline passed) or
	// "not_reportable" (documented as not reportable).
	Status   string `json:"deadline_status"`
	LateBy   string `json:"late_by,omitempty"`   // for late and overdue
	TimeLeft string `json:"time_left,omitempty"` // for pending
	// DelayReasons is required by Art. 33(1) when the report is late.
	DelayReasons        string `json:"delay_reasons"`
	NotReportableReason string `json:"not_reportable_reason,omitempty"`
}

// DataCat is one category of personal data involved.
type DataCat struct {
	Category string `json:"category"`
	People   uint64 `json:"people"`
	Records  uint64 `json:"records"`
	Events   uint64 `json:"events"`
	// Sensitivity is "special (GDPR Art. 9)", "sensitive" or "".
	Sensitivity string `json:"sensitivity,omitempty"`
}

// PeopleCat lists the categories of people involved, by directory affiliation.
type PeopleCat struct {
	Determined bool          `json:"determined"`
	Categories []PeopleCount `json:"categories,omitempty"`
}

// PeopleCount is one category of people and how many of them.
type PeopleCount struct {
	Category    string `json:"category"`
	Affiliation string `json:"affiliation"`
	People      uint64 `json:"people"`
}

// Numbers are the approximate numbers of people and records concerned.
type Numbers struct {
	Known   bool   `json:"known"`
	People  uint64 `json:"people"`
	Records uint64 `json:"records"`
	Events  uint64 `json:"events"`
	Source  string `json:"source"`
}

// Service is one service the account logged into in the evidence window.
type Service struct {
	ID        string    `json:"id"`
	Name      string    `json:"name,omitempty"`
	First     time.Time `json:"first"`
	Last      time.Time `json:"last"`
	Successes uint64    `json:"successes"`
	Failures  uint64    `json:"failures"`
}

// Measures are the measures taken or proposed.
type Measures struct {
	Deactivation string     `json:"deactivation"`
	Steps        []StepItem `json:"steps"`
	Text         string     `json:"text"`
}

// StepItem is one step of the breach procedure and whether it is done.
type StepItem struct {
	N     int       `json:"n"`
	Name  string    `json:"name"`
	Done  bool      `json:"done"`
	At    time.Time `json:"at,omitzero"`
	Actor string    `json:"actor,omitempty"`
	Note  string    `json:"note,omitempty"`
}

// Art34 is the decision on telling the people affected.
type Art34 struct {
	Decision string `json:"decision"` // notify, not_required, or "not decided"
	Reason   string `json:"reason,omitempty"`
}

// EvidenceItem is one evidence snapshot the report relies on.
type EvidenceItem struct {
	ID       string    `json:"id"`
	Kind     string    `json:"kind"`
	Taken    time.Time `json:"taken"`
	From     time.Time `json:"from"`
	To       time.Time `json:"to"`
	Rows     int       `json:"rows"`
	SHA256   string    `json:"sha256"`
	Verified bool      `json:"verified"` // the content hashes to SHA256 and matches the incident's reference
}

// Placeholders put into a draft where a person has to write the text.
const (
	DraftConsequences = "DRAFT: describe the likely consequences for the people concerned (e.g. pupils' grades or health data seen by an unauthorised person)."
	DraftDelay        = "DRAFT: the report is late; state the reasons for the delay (GDPR Art. 33(1))."
	NotDetermined     = "not determined"
	NotDecided        = "not decided"
)

// Texts BuildReport writes into every report (Markdown renders them in its language).
const (
	natureConfidentiality = "confidentiality breach: personal data made available to a person not entitled to it"
	natureAccess          = "unauthorised access by an account with wrong rights"
	phasedText            = "Art. 33(4): where not all information is available within 72 hours, report what is known " +
		"now and send the rest in phases without undue delay, quoting the case number."
	sourceNone       = NotDetermined + ": no access evidence collected"
	sourceAccess     = "access evidence " // + the snapshot id and its window
	deactivationNone = "not requested"
)

// dataSensitivity classifies the resource categories of events.md.
var dataSensitivity = map[string]string{
	"health":        "special (GDPR Art. 9)",
	"special_needs": "special (GDPR Art. 9)",
	"wellbeing":     "sensitive",
	"family":        "sensitive",
}

// affiliationCategory names the people of a directory primary affiliation.
var affiliationCategory = map[string]string{
	"student":   "pupils",
	"faculty":   "teachers",
	"staff":     "staff",
	"employee":  "staff",
	"member":    "guardians and other members",
	"affiliate": "guardians and other affiliates",
	"":          "people without a directory record",
}

// BuildReport builds the draft Art. 33 notice of inc from its evidence snapshots ev (any
// order; snapshots of other incidents are ignored) and, if known, the categories of people
// concerned (primary affiliation → number of people; nil when not determined). The numbers of
// people and records and the categories of data come from the latest access snapshot, the
// services from the latest logins snapshot. now decides the deadline status.
func BuildReport(inc *event.Incident, ev []history.Evidence, people map[string]uint64, now time.Time) (Report, error) {
	if inc == nil {
		return Report{}, fmt.Errorf("report: %w: no incident", ErrInput)
	}
	r := Report{
		Generated: now.UTC(), Incident: inc.ID, Version: inc.Version, State: inc.State,
		Reference: inc.Report.Reference, Controller: inc.Org, DPO: inc.Report.DPO,
		What:         What{Summary: inc.Summary, Account: inc.Account, Alerts: inc.AlertCount, Nature: []string{natureConfidentiality, natureAccess}},
		Period:       Period{FirstSeen: inc.FirstSeen.UTC(), LastSeen: inc.LastSeen.UTC()},
		Phased:       phasedText,
		Consequences: cmp.Or(inc.Report.Consequences, DraftConsequences),
		Art34:        Art34{Decision: cmp.Or(inc.Report.Art34, NotDecided), Reason: inc.Report.Art34Reason},
	}
	for rule, n := range inc.Rules {
		r.What.Rules = append(r.What.Rules, RuleCount{Rule: rule, Alerts: n})
	}
	slices.SortFunc(r.What.Rules, func(a, b RuleCount) int { return cmp.Compare(a.Rule, b.Rule) })
	r.Discovery = discovery(inc, now)

	access, logins, items, err := evidenceOf(inc, ev)
	if err != nil {
		return r, err
	}
	r.Evidence = items
	if access != nil {
		r.Period.EvidenceFrom, r.Period.EvidenceTo = access.From, access.To
		var sum history.AccessSummary
		if err := json.Unmarshal([]byte(access.Content), &sum); err != nil {
			return r, fmt.Errorf("report: access evidence %s: %w", access.ID, err)
		}
		r.Numbers = Numbers{Known: true, People: sum.Total.People, Records: sum.Total.Records, Events: sum.Total.Events,
			Source: fmt.Sprintf(sourceAccess+"%s (%s – %s)", access.ID, minute(access.From), minute(access.To))}
		for _, t := range sum.ByResource {
			d := DataCat{Category: t.Resource, People: t.People, Records: t.Records, Events: t.Events, Sensitivity: dataSensitivity[t.Resource]}
			r.Special = r.Special || d.Sensitivity != ""
			r.Data = append(r.Data, d)
		}
	} else {
		r.Numbers.Source = sourceNone
	}
	if logins != nil {
		var rows []history.LoginRow
		if err := json.Unmarshal([]byte(logins.Content), &rows); err != nil {
			return r, fmt.Errorf("report: logins evidence %s: %w", logins.ID, err)
		}
		for _, l := range rows {
			r.Services = append(r.Services, Service{ID: l.Service, Name: l.ServiceName, First: l.First.UTC(), Last: l.Last.UTC(),
				Successes: l.Successes, Failures: l.Failures})
		}
	}
	if people != nil {
		r.People.Determined = true
		for aff, n := range people {
			r.People.Categories = append(r.People.Categories, PeopleCount{Category: cmp.Or(affiliationCategory[aff], aff), Affiliation: aff, People: n})
		}
		slices.SortFunc(r.People.Categories, func(a, b PeopleCount) int {
			return cmp.Or(cmp.Compare(b.People, a.People), cmp.Compare(a.Affiliation, b.Affiliation))
		})
	}
	r.Measures = measures(inc)
	r.Missing = missing(&r, inc)
	r.Draft = len(r.Missing) > 0
	return r, nil
}

func discovery(inc *event.Incident, now time.Time) Discovery {
	d := Discovery{Detected: inc.Opened.UTC(), Aware: inc.Aware.UTC(), Deadline: inc.Deadline.UTC(),
		ReportedAt: inc.Report.ReportedAt.UTC(), NotReportableReason: inc.Report.NotReportableReason}
	if inc.Report.ReportedAt.IsZero() {
		d.ReportedAt = time.Time{}
	}
	switch {
	case !d.ReportedAt.IsZero() && !d.ReportedAt.After(d.Deadline):
		d.Status = "met"
	case !d.ReportedAt.IsZero():
		d.Status, d.LateBy = "late", Duration(d.ReportedAt.Sub(d.Deadline))
	case d.NotReportableReason != "":
		d.Status = "not_reportable"
	case now.After(d.Deadline):
		d.Status, d.LateBy = "overdue", Duration(now.Sub(d.Deadline))
	default:
		d.Status, d.TimeLeft = "pending", Duration(d.Deadline.Sub(now))
	}
	if d.Status == "late" || d.Status == "overdue" {
		d.DelayReasons = cmp.Or(inc.Report.DelayReasons, DraftDelay)
	}
	return d
}

// evidenceOf picks the incident's snapshots, newest access and logins, and lists them all.
func evidenceOf(inc *event.Incident, ev []history.Evidence) (access, logins *history.Evidence, items []EvidenceItem, err error) {
	refs := map[string]string{}
	for _, ref := range inc.Evidence {
		refs[ref.ID] = ref.Hash
	}
	own := make([]history.Evidence, 0, len(ev))
	for _, e := range ev {
		if e.Incident == inc.ID {
			own = append(own, e)
		}
	}
	slices.SortStableFunc(own, func(a, b history.Evidence) int { return cmp.Or(a.Taken.Compare(b.Taken), cmp.Compare(a.ID, b.ID)) })
	for i := range own {
		e := &own[i]
		hash, referenced := refs[e.ID]
		items = append(items, EvidenceItem{ID: e.ID, Kind: e.Kind, Taken: e.Taken.UTC(), From: e.From.UTC(), To: e.To.UTC(),
			Rows: e.Rows, SHA256: e.SHA256, Verified: e.Verify() && (!referenced || hash == e.SHA256)})
		switch e.Kind {
		case history.EvidenceAccess:
			access = e
		case history.EvidenceLogins:
			logins = e
		}
	}
	return access, logins, items, nil
}

func measures(inc *event.Incident) Measures {
	m := Measures{Deactivation: cmp.Or(DeactivationText(inc.Deactivation), deactivationNone), Text: inc.Report.Measures}
	for n := 1; n <= len(StepNames); n++ {
		s, done := inc.Steps[n]
		m.Steps = append(m.Steps, StepItem{N: n, Name: StepNames[n], Done: done, At: s.At.UTC(), Actor: s.Actor, Note: s.Note})
		if !done {
			m.Steps[len(m.Steps)-1].At = time.Time{}
		}
	}
	return m
}

// The items of the checklist of a draft (Report.Missing); Markdown renders them in its
// language.
const (
	missingDPO          = "DPO contact (Art. 33(3)(b)): --dpo"
	missingConsequences = "likely consequences (Art. 33(3)(c)): --consequences"
	missingMeasures     = "measures taken or proposed (Art. 33(3)(d)): --measures"
	missingArt34        = "Art. 34 decision on telling the people affected: --art34 notify|not_required --art34-reason"
	missingNumbers      = "approximate numbers of people and records: collect evidence (breachd incidents evidence --refresh)"
	missingPeople       = "categories of people concerned"
	missingDelay        = "reasons for the delay (Art. 33(1))"
)

// missing lists what a person must still supply before the notice can be submitted.
func missing(r *Report, inc *event.Incident) []string {
	out := []string{}
	add := func(cond bool, item string) {
		if cond {
			out = append(out, item)
		}
	}
	add(r.DPO == "", missingDPO)
	add(inc.Report.Consequences == "", missingConsequences)
	add(inc.Report.Measures == "", missingMeasures)
	add(inc.Report.Art34 == "", missingArt34)
	add(!r.Numbers.Known, missingNumbers)
	add(!r.People.Determined, missingPeople)
	add(r.Discovery.DelayReasons == DraftDelay, missingDelay)
	return out
}

// Duration renders d in days, hours and minutes ("2d 3h 4m"), rounded down to the minute.
func Duration(d time.Duration) string {
	if d < 0 {
		d = -d
	}
	d = d.Truncate(time.Minute)
	days, hours, mins := int(d/(24*time.Hour)), int(d%(24*time.Hour)/time.Hour), int(d%time.Hour/time.Minute)
	switch {
	case days > 0:
		return fmt.Sprintf("%dd %dh %dm", days, hours, mins)
	case hours > 0:
		return fmt.Sprintf("%dh %dm", hours, mins)
	}
	return fmt.Sprintf("%dm", mins)
}
