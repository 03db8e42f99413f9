package history

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2"

	"breachd/event"
)

// ReplayOptions tunes Store.Replay.
type ReplayOptions struct {
	// Kinds are the event kinds to replay (default all three).
	Kinds []event.Kind
	// ChunkRows is the target number of rows per query (default 100 000). The range is cut at
	// hour boundaries, so an hour holding more rows than this is one chunk on its own.
	ChunkRows int
	// ChunkTimeout bounds the query of one chunk, reading included (default 10 min).
	ChunkTimeout time.Duration
	// Planned, if set, is called once before the first event with the number of rows stored
	// in the range (duplicates not yet collapsed: an upper bound of what Replay delivers) and
	// the number of chunks; for progress reports.
	Planned func(rows int64, chunks int)
}

// replayColumns is the column list every branch of the replay query produces, in the order
// scanRow reads it.
const replayColumns = `kind, id, time, org, user, service, service_name, result, method, ip, country, user_agent,
	actor, actor_role, action, subject, resource, group, records,
	op, affiliations, primary_affiliation, schools, nin_hash, hidden_identity, active, go_type, role,
	contact_teacher, school, change, guardian, child, status`

// replayBranch is the SELECT of one table, with its missing columns as typed defaults.
var replayBranch = map[event.Kind]string{
	event.KindAuth: `SELECT 'auth' AS kind, id, time, org, user, service, service_name, result, method, ip, country, user_agent,
		'' AS actor, '' AS actor_role, '' AS action, '' AS subject, '' AS resource, '' AS group, toUInt64(0) AS records,
		'' AS op, CAST([] AS Array(String)) AS affiliations, '' AS primary_affiliation, CAST([] AS Array(String)) AS schools,
		'' AS nin_hash, false AS hidden_identity, true AS active, '' AS go_type, '' AS role, false AS contact_teacher,
		'' AS school, '' AS change, '' AS guardian, '' AS child, '' AS status
		FROM auth_events FINAL`,
	event.KindAccess: `SELECT 'access' AS kind, id, time, org, '' AS user, service, '' AS service_name, '' AS result, '' AS method,
		ip, country, '' AS user_agent, actor, actor_role, action, subject, resource, group, records,
		'' AS op, CAST([] AS Array(String)) AS affiliations, '' AS primary_affiliation, CAST([] AS Array(String)) AS schools,
		'' AS nin_hash, false AS hidden_identity, true AS active, '' AS go_type, '' AS role, false AS contact_teacher,
		'' AS school, '' AS change, '' AS guardian, '' AS child, '' AS status
		FROM access_events FINAL`,
	event.KindDirectory: `SELECT 'directory' AS kind, id, time, org, user, '' AS service, '' AS service_name, '' AS result, '' AS method,
		'' AS ip, '' AS country, '' AS user_agent, '' AS actor, '' AS actor_role, '' AS action, '' AS subject, '' AS resource,
		group, toUInt64(0) AS records, op, CAST(affiliations AS Array(String)) AS affiliations, primary_affiliation, schools,
		nin_hash, hidden_identity, active, go_type, role, contact_teacher, school, change, guardian, child, status
		FROM directory_events FINAL`,
}

var replayTables = map[event.Kind]string{
	event.KindAuth: "auth_events", event.KindAccess: "access_events", event.KindDirectory: "directory_events",
}

