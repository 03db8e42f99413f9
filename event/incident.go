package event

import (
	"crypto/sha256"
	"encoding/hex"
	"time"
)

// Incident lifecycle states (design.md, "Incidents"; the breach procedure's steps). An incident
// is opened in StateDetected; the later states are set by explicit, audited commands:
//
//	detected → contained (account deactivated, step 1) → investigating (steps 2–4)
//	         → reported (to Datatilsynet, step 5) | not_reportable (documented, not reported)
//	         → remediated (steps 6–7) → closed (step 8 done)
const (
	StateDetected      = "detected"
	StateContained     = "contained"
	StateInvestigating = "investigating"
	StateReported      = "reported"
	StateNotReportable = "not_reportable"
	StateRemediated    = "remediated"
	StateClosed        = "closed"
)

// IncidentStates lists the lifecycle states in procedure order.
var IncidentStates = []string{
	StateDetected, StateContained, StateInvestigating, StateReported, StateNotReportable,
	StateRemediated, StateClosed,
}

// ReportWindow is the time from awareness to the deadline for reporting a personal-data breach
// to the supervisory authority (GDPR Art. 33(1)).
const ReportWindow = 72 * time.Hour

// Timeline entry kinds.
const (
	TimelineOpened     = "opened"     // the incident was opened by its first alert
	TimelineAlert      = "alert"      // an alert joined the incident, or raised its severity
	TimelineAction     = "action"     // a response action was requested or performed
	TimelineTransition = "transition" // a lifecycle state change
	TimelineComment    = "comment"    // a human note
)

// Incident groups the alerts about one suspect account while it is open: one open incident per
// (Org, Account). It is the unit the SOC works through the breach procedure with, and the record
// kept for the breach register (GDPR Art. 33(5): every breach documented, reported or not).
//
// Every change bumps Version; copies elsewhere (history) keep the highest Version.
type Incident struct {
	// ID is stable and human-friendly: INC-<yyyymmdd>-<8 hex>, see IncidentID.
	ID      string `json:"id"`
	Org     string `json:"org"`
	Account string `json:"account"`
	State   string `json:"state"`
	// Severity is the highest severity of the incident's alerts.
	Severity Severity `json:"severity"`

	Opened   time.Time `json:"opened"`   // wall time the notifier opened it
	Aware    time.Time `json:"aware"`    // moment of awareness (GDPR Art. 33); = Opened for now
	Deadline time.Time `json:"deadline"` // Aware + ReportWindow
	Updated  time.Time `json:"updated"`  // wall time of the last change

	FirstSeen time.Time `json:"first_seen"` // earliest event time of its alerts
	LastSeen  time.Time `json:"last_seen"`  // latest event time of its alerts

	AlertCount int64            `json:"alert_count"` // distinct alerts, each counted once
	Rules      map[string]int64 `json:"rules"`       // alerts per rule id

	// Subjects are the distinct people whose data was involved, sorted, at most a bounded
	// number; SubjectsOmitted counts alerts whose subject was not recorded because the list was
	// full (they may repeat subjects), SubjectsTruncated says the list is incomplete.
	Subjects          []string `json:"subjects,omitempty"`
	SubjectsTruncated bool     `json:"subjects_truncated,omitempty"`
	SubjectsOmitted   int64    `json:"subjects_omitted,omitempty"`

	// RecentAlerts are the latest alerts, oldest first, bounded; they make a redelivered alert
	// recognisable (it must not count twice) and say which change it caused.
	RecentAlerts []AlertRef `json:"recent_alerts,omitempty"`
	// OpeningAlert is the id of the alert that opened the incident.
	OpeningAlert string `json:"opening_alert"`

	// RespondRequested is true once an alert whose rule allows a response asked for the account
	// to be deactivated. It records the request only, not that anything was done.
	RespondRequested bool `json:"respond_requested,omitempty"`

	Summary string `json:"summary"` // the opening alert's summary

	// Timeline is the incident's history. Alerts get an entry only up to a bound (the opening
	// alert and the first few after it, and every severity rise); TimelineOmitted counts the
	// alerts that got none.
	Timeline        []TimelineEntry `json:"timeline"`
	TimelineOmitted int64           `json:"timeline_omitted,omitempty"`

	// Steps records which steps of the breach procedure are done (design.md: 1 deactivate,
	// 2 tell the DPO, 3 login log, 4 data touched, 5 report or document, 6 fix the directory
	// and rights, 7 reactivate, 8 measures against recurrence), by step number.
	Steps map[int]Step `json:"steps,omitempty"`
	// Escalations are the marks (hours after awareness, e.g. "24h") whose deadline warning was
	// sent while the incident was not yet reported.
	Escalations []string `json:"escalations,omitempty"`
	// Evidence lists the evidence snapshots taken, oldest first (the rows are in history).
	Evidence []EvidenceRef `json:"evidence,omitempty"`
	// Report holds what the people working the incident decided for the Art. 33 notice and
	// the Art. 34 decision.
	Report ReportInfo `json:"report"`
	// Deactivation is the state of the deactivation request, if any (mirrors the responder).
	Deactivation string `json:"deactivation,omitempty"`

	Version int64 `json:"version"`
}

