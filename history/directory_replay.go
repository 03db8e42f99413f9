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

// Paging of ReplayDirectory: the first rows of every organisation, then pages that double per
// organisation up to directoryPageMax while the rows held stay about directoryBudget.
const (
	directoryPageMin = 64
	directoryPageMax = 16_384
	directoryBudget  = 40_960
)

// ReplayDirectory calls fn for every stored directory event in (time, id) order, ties (the same
// time and id in two organisations) by org: ReplayDirectoryBefore's order, without a bound. A
// detector rebuilds its in-memory catalogue with it on start. Rows written twice (same org,
// time and id) are delivered once, the copy ingested last as far as the table knows: ingested
// is now64(3) at insert, so copies written in the same millisecond tie and either may stand.
// That is harmless, because copies are identical in practice: every detector writes every
// directory event it consumes, unchanged, and a redelivered batch carries the same events.
// Copies are adjacent in a page (sorted by ingested, latest first) and the next page starts
// after the last key, so the collapse is done here, without FINAL's merge (which took 40 % of
// the rebuild). It returns the number of events delivered; an error of fn stops it and is
// returned unchanged. Each event is a new value fn may keep.
//
// It is not a snapshot: each page is a query of its own, so a row written during the replay
// is delivered only if its organisation's cursor has not passed its key. That is safe for the
// detector, which replays before it consumes: it acks an event only after writing it to
// history, so every event it has acked is read; an event written meanwhile by another detector
// is still unacked on this detector's own consumer and is delivered to it again, and Apply is
// idempotent.
//
// A directory of Feide's size is some 10 M rows, and the embedded engine builds a query's
// whole result before sending it, so it is read in pages, never all at once: the table is
// sorted by org, time and id, so one organisation's rows in time order are a range of its
// sorting key, read page by page (keyset on time and id, written as time > t OR (time = t AND
// id > i): a tuple comparison would not narrow the primary-key range, and each page would
// re-read its organisation from the first row), and the organisations' pages are merged. It
// holds about directoryBudget rows (plus directoryPageMin per organisation) at a time: a
// snapshot, one organisation after the other at one time, is read in pages of up to
// directoryPageMax rows; organisations whose changes interleave in time are read in smaller
// pages, with more queries. 1.3 M persons (10.5 M rows) take 80–120 s on two busy cores
// (history's TestDirectoryRebuildScale). A page costs the embedded engine some 8–10 ms of CPU
// whatever its size up to thousands of rows (it reads at least a granule, 8192 rows, of every
// column), so a history whose organisations interleave costs about that per directoryBudget /
// organisations rows: 16–17 µs of CPU a row for 40 organisations that all change every minute
// (BenchmarkReplayDirectoryInterleaved), 77 µs a row for 371 (the benchmark with 371 × 1 000),
// where ReplayDirectoryBefore's hour chunks take 5 µs a row.
func (s *Store) ReplayDirectory(ctx context.Context, fn func(*event.Event) error) (int, error) {
	orgs, err := s.directoryOrgs(ctx)
	if err != nil {
		return 0, err
	}
	var h dirHeap
	held := 0
	for _, org := range orgs {
		c := &dirCursor{org: org}
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

// directoryOrgs lists the organisations of the stored directory events.
func (s *Store) directoryOrgs(ctx context.Context) ([]string, error) {
	qctx := clickhouse.Context(ctx, clickhouse.WithSettings(clickhouse.Settings{"readonly": 1}))
	rows, err := s.conn.Query(qctx, `SELECT DISTINCT org FROM directory_events ORDER BY org`)
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
	return orgs, rows.Err()
}

// dirCursor reads one organisation's directory events in (time, id) order.
type dirCursor struct {
	org  string
	rows []*event.Event // the current page; rows[pos] is the next event, those before it are nil
	pos  int
	size int  // rows asked for the current page
	done bool // the current page is the last
	// The key of the current page's last row, where the next page starts; after is false
	// before the first page.
	after    bool
	lastTime time.Time
	lastID   string
}

// fillDirectory replaces c's page with the next size rows after its last one.
func (s *Store) fillDirectory(ctx context.Context, c *dirCursor, size int) error {
	params := clickhouse.Parameters{"org": c.org}
	where := "org = {org:String}"
	if c.after {
		where += " AND (time > {t:DateTime64(3, 'UTC')} OR (time = {t:DateTime64(3, 'UTC')} AND id > {id:String}))"
		params["t"] = c.lastTime.UTC().Format("2006-01-02 15:04:05.000")
		params["id"] = c.lastID
	}
	qctx := clickhouse.Context(ctx, clickhouse.WithParameters(params), clickhouse.WithSettings(clickhouse.Settings{"readonly": 1}))
	rows, err := s.conn.Query(qctx, fmt.Sprintf(`SELECT id, time, org, op, user, affiliations, primary_affiliation, schools, nin_hash,
		hidden_identity, active, group, go_type, role, contact_teacher, school, change, guardian, child, status
		FROM directory_events WHERE %s ORDER BY org, time, id, ingested DESC LIMIT %d`, where, size))
	if err != nil {
		return fmt.Errorf("replay directory of %s: %w", c.org, err)
	}
	defer rows.Close()
	var page []*event.Event // grown by append: an organisation's last page is often short
	read := 0
	for rows.Next() {
		read++
		e := &event.Event{Kind: event.KindDirectory}
		var active bool
		if err := rows.Scan(&e.ID, &e.Time, &e.Org, &e.Op, &e.User, &e.Affiliations, &e.PrimaryAffiliation, &e.Schools, &e.NINHash,
			&e.HiddenIdentity, &active, &e.Group, &e.GoType, &e.Role, &e.ContactTeacher, &e.School, &e.Change, &e.Guardian, &e.Child, &e.Status); err != nil {
			return fmt.Errorf("replay directory of %s: %w", c.org, err)
		}
		e.Active = &active
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