// Replay calls fn for every stored event of opts.Kinds with from <= time < to, merged across
// the event tables in (time, id) order, as the rows are read: it never holds more than one
// chunk's query result. A zero from or to leaves that end open. Rows written twice (a
// redelivered batch) are delivered once (the tables are read with FINAL). It returns the
// number of events delivered; an error of fn stops the replay and is returned unchanged.
//
// The range is read chunk by chunk: one aggregate query counts the rows per hour, then each
// chunk of consecutive hours holding about ChunkRows rows is one query, with the bounds as
// server-side parameters and readonly=1. Chunks are contiguous, so rows written into the range
// while it is replayed are delivered if their chunk has not been read yet. Each delivered event
// is a new value fn may keep; times are in UTC; an access event stored without records has 1.
//
// Cost: the event tables are sorted by account, then time, and partitioned by month, so a
// chunk's query reads the time column of the months it touches; larger chunks mean fewer
// passes, and more memory (with the embedded engine the whole chunk's result is in memory).
func (s *Store) Replay(ctx context.Context, from, to time.Time, opts ReplayOptions, fn func(*event.Event) error) (int64, error) {
	kinds, err := replayKinds(opts.Kinds)
	if err != nil {
		return 0, err
	}
	if opts.ChunkRows <= 0 {
		opts.ChunkRows = 100_000
	}
	if opts.ChunkTimeout <= 0 {
		opts.ChunkTimeout = 10 * time.Minute
	}
	if !from.IsZero() && !to.IsZero() && !from.Before(to) {
		return 0, fmt.Errorf("replay: empty range [%s, %s)", from.Format(time.RFC3339), to.Format(time.RFC3339))
	}
	cuts, rows, err := s.planReplay(ctx, from, to, kinds, int64(opts.ChunkRows))
	if err != nil {
		return 0, err
	}
	if opts.Planned != nil {
		opts.Planned(rows, len(cuts)+1)
	}
	var n int64
	lo := from
	for i := 0; i <= len(cuts); i++ {
		hi := to
		if i < len(cuts) {
			hi = cuts[i]
		}
		got, err := s.replayChunk(ctx, lo, hi, kinds, opts.ChunkTimeout, fn)
		n += got
		if err != nil {
			return n, err
		}
		lo = hi
	}
	return n, nil
}

func replayKinds(kinds []event.Kind) ([]event.Kind, error) {
	if len(kinds) == 0 {
		return []event.Kind{event.KindAuth, event.KindAccess, event.KindDirectory}, nil
	}
	out := slices.Clone(kinds)
	slices.Sort(out)
	out = slices.Compact(out)
	for _, k := range out {
		if replayBranch[k] == "" {
			return nil, fmt.Errorf("replay: unknown event kind %q", k)
		}
	}
	return out, nil
}

// rangeWhere is the time condition of [from, to) with open ends for zero times, and its
// parameters.
func rangeWhere(from, to time.Time) (string, clickhouse.Parameters) {
	var cond []string
	params := clickhouse.Parameters{}
	const layout = "2006-01-02 15:04:05.000"
	if !from.IsZero() {
		cond = append(cond, "time >= {from:DateTime64(3, 'UTC')}")
		params["from"] = from.UTC().Format(layout)
	}
	if !to.IsZero() {
		cond = append(cond, "time < {to:DateTime64(3, 'UTC')}")
		params["to"] = to.UTC().Format(layout)
	}
	if len(cond) == 0 {
		return "", params
	}
	return " WHERE " + strings.Join(cond, " AND "), params
}

// planReplay counts the rows per hour in the range and cuts it where a chunk reaches about
// chunkRows rows. It returns the inner cut points (chunks are [from, cut1), [cut1, cut2), ...,
// [cutN, to)) and the rows counted.
func (s *Store) planReplay(ctx context.Context, from, to time.Time, kinds []event.Kind, chunkRows int64) ([]time.Time, int64, error) {
	hours, err := s.countHours(ctx, from, to, kinds)
	if err != nil {
		return nil, 0, fmt.Errorf("plan replay: %w", err)
	}
	var cuts []time.Time
	var total, inChunk int64
	for _, h := range hours {
		if inChunk > 0 && inChunk+h.rows > chunkRows && h.start.After(from) {
			cuts = append(cuts, h.start)
			inChunk = 0
		}
		inChunk += h.rows
		total += h.rows
	}
	return cuts, total, nil
}

// hourCount is the number of rows stored in the hour starting at start.
type hourCount struct {
	start time.Time
	rows  int64
}

