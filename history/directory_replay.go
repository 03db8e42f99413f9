package history

import (
	"cmp"
	"container/heap"
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2"

	"breachd/event"
)

// Reading of ReplayDirectory: time chunks of up to directoryBudget rows; an hour holding more
// is read by organisation, the first rows of every organisation, then pages that double per
// organisation up to directoryPageMax while the rows held stay about directoryBudget.
const (
	directoryPageMin = 64
	directoryPageMax = 16_384
)

// directoryBudget is the rows ReplayDirectory holds at a time (a variable for tests).
var directoryBudget = 40_960

// ReplayDirectory calls fn for every stored directory event in (time, id) order, ties (the same
// time and id in two organisations) by org (ReplayDirectoryBefore's (time, id) order, which
// leaves such ties unordered), without a bound. A
// detector rebuilds its in-memory catalogue with it on start. Rows written twice (same org,
// time and id) are delivered once, the copy ingested last as far as the table knows: ingested
// is now64(3) at insert, so copies written in the same millisecond tie and either may stand.
// That is harmless, because copies are identical in practice: every detector writes every
// directory event it consumes, unchanged, and a redelivered batch carries the same events.
// Copies are adjacent in a query's result (sorted by ingested, latest first), so the collapse
// is done here, without FINAL's merge (which took 40 % of the rebuild). It returns the number
// of events delivered; an error of fn stops it and is returned unchanged. Each event is a new
// value fn may keep.
//
// It is not a snapshot: each chunk or page is a query of its own, so a row written during the
// replay is delivered only if the replay has not passed its key. That is safe for the
// detector, which replays before it consumes: it acks an event only after writing it to
// history, so every event it has acked is read; an event written meanwhile by another detector
// is still unacked on this detector's own consumer and is delivered to it again, and Apply is
// idempotent.
//
// A directory of Feide's size is some 10 M rows, and the embedded engine builds a query's
// whole result before sending it, so it is read in parts of about directoryBudget rows, never
// all at once. One aggregate query counts the rows per hour (as Replay does); consecutive hours
// up to directoryBudget rows are one query ordered by time, id and org. An hour holding more (a
// snapshot: the organisations' whole directories written at one time) is read by organisation:
// the table is sorted by org, time and id, so one organisation's rows of the hour in time order
// are a range of its sorting key, read page by page (keyset on time and id, written as time > t
// OR (time = t AND id > i): a tuple comparison would not narrow the primary-key range, and each
// page would re-read its organisation from the first row), and the organisations' pages are
// merged; it holds about directoryBudget rows (plus directoryPageMin per organisation), in pages
// of up to directoryPageMax rows. Both give (time, id, org) order over disjoint, contiguous time
// ranges, so the parts are read one after the other. A query costs the embedded engine some
// 8–10 ms of CPU whatever its size up to thousands of rows, so a directory whose organisations
// interleave is read in time chunks at about 5 µs of CPU a row for 40 organisations that all
// change every minute and 3.5 µs for 371 (BenchmarkReplayDirectoryInterleaved; by organisation
// it took 16–17 and 71–72 µs, and FINAL instead of the collapse here 9 and 7 µs); 1.3 M persons
// written at one time (10.5 M rows) take 80–120 s on two busy cores (history's
// TestDirectoryRebuildScale).
func (s *Store) ReplayDirectory(ctx context.Context, fn func(*event.Event) error) (int, error) {
	cuts, paged, err := s.planDirectory(ctx)
	if err != nil {
		return 0, err
	}
	n := 0
	var lo time.Time
	for i, byOrg := range paged {
		var hi time.Time
		if i < len(cuts) {
			hi = cuts[i]
		}
		read := s.directoryChunk
		if byOrg {
			read = s.directoryByOrg
		}
		got, err := read(ctx, lo, hi, fn)
		n += got
		if err != nil {
			return n, err
		}
		lo = hi
	}
	return n, nil
}

