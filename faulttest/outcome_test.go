package faulttest

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"slices"

	"github.com/ClickHouse/clickhouse-go/v2"

	"breachd/event"
	"breachd/notify"
	"breachd/respond"
)

// eventTables are the history tables of each kind of event.
var eventTables = map[event.Kind]string{event.KindAuth: "auth_events", event.KindAccess: "access_events", event.KindDirectory: "directory_events"}

// outcome is what a run left behind, counted without FINAL.
type outcome struct {
	Rows, IDs map[event.Kind]uint64 // event rows and distinct event ids per kind
	Alerts    uint64                // alert rows
	AlertIDs  uint64                // distinct alert ids
	AlertSet  []string              // "rule account event", sorted and distinct
	Incidents map[string]int        // account → incidents (notify's store)
	Requests  map[string]int        // account → deactivation requests (the responses bucket)
	// Deactivations is account → respond.would_deactivate rows in the audit log (the dry run's
	// "deactivated").
	Deactivations map[string]int
}

// collect reads the outcome of p's run from its history and its cluster.
func collect(ctx context.Context, p *pipeline) (outcome, error) {
	o := outcome{Rows: map[event.Kind]uint64{}, IDs: map[event.Kind]uint64{}, Incidents: map[string]int{},
		Requests: map[string]int{}, Deactivations: map[string]int{}}
	conn := p.db.Store.Conn()
	for kind, table := range eventTables {
		var n, ids uint64
		if err := conn.QueryRow(ctx, "SELECT count(), uniqExact(id) FROM "+table).Scan(&n, &ids); err != nil {
			return o, fmt.Errorf("count %s: %w", table, err)
		}
		o.Rows[kind], o.IDs[kind] = n, ids
	}
	if err := conn.QueryRow(ctx, "SELECT count(), uniqExact(id) FROM alerts").Scan(&o.Alerts, &o.AlertIDs); err != nil {
		return o, fmt.Errorf("count alerts: %w", err)
	}
	rows, err := conn.Query(ctx, "SELECT DISTINCT rule_id, account, event_id FROM alerts ORDER BY rule_id, account, event_id")
	if err != nil {
		return o, fmt.Errorf("read alerts: %w", err)
	}
	for rows.Next() {
		var rule, account, ev string
		if err := rows.Scan(&rule, &account, &ev); err != nil {
			return o, err
		}
		o.AlertSet = append(o.AlertSet, rule+" "+account+" "+ev)
	}
	if err := rows.Err(); err != nil {
		return o, err
	}
	rows, err = conn.Query(clickhouse.Context(ctx, clickhouse.WithParameters(clickhouse.Parameters{"action": respond.AuditWouldDeactivate})),
		"SELECT target, count() FROM audit WHERE action = {action:String} GROUP BY target")
	if err != nil {
		return o, fmt.Errorf("read audit: %w", err)
	}
	for rows.Next() {
		var account string
		var n uint64
		if err := rows.Scan(&account, &n); err != nil {
			return o, err
		}
		o.Deactivations[account] = int(n)
	}
	if err := rows.Err(); err != nil {
		return o, err
	}

	store, err := notify.NewStore(ctx, p.cl.JS)
	if err != nil {
		return o, err
	}
	incs, err := store.List(ctx)
	if err != nil {
		return o, fmt.Errorf("list incidents: %w", err)
	}
	for _, inc := range incs {
		o.Incidents[inc.Account]++
	}
	kv, err := p.cl.JS.KeyValue(ctx, respond.Bucket)
	if err != nil {
		return o, fmt.Errorf("bucket %s: %w", respond.Bucket, err)
	}
	keys, err := kv.ListKeysFiltered(ctx, "req.>")
	if err != nil {
		return o, err
	}
	for key := range keys.Keys() {
		e, err := kv.Get(ctx, key)
		if err != nil {
			return o, fmt.Errorf("request %s: %w", key, err)
		}
		var r respond.Request
		if err := json.Unmarshal(e.Value(), &r); err != nil {
			return o, fmt.Errorf("request %s: %w", key, err)
		}
		o.Requests[r.Account]++
	}
	return o, nil
}