// Step is one done step of the breach procedure.
type Step struct {
	At    time.Time `json:"at"`
	Actor string    `json:"actor"`
	Note  string    `json:"note,omitempty"`
}

// EvidenceRef points at one evidence snapshot stored in history: what was asked (Kind, over
// [From, To)), when, how many rows it gave and the SHA-256 of its content.
type EvidenceRef struct {
	ID    string    `json:"id"`
	Kind  string    `json:"kind"` // "logins" (step 3) or "access" (step 4)
	Taken time.Time `json:"taken"`
	From  time.Time `json:"from"`
	To    time.Time `json:"to"`
	Rows  int       `json:"rows"`
	Hash  string    `json:"sha256"`
}

// ReportInfo is the human part of the Art. 33 notice and the Art. 34 decision.
type ReportInfo struct {
	Consequences string `json:"consequences,omitempty"`  // likely consequences for the people
	Measures     string `json:"measures,omitempty"`      // measures taken or proposed
	DelayReasons string `json:"delay_reasons,omitempty"` // why the report is late (Art. 33(1))
	DPO          string `json:"dpo,omitempty"`           // the data protection officer's contact
	// NotReportableReason is why the breach was not reported (Art. 33(1): unlikely to result
	// in a risk), set with the transition to not_reportable.
	NotReportableReason string `json:"not_reportable_reason,omitempty"`
	// ReportedAt is when it was reported to Datatilsynet; Reference is their case number.
	ReportedAt time.Time `json:"reported_at,omitzero"`
	Reference  string    `json:"reference,omitempty"`
	// Art34 is the decision on telling the people affected: "" (not decided), "notify" or
	// "not_required"; Art34Reason says why.
	Art34       string `json:"art34,omitempty"`
	Art34Reason string `json:"art34_reason,omitempty"`
}

// Art. 34 decisions.
const (
	Art34Notify      = "notify"
	Art34NotRequired = "not_required"
)

// Reported reports whether the reporting duty is settled: reported, or documented as not
// reportable (the escalations stop then).
func (i *Incident) Reported() bool {
	return !i.Report.ReportedAt.IsZero() || i.Report.NotReportableReason != ""
}

// Open reports whether the incident is still open (not closed).
func (i *Incident) Open() bool { return i.State != StateClosed }

// AlertRef finds a recent alert by id.
func (i *Incident) AlertRef(alertID string) (AlertRef, bool) {
	for _, r := range i.RecentAlerts {
		if r.ID == alertID {
			return r, true
		}
	}
	return AlertRef{}, false
}

// AlertRef records one alert of an incident and what it changed.
type AlertRef struct {
	ID string `json:"id"`
	// Version is the incident version the alert produced (1 for the opening alert).
	Version int64 `json:"version"`
	// RaisedFrom is the incident's severity before the alert raised it; empty if it did not.
	RaisedFrom Severity `json:"raised_from,omitempty"`
	// Respond is true if this alert made the incident request deactivation.
	Respond bool `json:"respond,omitempty"`
}

// TimelineEntry is one line of an incident's history.
type TimelineEntry struct {
	At    time.Time `json:"at"`
	Actor string    `json:"actor"` // "notify" for automatic entries, else the user
	Kind  string    `json:"kind"`  // one of the Timeline* constants
	Text  string    `json:"text"`
}

// IncidentID derives the id of the incident that the alert openingAlertID opens for account in
// org: INC-<yyyymmdd of day in UTC>-<first 8 hex digits of sha256(org, account, alert id)>. It is
// deterministic, so a redelivered opening alert maps to the same id. Pass the alert's detection
// time as day, so the id does not depend on when the notifier sees it.
func IncidentID(org, account, openingAlertID string, day time.Time) string {
	h := sha256.Sum256([]byte(org + "\x00" + account + "\x00" + openingAlertID))
	return "INC-" + day.UTC().Format("20060102") + "-" + hex.EncodeToString(h[:4])
}