// planDirectory cuts the directory's time into contiguous parts, [zero, cut1), [cut1, cut2),
// ..., [cutN, zero) (zero: an open end), at hour boundaries: runs of hours holding up to
// directoryBudget rows, and single hours holding more, to be read by organisation (paged).
func (s *Store) planDirectory(ctx context.Context) (cuts []time.Time, paged []bool, err error) {
	hours, err := s.countHours(ctx, time.Time{}, time.Time{}, []event.Kind{event.KindDirectory})
	if err != nil {
		return nil, nil, fmt.Errorf("replay directory: %w", err)
	}
	paged = []bool{false}
	held := 0
	for _, h := range hours {
		big := h.rows > int64(directoryBudget)
		switch {
		case held > 0 && (big || paged[len(paged)-1] || held+int(h.rows) > directoryBudget):
			cuts, paged, held = append(cuts, h.start), append(paged, big), 0
		case big: // the first hour
			paged[0] = true
		}
		held += int(h.rows)
	}
	return cuts, paged, nil
}

// directoryChunk delivers the directory events of [from, to) in one query.
func (s *Store) directoryChunk(ctx context.Context, from, to time.Time, fn func(*event.Event) error) (int, error) {
	where, params := rangeWhere(from, to)
	qctx := clickhouse.Context(ctx, clickhouse.WithParameters(params), clickhouse.WithSettings(clickhouse.Settings{"readonly": 1}))
	rows, err := s.conn.Query(qctx, `SELECT `+directoryReplayColumns+` FROM directory_events`+where+` ORDER BY time, id, org, ingested DESC`)
	if err != nil {
		return 0, fmt.Errorf("replay directory %s: %w", chunkName(from, to), err)
	}
	defer rows.Close()
	n := 0
	var last *event.Event
	for rows.Next() {
		e, err := scanDirectoryRow(rows)
		if err != nil {
			return n, fmt.Errorf("replay directory %s: %w", chunkName(from, to), err)
		}
		if last != nil && last.ID == e.ID && last.Org == e.Org && last.Time.Equal(e.Time) {
			continue // a row written twice: the first, latest ingested, stands
		}
		if err := fn(e); err != nil {
			return n, err
		}
		last = e
		n++
	}
	if err := rows.Err(); err != nil {
		return n, fmt.Errorf("replay directory %s: %w", chunkName(from, to), err)
	}
	return n, nil
}

// directoryByOrg delivers the directory events of [from, to) by merging the organisations'
// pages.
func (s *Store) directoryByOrg(ctx context.Context, from, to time.Time, fn func(*event.Event) error) (int, error) {
	orgs, err := s.directoryOrgs(ctx, from, to)
	if err != nil {
		return 0, err
	}
	var h dirHeap
	held := 0
	for _, org := range orgs {
		c := &dirCursor{org: org, from: from, to: to}
		if err := s.fillDirectory(ctx, c, directoryPageMin); err != nil {
			return 0, err
		}
		held += len(c.rows)
		if len(c.rows) > 0 {
			h = append(h, c)
		}
	}
	heap.Init(&h)
	n := 0
	for len(h) > 0 {
		c := h[0]
		if err := fn(c.rows[c.pos]); err != nil {
			return n, err
		}
		c.rows[c.pos] = nil // delivered: fn keeps it if it needs it
		n++
		held--
		if c.pos++; c.pos < len(c.rows) {
			heap.Fix(&h, 0)
			continue
		}
		if c.done {
			heap.Pop(&h)
			continue
		}
		size := min(2*c.size, directoryPageMax, max(directoryPageMin, directoryBudget-held))
		if err := s.fillDirectory(ctx, c, size); err != nil {
			return n, err
		}
		held += len(c.rows)
		if len(c.rows) == 0 {
			heap.Pop(&h)
		} else {
			heap.Fix(&h, 0)
		}
	}
	return n, nil
}

// directoryOrgs lists the organisations of the stored directory events of [from, to).
func (s *Store) directoryOrgs(ctx context.Context, from, to time.Time) ([]string, error) {
	where, params := rangeWhere(from, to)
	qctx := clickhouse.Context(ctx, clickhouse.WithParameters(params), clickhouse.WithSettings(clickhouse.Settings{"readonly": 1}))
	rows, err := s.conn.Query(qctx, `SELECT DISTINCT org FROM directory_events`+where+` ORDER BY org`)
	if err != nil {
		return nil, fmt.Errorf("replay directory: list organisations: %w", err)
	}
	defer rows.Close()
	var orgs []string
	for rows.Next() {
		var org string
		if err := rows.Scan(&org); err != nil {
			return nil, fmt.Errorf("replay directory: list organisations: %w", err)
		}
		orgs = append(orgs, org)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("replay directory: list organisations: %w", err)
	}
	return orgs, nil
}