// check reports every way o breaks the requirements, against the input and the clean run's
// outcome ref (nil for the clean run itself).
func (o outcome) check(in input, ref *outcome) []string {
	var bad []string
	for kind, table := range eventTables {
		if want := uint64(in.kinds[kind]); o.Rows[kind] != want || o.IDs[kind] != want {
			bad = append(bad, fmt.Sprintf("%s: %d rows, %d distinct ids; want each event exactly once: %d", table, o.Rows[kind], o.IDs[kind], want))
		}
	}
	if o.Alerts != o.AlertIDs {
		bad = append(bad, fmt.Sprintf("alerts: %d rows for %d distinct alerts: some stored more than once", o.Alerts, o.AlertIDs))
	}
	if uint64(len(o.AlertSet)) != o.AlertIDs {
		bad = append(bad, fmt.Sprintf("alerts: %d distinct ids for %d distinct (rule, account, event)", o.AlertIDs, len(o.AlertSet)))
	}
	bad = append(bad, once("incidents", o.Incidents)...)
	bad = append(bad, once("deactivation requests", o.Requests)...)
	bad = append(bad, once("deactivations (audit respond.would_deactivate)", o.Deactivations)...)
	if ref == nil {
		if len(o.AlertSet) == 0 || len(o.Incidents) == 0 || len(o.Requests) == 0 {
			bad = append(bad, fmt.Sprintf("the clean run found %d alerts, %d incidents, %d deactivation requests: the injected breaches must give some of each",
				len(o.AlertSet), len(o.Incidents), len(o.Requests)))
		}
		return bad
	}
	if missing, extra := diff(ref.AlertSet, o.AlertSet); len(missing)+len(extra) > 0 {
		bad = append(bad, fmt.Sprintf("alerts differ from the clean run's: missing %q, extra %q", missing, extra))
	}
	for _, c := range []struct {
		what     string
		got, ref map[string]int
	}{{"incidents", o.Incidents, ref.Incidents}, {"deactivation requests", o.Requests, ref.Requests}, {"deactivations", o.Deactivations, ref.Deactivations}} {
		if missing, extra := diff(slices.Sorted(maps.Keys(c.ref)), slices.Sorted(maps.Keys(c.got))); len(missing)+len(extra) > 0 {
			bad = append(bad, fmt.Sprintf("%s differ from the clean run's: missing for %q, extra for %q", c.what, missing, extra))
		}
	}
	return bad
}

// once reports the accounts with more than one of what.
func once(what string, per map[string]int) []string {
	var bad []string
	for _, account := range slices.Sorted(maps.Keys(per)) {
		if n := per[account]; n > 1 {
			bad = append(bad, fmt.Sprintf("%s: %d for %s, want one per account", what, n, account))
		}
	}
	return bad
}

// diff returns what of the sorted want is missing from the sorted got, and what got has extra.
func diff(want, got []string) (missing, extra []string) {
	for _, w := range want {
		if _, ok := slices.BinarySearch(got, w); !ok {
			missing = append(missing, w)
		}
	}
	for _, g := range got {
		if _, ok := slices.BinarySearch(want, g); !ok {
			extra = append(extra, g)
		}
	}
	return missing, extra
}

// row is o's line of the counts table.
func (o outcome) row(name string, took string, same bool) string {
	sum := func(m map[string]int) int {
		n := 0
		for _, v := range m {
			n += v
		}
		return n
	}
	return fmt.Sprintf("%-29s %6d/%-6d %6d/%-6d %6d/%-6d %5d/%-5d %9d %8d %13d %5v %8s",
		name, o.Rows[event.KindAuth], o.IDs[event.KindAuth], o.Rows[event.KindAccess], o.IDs[event.KindAccess],
		o.Rows[event.KindDirectory], o.IDs[event.KindDirectory], o.Alerts, o.AlertIDs,
		sum(o.Incidents), sum(o.Requests), sum(o.Deactivations), same, took)
}

// tableHeader heads the counts table (rows/distinct ids, without FINAL).
var tableHeader = fmt.Sprintf("%-29s %13s %13s %13s %11s %9s %8s %13s %5s %8s", "scenario", "auth", "access", "directory",
	"alerts", "incidents", "requests", "deactivations", "same", "took")
