package notify

import (
	"cmp"
	"slices"
	"strings"
	"time"

	"breachd/event"
)

// RegisterRow is one line of the breach register (GDPR Art. 33(5): every personal-data
// breach is documented, reported or not): one per incident, open or closed.
type RegisterRow struct {
	ID       string         `json:"id"`
	Org      string         `json:"org"`
	Account  string         `json:"account"`
	Severity event.Severity `json:"severity"`
	State    string         `json:"state"`
	Opened   time.Time      `json:"opened"`
	Aware    time.Time      `json:"aware"`
	Deadline time.Time      `json:"deadline"`
	// Reported is "yes" (reported to Datatilsynet; ReportedAt, late when after the deadline),
	// "not reportable" (Reason says why), "pending" (deadline ahead) or "OVERDUE".
	Reported   string    `json:"reported"`
	ReportedAt time.Time `json:"reported_at,omitzero"`
	Late       bool      `json:"late,omitempty"`
	Reason     string    `json:"reason,omitempty"`
	Reference  string    `json:"reference,omitempty"`
	Art34      string    `json:"art34"`
	// Subjects is the number of distinct people the alerts named (a lower bound when
	// SubjectsTruncated); the evidence and the report give the full numbers.
	Subjects     int       `json:"subjects"`
	SubjectsMore bool      `json:"subjects_truncated,omitempty"`
	Evidence     int       `json:"evidence_snapshots"`
	Closed       time.Time `json:"closed,omitzero"`
	Summary      string    `json:"summary"`
	Version      int64     `json:"version"`
}

// Register values of RegisterRow.Reported.
const (
	RegReported      = "yes"
	RegNotReportable = "not reportable"
	RegPending       = "pending"
	RegOverdue       = "OVERDUE"
)

// Register returns the breach register of incs: one row per incident (a repeated id keeps
// its highest version), by opening time, oldest first. now decides pending or OVERDUE.
func Register(incs []*event.Incident, now time.Time) []RegisterRow {
	latest := map[string]*event.Incident{}
	for _, inc := range incs {
		if inc == nil {
			continue
		}
		if cur, ok := latest[inc.ID]; !ok || inc.Version > cur.Version {
			latest[inc.ID] = inc
		}
	}
	rows := make([]RegisterRow, 0, len(latest))
	for _, inc := range latest {
		r := RegisterRow{
			ID: inc.ID, Org: inc.Org, Account: inc.Account, Severity: inc.Severity, State: inc.State,
			Opened: inc.Opened.UTC(), Aware: inc.Aware.UTC(), Deadline: inc.Deadline.UTC(),
			Reference: inc.Report.Reference, Art34: cmp.Or(inc.Report.Art34, NotDecided),
			Subjects: len(inc.Subjects), SubjectsMore: inc.SubjectsTruncated, Evidence: len(inc.Evidence),
			Closed: closedAt(inc), Summary: inc.Summary, Version: inc.Version,
		}
		switch {
		case !inc.Report.ReportedAt.IsZero():
			r.Reported, r.ReportedAt = RegReported, inc.Report.ReportedAt.UTC()
			r.Late = inc.Report.ReportedAt.After(inc.Deadline)
		case inc.Report.NotReportableReason != "":
			r.Reported, r.Reason = RegNotReportable, inc.Report.NotReportableReason
		case now.After(inc.Deadline):
			r.Reported = RegOverdue
		default:
			r.Reported = RegPending
		}
		rows = append(rows, r)
	}
	slices.SortFunc(rows, func(a, b RegisterRow) int { return cmp.Or(a.Opened.Compare(b.Opened), cmp.Compare(a.ID, b.ID)) })
	return rows
}

// closedAt is when inc was closed: the time of its last transition to closed, or zero.
func closedAt(inc *event.Incident) time.Time {
	if inc.State != event.StateClosed {
		return time.Time{}
	}
	for i := len(inc.Timeline) - 1; i >= 0; i-- {
		e := inc.Timeline[i]
		if e.Kind == event.TimelineTransition && strings.Contains(e.Text, "→ "+event.StateClosed) {
			return e.At.UTC()
		}
	}
	return inc.Updated.UTC()
}
