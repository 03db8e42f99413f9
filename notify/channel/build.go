package channel

import (
	"fmt"
	"time"

	"breachd/event"
)

// ChangeMessages returns the messages an incident change should send, for the notifier's
// Sink: changeKind is the change's kind ("opened" or "updated"), a the alert that caused it
// and ref what that alert changed. An opened incident gives KindOpened; a severity rise
// gives KindEscalated (keyed by the version it produced, so each rise pages once); a
// deactivation request gives KindDeactivation (once per incident). An update that changed
// none of these gives no message: one incident does not page for every alert.
func ChangeMessages(changeKind string, inc *event.Incident, a *event.Alert, ref event.AlertRef) []Message {
	base := Message{Severity: inc.Severity, Org: inc.Org, Incident: inc}
	if a != nil {
		base.Tags = a.Tags
	}
	var out []Message
	if changeKind == KindOpened {
		m := base
		m.Key, m.Kind, m.Title = inc.ID+"/opened", KindOpened, inc.Summary
		if a != nil {
			m.Text = fmt.Sprintf("Rule %s: %s", a.RuleID, a.Summary)
		}
		out = append(out, m)
	}
	if ref.RaisedFrom != "" && a != nil {
		m := base
		m.Key = fmt.Sprintf("%s/escalated/v%d", inc.ID, ref.Version)
		m.Kind = KindEscalated
		m.Title = fmt.Sprintf("severity %s → %s", ref.RaisedFrom, a.Severity)
		m.Text = fmt.Sprintf("Rule %s: %s", a.RuleID, a.Summary)
		out = append(out, m)
	}
	if ref.Respond {
		m := base
		m.Key, m.Kind = inc.ID+"/deactivation", KindDeactivation
		m.Title = "deactivation of " + inc.Account + " requested"
		out = append(out, m)
	}
	return out
}

// DeadlineMessage is the escalation at mark (e.g. 24 h) after awareness while inc is not
// reported; keyed by incident and mark, so each mark pages once.
func DeadlineMessage(inc *event.Incident, mark time.Duration, now time.Time) Message {
	kind := DeadlineKind(mark)
	left := inc.Deadline.Sub(now)
	return Message{
		Key: inc.ID + "/" + kind, Kind: kind, Severity: inc.Severity, Org: inc.Org, Incident: inc,
		Title: fmt.Sprintf("not reported %s after awareness, %s left", hours(mark), hours(left)),
		Text: "The breach must be reported to Datatilsynet within 72 hours of awareness " +
			"(GDPR Art. 33), or documented as not reportable.",
	}
}

// hours formats d as "24h" or "23h05m" (rounded to the minute; negative: "overdue 1h").
func hours(d time.Duration) string {
	prefix := ""
	if d < 0 {
		prefix, d = "overdue ", -d
	}
	d = d.Round(time.Minute)
	h, m := int64(d/time.Hour), int64(d%time.Hour/time.Minute)
	if m == 0 {
		return fmt.Sprintf("%s%dh", prefix, h)
	}
	return fmt.Sprintf("%s%dh%02dm", prefix, h, m)
}

// TransitionMessage announces a lifecycle change of inc made by a person (entry is its
// timeline entry); keyed by incident and the entry's time, so each change pages once.
func TransitionMessage(inc *event.Incident, entry event.TimelineEntry) Message {
	return Message{
		Key: fmt.Sprintf("%s/transition/%d", inc.ID, entry.At.UnixMilli()), Kind: KindTransition,
		Severity: inc.Severity, Org: inc.Org, Incident: inc,
		Title: fmt.Sprintf("%s by %s", entry.Text, entry.Actor),
	}
}