// dirCursor reads one organisation's directory events of [from, to) in (time, id) order.
type dirCursor struct {
	org      string
	from, to time.Time      // zero: an open end
	rows     []*event.Event // the current page; rows[pos] is the next event, those before it are nil
	pos      int
	size     int  // rows asked for the current page
	done     bool // the current page is the last
	// The key of the current page's last row, where the next page starts; after is false
	// before the first page.
	after    bool
	lastTime time.Time
	lastID   string
}

// directoryReplayColumns is the column list scanDirectoryRow reads.
const directoryReplayColumns = `id, time, org, op, user, affiliations, primary_affiliation, schools, nin_hash,
	hidden_identity, active, group, go_type, role, contact_teacher, school, change, guardian, child, status`

func scanDirectoryRow(rows scanner) (*event.Event, error) {
	e := &event.Event{Kind: event.KindDirectory}
	var active bool
	if err := rows.Scan(&e.ID, &e.Time, &e.Org, &e.Op, &e.User, &e.Affiliations, &e.PrimaryAffiliation, &e.Schools, &e.NINHash,
		&e.HiddenIdentity, &active, &e.Group, &e.GoType, &e.Role, &e.ContactTeacher, &e.School, &e.Change, &e.Guardian, &e.Child, &e.Status); err != nil {
		return nil, err
	}
	e.Active = &active
	return e, nil
}

// fillDirectory replaces c's page with the next size rows after its last one.
func (s *Store) fillDirectory(ctx context.Context, c *dirCursor, size int) error {
	where, params := rangeWhere(c.from, c.to)
	if where == "" {
		where = " WHERE org = {org:String}"
	} else {
		where += " AND org = {org:String}"
	}
	params["org"] = c.org
	if c.after {
		where += " AND (time > {t:DateTime64(3, 'UTC')} OR (time = {t:DateTime64(3, 'UTC')} AND id > {id:String}))"
		params["t"] = c.lastTime.UTC().Format("2006-01-02 15:04:05.000")
		params["id"] = c.lastID
	}
	qctx := clickhouse.Context(ctx, clickhouse.WithParameters(params), clickhouse.WithSettings(clickhouse.Settings{"readonly": 1}))
	rows, err := s.conn.Query(qctx, fmt.Sprintf(`SELECT %s FROM directory_events%s ORDER BY org, time, id, ingested DESC LIMIT %d`,
		directoryReplayColumns, where, size))
	if err != nil {
		return fmt.Errorf("replay directory of %s: %w", c.org, err)
	}
	defer rows.Close()
	var page []*event.Event // grown by append: an organisation's last page is often short
	read := 0
	for rows.Next() {
		read++
		e, err := scanDirectoryRow(rows)
		if err != nil {
			return fmt.Errorf("replay directory of %s: %w", c.org, err)
		}
		if n := len(page); n > 0 && page[n-1].ID == e.ID && page[n-1].Time.Equal(e.Time) {
			continue // a row written twice: the first, latest ingested, stands
		}
		page = append(page, e)
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("replay directory of %s: %w", c.org, err)
	}
	c.rows, c.pos, c.size, c.done = page, 0, size, read < size
	if n := len(page); n > 0 {
		c.after, c.lastTime, c.lastID = true, page[n-1].Time, page[n-1].ID
	}
	return nil
}

// dirHeap orders cursors by their next event's (time, id, org).
type dirHeap []*dirCursor

func (h dirHeap) Len() int { return len(h) }
func (h dirHeap) Less(i, j int) bool {
	a, b := h[i].rows[h[i].pos], h[j].rows[h[j].pos]
	if c := a.Time.Compare(b.Time); c != 0 {
		return c < 0
	}
	return cmp.Or(strings.Compare(a.ID, b.ID), strings.Compare(a.Org, b.Org)) < 0
}
func (h dirHeap) Swap(i, j int) { h[i], h[j] = h[j], h[i] }
func (h *dirHeap) Push(x any)   { *h = append(*h, x.(*dirCursor)) }
func (h *dirHeap) Pop() any {
	old := *h
	c := old[len(old)-1]
	old[len(old)-1] = nil // a finished cursor's last page is garbage
	*h = old[:len(old)-1]
	return c
}