// countHours counts the rows of kinds in [from, to) per hour, in time order; hours without
// rows are left out.
func (s *Store) countHours(ctx context.Context, from, to time.Time, kinds []event.Kind) ([]hourCount, error) {
	where, params := rangeWhere(from, to)
	var branches []string
	for _, k := range kinds {
		branches = append(branches, "SELECT time FROM "+replayTables[k]+where)
	}
	q := `SELECT intDiv(toUnixTimestamp64Milli(time), 3600000) AS h, count() AS n FROM (` +
		strings.Join(branches, " UNION ALL ") + `) GROUP BY h ORDER BY h`
	qctx := clickhouse.Context(ctx, clickhouse.WithParameters(params), clickhouse.WithSettings(clickhouse.Settings{"readonly": 1}))
	rows, err := s.conn.Query(qctx, q)
	if err != nil {
		return nil, fmt.Errorf("count rows per hour: %w", err)
	}
	defer rows.Close()
	var hours []hourCount
	for rows.Next() {
		var h int64
		var n uint64
		if err := rows.Scan(&h, &n); err != nil {
			return nil, fmt.Errorf("count rows per hour: %w", err)
		}
		hours = append(hours, hourCount{time.UnixMilli(h * 3600000).UTC(), int64(n)})
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("count rows per hour: %w", err)
	}
	return hours, nil
}

// replayChunk streams the events of [from, to) to fn.
func (s *Store) replayChunk(ctx context.Context, from, to time.Time, kinds []event.Kind, timeout time.Duration,
	fn func(*event.Event) error) (int64, error) {
	where, params := rangeWhere(from, to)
	var branches []string
	for _, k := range kinds {
		branches = append(branches, replayBranch[k]+where)
	}
	q := "SELECT " + replayColumns + " FROM (" + strings.Join(branches, " UNION ALL ") + ") ORDER BY time, id"
	cctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	cctx = clickhouse.Context(cctx, clickhouse.WithParameters(params), clickhouse.WithSettings(clickhouse.Settings{"readonly": 1}))
	rows, err := s.conn.Query(cctx, q)
	if err != nil {
		return 0, fmt.Errorf("replay %s: %w", chunkName(from, to), err)
	}
	defer rows.Close()
	var n int64
	for rows.Next() {
		e, err := scanReplayRow(rows)
		if err != nil {
			return n, fmt.Errorf("replay %s, row %d: %w", chunkName(from, to), n+1, err)
		}
		if err := fn(e); err != nil {
			return n, err
		}
		n++
	}
	if err := rows.Err(); err != nil {
		return n, fmt.Errorf("replay %s: %w", chunkName(from, to), err)
	}
	return n, nil
}

type scanner interface{ Scan(dest ...any) error }

func scanReplayRow(rows scanner) (*event.Event, error) {
	e := &event.Event{}
	var kind string
	var records uint64
	var active bool
	if err := rows.Scan(&kind, &e.ID, &e.Time, &e.Org, &e.User, &e.Service, &e.ServiceName, &e.Result, &e.Method, &e.IP,
		&e.Country, &e.UserAgent, &e.Actor, &e.ActorRole, &e.Action, &e.Subject, &e.Resource, &e.Group, &records,
		&e.Op, &e.Affiliations, &e.PrimaryAffiliation, &e.Schools, &e.NINHash, &e.HiddenIdentity, &active, &e.GoType,
		&e.Role, &e.ContactTeacher, &e.School, &e.Change, &e.Guardian, &e.Child, &e.Status); err != nil {
		return nil, err
	}
	e.Kind = event.Kind(kind)
	e.Time = e.Time.UTC()
	e.Records = int64(records)
	if e.Kind == event.KindDirectory {
		e.Active = &active
	}
	if len(e.Affiliations) == 0 {
		e.Affiliations = nil
	}
	if len(e.Schools) == 0 {
		e.Schools = nil
	}
	return e, nil
}

func chunkName(from, to time.Time) string {
	f, t := "start", "end"
	if !from.IsZero() {
		f = from.UTC().Format(time.RFC3339)
	}
	if !to.IsZero() {
		t = to.UTC().Format(time.RFC3339)
	}
	return "[" + f + ", " + t + ")"
}

// ReplayDirectoryBefore calls fn for every stored directory event with time < before, in
// (time, id) order, chunk by chunk as Replay does: what a detector or a backtest starting at
// before knows of the directory. ReplayDirectory is the same without a bound, in smaller parts
// and without FINAL.
func (s *Store) ReplayDirectoryBefore(ctx context.Context, before time.Time, fn func(*event.Event) error) (int64, error) {
	return s.Replay(ctx, time.Time{}, before, ReplayOptions{Kinds: []event.Kind{event.KindDirectory}}, fn)
}
