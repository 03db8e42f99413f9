package history

import (
	"context"
	"fmt"
	"time"

	"breachd/event"
)

// AuditAlerts is the audit action of AccountAlerts: the alerts of an account with the events
// behind them (who did what, to whose data) are a lookup of that account's history.
const AuditAlerts = "history.alerts"

// MaxAccountAlerts bounds the alerts AccountAlerts returns (Truncated says when there were
// more).
const MaxAccountAlerts = 500

// AlertsRequest asks for the alerts of Account whose triggering event is in [From, To), within
// Scope (the zero Scope sees nothing), asked by Ask (the audit row's identity and purpose;
// Ask.Incident names the incident it is for).
type AlertsRequest struct {
	Account  string
	From, To time.Time
	Ask      Asker
	Scope    event.Scope
}

// AccountAlert is one alert as stored in history, with the event that triggered it (nil when
// that event is no longer, or not yet, in history).
type AccountAlert struct {
	ID         string      `json:"id"`
	RuleID     string      `json:"rule_id"`
	Title      string      `json:"title"`
	Severity   string      `json:"severity"`
	Tags       []string    `json:"tags"`
	Org        string      `json:"org"`
	Account    string      `json:"account"`
	Subject    string      `json:"subject"`
	EventID    string      `json:"event_id"`
	EventKind  string      `json:"event_kind"`
	EventTime  time.Time   `json:"event_time"`
	Detected   time.Time   `json:"detected"`
	Summary    string      `json:"summary"`
	Respond    bool        `json:"respond"`
	Suppressed uint64      `json:"suppressed"`
	Event      *AlertEvent `json:"event"`
}

// AlertEvent is the event behind an alert: the fields of its kind (an auth event: service,
// result, method; an access event: action, subject, resource, records; a directory event: op,
// user, group, school, change, status, guardian, child), empty ones left out.
type AlertEvent struct {
	ID          string    `json:"id"`
	Kind        string    `json:"kind"`
	Time        time.Time `json:"time"`
	Org         string    `json:"org,omitempty"`
	Service     string    `json:"service,omitempty"`
	ServiceName string    `json:"service_name,omitempty"`
	Result      string    `json:"result,omitempty"`
	Method      string    `json:"method,omitempty"`
	Action      string    `json:"action,omitempty"`
	ActorRole   string    `json:"actor_role,omitempty"`
	Subject     string    `json:"subject,omitempty"`
	Resource    string    `json:"resource,omitempty"`
	Group       string    `json:"group,omitempty"`
	Records     uint64    `json:"records,omitempty"`
	Op          string    `json:"op,omitempty"`
	User        string    `json:"user,omitempty"`
	School      string    `json:"school,omitempty"`
	Change      string    `json:"change,omitempty"`
	Status      string    `json:"status,omitempty"`
	Guardian    string    `json:"guardian,omitempty"`
	Child       string    `json:"child,omitempty"`
	IP          string    `json:"ip,omitempty"`
	Country     string    `json:"country,omitempty"`
}

// AccountAlerts is the answer of Store.AccountAlerts.
type AccountAlerts struct {
	Alerts    []AccountAlert `json:"alerts"`
	Truncated bool           `json:"truncated"` // there were more than MaxAccountAlerts
}

