package notify

import (
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"time"

	"breachd/event"
)

// Bounds on what one incident record keeps, so that a noisy account cannot grow its KV value
// without limit (the value must stay well below the server's max payload).
const (
	maxSubjects       = 1000 // distinct subjects listed per incident
	maxRecentAlerts   = 256  // alert ids remembered for deduplication
	maxTimelineAlerts = 20   // alerts that get their own timeline entry (after the opening one)
	maxTextLen        = 300  // summary and timeline text, in bytes
)

// actor is the Actor of the timeline entries the notifier writes.
const actor = "notify"

// decodeAlert parses and checks an alert from the ALERTS stream. An error means the payload
// can never be processed.
func decodeAlert(data []byte) (*event.Alert, error) {
	var a event.Alert
	if err := json.Unmarshal(data, &a); err != nil {
		return nil, fmt.Errorf("decode alert: %w", err)
	}
	switch {
	case a.ID == "":
		return nil, errors.New("alert without id")
	case a.Org == "":
		return nil, fmt.Errorf("alert %s: no org", a.ID)
	case a.Account == "":
		return nil, fmt.Errorf("alert %s: no account", a.ID)
	case a.RuleID == "":
		return nil, fmt.Errorf("alert %s: no rule id", a.ID)
	case a.Severity.Rank() == 0:
		return nil, fmt.Errorf("alert %s: unknown severity %q", a.ID, a.Severity)
	}
	return &a, nil
}

// idDay is the day an incident id is dated with: the alert's detection time, falling back to
// the event time and then to now, so a redelivered alert derives the same id.
func idDay(a *event.Alert, now time.Time) time.Time {
	switch {
	case !a.Detected.IsZero():
		return a.Detected
	case !a.EventTime.IsZero():
		return a.EventTime
	}
	return now
}

// claimNote flags, in timeline texts, an alert whose event claimed another organisation than
// the account's home one (the detector filed it under the home one).
func claimNote(a *event.Alert) string {
	if a.ClaimedOrg == "" {
		return ""
	}
	return fmt.Sprintf(" [the event claimed org %s; filed under the account's home org %s]", a.ClaimedOrg, a.Org)
}

// openIncident builds version 1 of the incident with the given id that alert a opens at now.
func openIncident(id string, a *event.Alert, now time.Time) (*event.Incident, event.AlertRef) {
	inc := &event.Incident{
		ID:           id,
		Org:          a.Org,
		Account:      a.Account,
		State:        event.StateDetected,
		Severity:     a.Severity,
		Opened:       now,
		Aware:        now,
		Deadline:     now.Add(event.ReportWindow),
		Rules:        map[string]int64{},
		OpeningAlert: a.ID,
		Summary:      clip(a.Summary),
		Timeline: []event.TimelineEntry{{
			At: now, Actor: actor, Kind: event.TimelineOpened,
			Text: clip(fmt.Sprintf("opened by alert %s (rule %s, %s)%s: %s", a.ID, a.RuleID, a.Severity, claimNote(a), a.Summary)),
		}},
	}
	return inc, addAlert(inc, a, now)
}

// addAlert folds alert a into inc at now, bumps the version and returns what a changed. The
// caller has checked that a is not already part of inc.
func addAlert(inc *event.Incident, a *event.Alert, now time.Time) event.AlertRef {
	inc.Version++
	ref := event.AlertRef{ID: a.ID, Version: inc.Version}
	opening := inc.Version == 1

	inc.AlertCount++
	if inc.Rules == nil {
		inc.Rules = map[string]int64{}
	}
	inc.Rules[a.RuleID]++
	if !a.EventTime.IsZero() {
		if inc.FirstSeen.IsZero() || a.EventTime.Before(inc.FirstSeen) {
			inc.FirstSeen = a.EventTime
		}
		if a.EventTime.After(inc.LastSeen) {
			inc.LastSeen = a.EventTime
		}
	}
	addSubject(inc, a.Subject)

	switch {
	case !opening && a.Severity.Rank() > inc.Severity.Rank():
		ref.RaisedFrom = inc.Severity
		inc.Severity = a.Severity
		inc.Timeline = append(inc.Timeline, event.TimelineEntry{
			At: now, Actor: actor, Kind: event.TimelineAlert,
			Text: clip(fmt.Sprintf("severity raised from %s to %s by alert %s (rule %s): %s",
				ref.RaisedFrom, a.Severity, a.ID, a.RuleID, a.Summary)),
		})
	case opening:
		// The "opened" entry describes the opening alert.
	case inc.AlertCount-1 <= maxTimelineAlerts:
		inc.Timeline = append(inc.Timeline, event.TimelineEntry{
			At: now, Actor: actor, Kind: event.TimelineAlert,
			Text: clip(fmt.Sprintf("alert %s (rule %s, %s)%s: %s", a.ID, a.RuleID, a.Severity, claimNote(a), a.Summary)),
		})
	default:
		inc.TimelineOmitted++
	}

	if a.Respond && !inc.RespondRequested {
		inc.RespondRequested = true
		ref.Respond = true
		inc.Timeline = append(inc.Timeline, event.TimelineEntry{
			At: now, Actor: actor, Kind: event.TimelineAction,
			Text: fmt.Sprintf("deactivation requested: rule %s allows a response", a.RuleID),
		})
	}

	inc.RecentAlerts = append(inc.RecentAlerts, ref)
	if over := len(inc.RecentAlerts) - maxRecentAlerts; over > 0 {
		inc.RecentAlerts = slices.Delete(inc.RecentAlerts, 0, over)
	}
	inc.Updated = now
	return ref
}

// addSubject records a distinct subject, keeping Subjects sorted and bounded.
func addSubject(inc *event.Incident, subject string) {
	if subject == "" {
		return
	}
	i, found := slices.BinarySearch(inc.Subjects, subject)
	switch {
	case found:
	case len(inc.Subjects) < maxSubjects:
		inc.Subjects = slices.Insert(inc.Subjects, i, subject)
	default:
		inc.SubjectsTruncated = true
		inc.SubjectsOmitted++
	}
}

// clip bounds text that comes from rules and events, cutting at a rune boundary.
func clip(s string) string { return clipTo(s, maxTextLen) }

// clipTo bounds s to n bytes, cutting at a rune boundary.
func clipTo(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && s[n]&0xC0 == 0x80 {
		n--
	}
	return s[:n] + "…"
}
