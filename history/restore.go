package history

import (
	"context"
	"fmt"
	"slices"
	"time"

	"breachd/event"
)

// eventsChunk bounds the ids of one query of AlertedEvents.
const eventsChunk = 1000

// alertedAccount is the column of each event table that holds an alert's account, where it is
// the table's leading sort column.
var alertedAccount = map[event.Kind]string{event.KindAuth: "user", event.KindAccess: "actor"}

// RecentAlerts returns the alerts of the rules ruleIDs whose triggering event's time is at or
// after since, oldest event first, with only what a detector restores suppression from: rule,
// account and the event's id, kind and time (rules.Engine.Restore). An alert written twice (a
// redelivered event) is returned once.
//
// Cost: the alerts table is sorted by account and has no partitions, so this reads its rule_id
// and event_time columns whole; alerts are few next to events. It reads without FINAL (copies
// of an alert are identical, and LIMIT 1 BY drops them), so no merge of the table is needed.
func (s *Store) RecentAlerts(ctx context.Context, ruleIDs []string, since time.Time) ([]event.Alert, error) {
	if len(ruleIDs) == 0 {
		return nil, nil
	}
	p := windowParams(since, since)
	p["rules"] = arrayParam(ruleIDs)
	return queryAll(withParams(ctx, p), s.conn, "recent alerts", `SELECT rule_id, account, event_id, toString(event_kind), event_time
		FROM alerts WHERE rule_id IN {rules:Array(String)} AND event_time >= {from_t:DateTime64(3, 'UTC')}
		ORDER BY event_time, id LIMIT 1 BY id`, func(a *event.Alert) []any {
		return []any{&a.RuleID, &a.Account, &a.EventID, (*string)(&a.EventKind), &a.EventTime}
	})
}

// AlertedEvents reads the triggering events of alerts from the event tables, by id, keyed by
// event id: per kind, queries of up to 1000 ids over the alerts' span of event times, and for
// logins and accesses over the alerts' accounts too (the tables' leading sort column, so only
// those accounts' granules are read; directory events, sorted by org, are few). Events no
// longer in history (past retention) are missing from the map.
func (s *Store) AlertedEvents(ctx context.Context, alerts []event.Alert) (map[string]*event.Event, error) {
	out := make(map[string]*event.Event)
	for _, kind := range []event.Kind{event.KindAuth, event.KindAccess, event.KindDirectory} {
		var of []event.Alert
		for _, a := range alerts {
			if a.EventKind == kind {
				of = append(of, a)
			}
		}
		for chunk := range slices.Chunk(of, eventsChunk) {
			ids, accounts := make([]string, len(chunk)), make([]string, len(chunk))
			from, to := chunk[0].EventTime, chunk[0].EventTime
			for i, a := range chunk {
				ids[i], accounts[i], from, to = a.EventID, a.Account, minTime(from, a.EventTime), maxTime(to, a.EventTime)
			}
			p := windowParams(from, to.Add(time.Millisecond))
			p["ids"], p["accounts"] = arrayParam(ids), arrayParam(accounts)
			where := " WHERE id IN {ids:Array(String)} AND " + window
			if col := alertedAccount[kind]; col != "" {
				where += " AND " + col + " IN {accounts:Array(String)}"
			}
			rows, err := s.conn.Query(withParams(ctx, p), "SELECT "+replayColumns+" FROM ("+replayBranch[kind]+where+")")
			if err != nil {
				return nil, fmt.Errorf("events of alerts: %w", err)
			}
			for rows.Next() {
				e, err := scanReplayRow(rows)
				if err != nil {
					rows.Close()
					return nil, fmt.Errorf("events of alerts: %w", err)
				}
				out[e.ID] = e
			}
			err = rows.Err()
			rows.Close()
			if err != nil {
				return nil, fmt.Errorf("events of alerts: %w", err)
			}
		}
	}
	return out, nil
}