// AccountAlerts returns the alerts of r.Account in [r.From, r.To) (by event time, at most
// MaxAccountAlerts), each with the event that triggered it. Like Lookup it holds the asker to
// r.Scope (the account must be in it, else ErrNotInScope, the refusal audited) and writes the
// audit row before reading anything; only alerts of the scope's organisations are read. The
// events are read by the ids of those alerts (one query per kind).
func (s *Store) AccountAlerts(ctx context.Context, r AlertsRequest) (AccountAlerts, error) {
	if err := s.admit(ctx, r.Scope, r.Ask, AuditAlerts, r.Account, r.From, r.To, ""); err != nil {
		return AccountAlerts{}, err
	}
	p := lookupParams(r.Scope, r.From, r.To)
	p["account"] = r.Account
	p["limit"] = fmt.Sprint(MaxAccountAlerts + 1)
	alerts, err := queryAll(withParams(ctx, p), s.conn, "alerts of "+r.Account, `SELECT id, rule_id, title, toString(severity), arrayMap(x -> toString(x), tags), toString(org),
		account, subject, event_id, toString(event_kind), event_time, detected, summary, respond, suppressed
		FROM alerts FINAL
		WHERE account = {account:String} AND event_time >= {from_t:DateTime64(3, 'UTC')} AND event_time < {to_t:DateTime64(3, 'UTC')}`+inScope+`
		ORDER BY event_time, id LIMIT {limit:UInt32}`, func(a *AccountAlert) []any {
		return []any{&a.ID, &a.RuleID, &a.Title, &a.Severity, &a.Tags, &a.Org, &a.Account, &a.Subject, &a.EventID, &a.EventKind,
			&a.EventTime, &a.Detected, &a.Summary, &a.Respond, &a.Suppressed}
	})
	if err != nil {
		return AccountAlerts{}, err
	}
	out := AccountAlerts{Alerts: alerts}
	if len(alerts) > MaxAccountAlerts {
		out.Alerts, out.Truncated = alerts[:MaxAccountAlerts], true
	}
	if out.Alerts == nil {
		out.Alerts = []AccountAlert{}
	}
	events, err := s.alertEvents(ctx, out.Alerts)
	if err != nil {
		return AccountAlerts{}, err
	}
	for i := range out.Alerts {
		if e, ok := events[out.Alerts[i].EventID]; ok {
			out.Alerts[i].Event = &e
		}
	}
	return out, nil
}

// The events behind alerts, by kind: the columns read into an AlertEvent.
var alertEventQueries = map[string]struct {
	query  string
	fields func(*AlertEvent) []any
}{
	string(event.KindAuth): {`SELECT id, time, toString(org), toString(service), toString(service_name), toString(result), toString(method),
		ip, toString(country) FROM auth_events FINAL`, func(e *AlertEvent) []any {
		return []any{&e.ID, &e.Time, &e.Org, &e.Service, &e.ServiceName, &e.Result, &e.Method, &e.IP, &e.Country}
	}},
	string(event.KindAccess): {`SELECT id, time, toString(org), toString(service), toString(action), toString(actor_role), subject,
		toString(resource), group, records, ip, toString(country) FROM access_events FINAL`, func(e *AlertEvent) []any {
		return []any{&e.ID, &e.Time, &e.Org, &e.Service, &e.Action, &e.ActorRole, &e.Subject, &e.Resource, &e.Group, &e.Records, &e.IP, &e.Country}
	}},
	string(event.KindDirectory): {`SELECT id, time, toString(org), toString(op), user, group, school, toString(change), toString(status),
		guardian, child FROM directory_events FINAL`, func(e *AlertEvent) []any {
		return []any{&e.ID, &e.Time, &e.Org, &e.Op, &e.User, &e.Group, &e.School, &e.Change, &e.Status, &e.Guardian, &e.Child}
	}},
}

// alertEvents reads the events behind alerts, by event id: per kind one query over the ids
// and the alerts' span of event times.
func (s *Store) alertEvents(ctx context.Context, alerts []AccountAlert) (map[string]AlertEvent, error) {
	type span struct {
		ids      []string
		from, to time.Time
	}
	kinds := map[string]*span{}
	for _, a := range alerts {
		k := kinds[a.EventKind]
		if k == nil {
			k = &span{from: a.EventTime, to: a.EventTime}
			kinds[a.EventKind] = k
		}
		k.ids = append(k.ids, a.EventID)
		k.from, k.to = minTime(k.from, a.EventTime), maxTime(k.to, a.EventTime)
	}
	out := map[string]AlertEvent{}
	for kind, k := range kinds {
		q, ok := alertEventQueries[kind]
		if !ok {
			continue
		}
		p := windowParams(k.from, k.to.Add(time.Millisecond))
		p["ids"] = arrayParam(k.ids)
		rows, err := queryAll(withParams(ctx, p), s.conn, "events of alerts", q.query+` WHERE id IN {ids:Array(String)} AND `+window, q.fields)
		if err != nil {
			return nil, err
		}
		for _, e := range rows {
			e.Kind = kind
			out[e.ID] = e
		}
	}
	return out, nil
}

func minTime(a, b time.Time) time.Time {
	if b.Before(a) {
		return b
	}
	return a
}

func maxTime(a, b time.Time) time.Time {
	if b.After(a) {
		return b
	}
	return a
}
