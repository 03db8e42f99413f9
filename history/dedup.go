package history

import (
	"context"
	"fmt"
	"strings"
	"time"

	"breachd/event"
)

// Rows are deduplicated in two ways. The tables are ReplacingMergeTrees sorted by (key, time,
// id), so a row written twice collapses when parts merge and every query reads with FINAL. And a
// writer that may have written a batch before — a batch redelivered after a crash between the
// insert and the ack, or an insert retried after an error that may have come after ClickHouse
// stored it — first asks Unwritten / UnwrittenAlerts which rows are missing and writes only
// those, so no row is stored twice at all (count() without FINAL is exact). Batches delivered
// for the first time skip the check: it costs one primary-key lookup per table and chunk.

// existsChunk bounds the ids of one existence query (its parameters travel in the URL over
// HTTP; ClickHouse's default http_max_uri_size is 1 MiB).
const existsChunk = 1000

// rowKey is what identifies a stored row: the first column of its table's sort key, its time
// and its id.
type rowKey struct {
	key, id string
	time    time.Time
}

// Unwritten returns the events of evs that are not stored yet, in their order.
func (s *Store) Unwritten(ctx context.Context, evs []*event.Event) ([]*event.Event, error) {
	byTable := map[string][]rowKey{}
	for _, e := range evs {
		t, k := eventTable(e)
		if t == "" {
			continue
		}
		byTable[t] = append(byTable[t], rowKey{key: k, id: e.ID, time: e.Time})
	}
	stored := map[string]bool{}
	for table, keys := range byTable {
		if err := s.stored(ctx, table, tableKeys[table], "time", keys, stored); err != nil {
			return nil, err
		}
	}
	out := make([]*event.Event, 0, len(evs))
	for _, e := range evs {
		if t, _ := eventTable(e); !stored[t+"\x00"+e.ID] {
			out = append(out, e)
		}
	}
	return out, nil
}

// UnwrittenAlerts returns the alerts that are not stored yet, in their order.
func (s *Store) UnwrittenAlerts(ctx context.Context, alerts []event.Alert) ([]event.Alert, error) {
	keys := make([]rowKey, len(alerts))
	for i, a := range alerts {
		keys[i] = rowKey{key: a.Account, id: a.ID, time: a.EventTime}
	}
	stored := map[string]bool{}
	if err := s.stored(ctx, "alerts", "account", "event_time", keys, stored); err != nil {
		return nil, err
	}
	out := make([]event.Alert, 0, len(alerts))
	for _, a := range alerts {
		if !stored["alerts\x00"+a.ID] {
			out = append(out, a)
		}
	}
	return out, nil
}

// tableKeys is the first sort-key column of each event table.
var tableKeys = map[string]string{"auth_events": "user", "access_events": "actor", "directory_events": "org"}

func eventTable(e *event.Event) (table, key string) {
	switch e.Kind {
	case event.KindAuth:
		return "auth_events", e.User
	case event.KindAccess:
		return "access_events", e.Actor
	case event.KindDirectory:
		return "directory_events", e.Org
	}
	return "", ""
}

// stored adds table+"\x00"+id to into for every key stored in table. The query narrows by the
// sort key's leading column and the time range before matching ids, so it reads few granules.
func (s *Store) stored(ctx context.Context, table, keyCol, timeCol string, keys []rowKey, into map[string]bool) error {
	for start := 0; start < len(keys); start += existsChunk {
		chunk := keys[start:min(start+existsChunk, len(keys))]
		accts, ids := map[string]bool{}, make([]string, 0, len(chunk))
		lo, hi := chunk[0].time, chunk[0].time
		for _, k := range chunk {
			accts[k.key] = true
			ids = append(ids, k.id)
			if k.time.Before(lo) {
				lo = k.time
			}
			if k.time.After(hi) {
				hi = k.time
			}
		}
		keyList := make([]string, 0, len(accts))
		for a := range accts {
			keyList = append(keyList, a)
		}
		p := windowParams(lo, hi.Add(time.Millisecond))
		p["keys"], p["ids"] = arrayParam(keyList), arrayParam(ids)
		rows, err := s.conn.Query(withParams(ctx, p), fmt.Sprintf(`SELECT DISTINCT id FROM %s
			WHERE %s IN {keys:Array(String)} AND %s >= {from_t:DateTime64(3, 'UTC')} AND %s < {to_t:DateTime64(3, 'UTC')}
			AND id IN {ids:Array(String)}`, table, keyCol, timeCol, timeCol))
		if err != nil {
			return fmt.Errorf("check which of %d rows %s holds: %w", len(chunk), table, err)
		}
		for rows.Next() {
			var id string
			if err := rows.Scan(&id); err != nil {
				rows.Close()
				return fmt.Errorf("check which rows %s holds: %w", table, err)
			}
			into[table+"\x00"+id] = true
		}
		err = rows.Err()
		rows.Close()
		if err != nil {
			return fmt.Errorf("check which rows %s holds: %w", table, err)
		}
	}
	return nil
}

// arrayParam renders ss as the text of a ClickHouse Array(String) query parameter.
func arrayParam(ss []string) string {
	var b strings.Builder
	b.WriteByte('[')
	for i, s := range ss {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteByte('\'')
		for _, r := range s {
			switch r {
			case '\'', '\\':
				b.WriteByte('\\')
				b.WriteRune(r)
			case '\n':
				b.WriteString(`\n`)
			case '\t':
				b.WriteString(`\t`)
			case '\r':
				b.WriteString(`\r`)
			case 0:
				b.WriteString(`\0`)
			default:
				b.WriteRune(r)
			}
		}
		b.WriteByte('\'')
	}
	b.WriteByte(']')
	return b.String()
}
