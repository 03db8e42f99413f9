package history

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2"
	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"

	"breachd/event"
)

// The admin questions of a breach (steps 3 and 4 of the procedure): which services an account
// logged into, whose data it touched, who touched a person's data, and everything an account
// did, in order. Each is audited before any data is read (see Asker), takes a half-open window
// [from, to) of at most MaxWindow, passes every value as a server-side parameter, and reads
// with FINAL (Subject collapses copies itself, see subjectQuery) so that redelivered rows are
// counted once. The caller bounds the time with ctx.
//
// People's lookups go through Lookup, which holds them to the asker's scope (the account must
// be in it, and every query reads only rows of the scope's organisations). The methods Logins,
// Access, Subject and Timeline see every organisation: they are the pipeline's (evidence of an
// incident) and the operator's on the box.

// LoginRow is the logins of an account to one service.
type LoginRow struct {
	Service     string
	ServiceName string
	First, Last time.Time
	Successes   uint64
	Failures    uint64
	IPs         []string // distinct, sorted, at most MaxDistinct
	Countries   []string // distinct, sorted, at most MaxDistinct
}

// MaxDistinct bounds the distinct IPs and countries listed per service.
const MaxDistinct = 20

var maxDistinct = strconv.Itoa(MaxDistinct)

// window is the condition on time of every lookup, with windowParams.
const window = `time >= {from_t:DateTime64(3, 'UTC')} AND time < {to_t:DateTime64(3, 'UTC')}`

// windowParams are the parameters of window: [from, to) at the tables' millisecond precision.
func windowParams(from, to time.Time) clickhouse.Parameters {
	const layout = "2006-01-02 15:04:05.000"
	return clickhouse.Parameters{"from_t": from.UTC().Format(layout), "to_t": to.UTC().Format(layout)}
}

// lookupParams are the parameters of window and inScope.
func lookupParams(sc event.Scope, from, to time.Time) clickhouse.Parameters {
	p := windowParams(from, to)
	scopeParams(p, sc)
	return p
}

func withParams(ctx context.Context, p clickhouse.Parameters) context.Context {
	return clickhouse.Context(ctx, clickhouse.WithParameters(p))
}

// queryAll runs query and reads every row into a T through the scan destinations fields
// gives; what names the query in errors.
func queryAll[T any](ctx context.Context, conn driver.Conn, what, query string, fields func(*T) []any) ([]T, error) {
	rows, err := conn.Query(ctx, query)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", what, err)
	}
	defer rows.Close()
	var out []T
	for rows.Next() {
		var r T
		if err := rows.Scan(fields(&r)...); err != nil {
			return nil, fmt.Errorf("%s: row %d: %w", what, len(out)+1, err)
		}
		out = append(out, r)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("%s: %w", what, err)
	}
	return out, nil
}

// The queries of Logins and Access, also recorded with every evidence snapshot (QueryText).
var (
	loginsQuery = `SELECT service, any(service_name), min(time) AS first, max(time),
		countIf(result = 'success'), countIf(result != 'success'),
		arraySort(groupUniqArrayIf(` + maxDistinct + `)(ip, ip != '')), arraySort(groupUniqArrayIf(` + maxDistinct + `)(toString(country), country != ''))
		FROM auth_events FINAL WHERE user = {account:String} AND ` + window + inScope + `
		GROUP BY service ORDER BY first, service`
	// accessQuery is Access's one read; the totals per resource and overall are summed from its
	// rows (accessTotals), which hold every (subject, resource, action) of the window.
	accessQuery = `SELECT subject, toString(resource) AS r, toString(action) AS a, count(), sum(records), min(time), max(time)
		FROM access_events FINAL WHERE actor = {account:String} AND ` + window + inScope + `
		GROUP BY subject, r, a ORDER BY subject, r, a`
)

// Evidence kinds: the answer of Logins (step 3 of the procedure) or of Access (step 4).
const (
	EvidenceLogins = "logins"
	EvidenceAccess = "access"
)

// QueryText returns the SQL behind an evidence kind ("" for others), with its parameters
// {account}, {from_t}, {to_t}, {all} and {orgs} unsubstituted (evidence is taken with all = 1).
func QueryText(kind string) string {
	switch kind {
	case EvidenceLogins:
		return loginsQuery
	case EvidenceAccess:
		return accessQuery + "\n-- totals: per resource and overall, the distinct subjects and the sums of these rows"
	}
	return ""
}

// Logins returns, per service, the logins of account in [from, to), by first login.
func (s *Store) Logins(ctx context.Context, ask Asker, account string, from, to time.Time) ([]LoginRow, error) {
	return s.logins(ctx, event.Everywhere, ask, account, from, to)
}

func (s *Store) logins(ctx context.Context, sc event.Scope, ask Asker, account string, from, to time.Time) ([]LoginRow, error) {
	if err := s.admit(ctx, sc, ask, AuditLogins, account, from, to, ""); err != nil {
		return nil, err
	}
	p := lookupParams(sc, from, to)
	p["account"] = account
	return queryAll(withParams(ctx, p), s.conn, "logins of "+account, loginsQuery, func(r *LoginRow) []any {
		return []any{&r.Service, &r.ServiceName, &r.First, &r.Last, &r.Successes, &r.Failures, &r.IPs, &r.Countries}
	})
}

// AccessRow is what an account did to one person's data of one resource category.
type AccessRow struct {
	Subject, Resource, Action string
	Events, Records           uint64
	First, Last               time.Time
}

// AccessTotal counts people and records, for one resource category or for all.
type AccessTotal struct {
	Resource string // empty in the overall total
	People   uint64 // distinct subjects
	Records  uint64 // sum of records
	Events   uint64
}

// AccessSummary answers "whose data did the account see, change, delete or export": the
// numbers GDPR Art. 33(3)(a) asks for (approximate number of people and of records).
type AccessSummary struct {
	Rows       []AccessRow   // by subject, resource, action
	ByResource []AccessTotal // by resource category
	Total      AccessTotal   // over everything
}

// Access returns what account did to whose data in [from, to).
func (s *Store) Access(ctx context.Context, ask Asker, account string, from, to time.Time) (AccessSummary, error) {
	return s.access(ctx, event.Everywhere, ask, account, from, to)
}

func (s *Store) access(ctx context.Context, sc event.Scope, ask Asker, account string, from, to time.Time) (AccessSummary, error) {
	var sum AccessSummary
	if err := s.admit(ctx, sc, ask, AuditAccess, account, from, to, ""); err != nil {
		return sum, err
	}
	p := lookupParams(sc, from, to)
	p["account"] = account
	ctx = withParams(ctx, p)
	rows, err := queryAll(ctx, s.conn, "access of "+account, accessQuery, func(r *AccessRow) []any {
		return []any{&r.Subject, &r.Resource, &r.Action, &r.Events, &r.Records, &r.First, &r.Last}
	})
	if err != nil {
		return sum, err
	}
	return accessTotals(rows), nil
}

// accessTotals is the summary of rows, which are sorted by subject, resource and action: the
// totals per resource (sorted by resource) and overall count distinct subjects and sum records
// and events.
func accessTotals(rows []AccessRow) AccessSummary {
	sum := AccessSummary{Rows: rows}
	byResource := map[string]*AccessTotal{}
	lastSubject := map[string]string{} // per resource, the subject last counted
	for i, r := range rows {
		t := byResource[r.Resource]
		if t == nil {
			t = &AccessTotal{Resource: r.Resource}
			byResource[r.Resource] = t
		}
		if last, seen := lastSubject[r.Resource]; !seen || last != r.Subject {
			t.People++
			lastSubject[r.Resource] = r.Subject
		}
		t.Records += r.Records
		t.Events += r.Events
		if i == 0 || rows[i-1].Subject != r.Subject {
			sum.Total.People++
		}
		sum.Total.Records += r.Records
		sum.Total.Events += r.Events
	}
	for _, res := range slices.Sorted(maps.Keys(byResource)) {
		sum.ByResource = append(sum.ByResource, *byResource[res])
	}
	return sum
}

// SubjectRow is what one actor did to a person's data of one resource category.
type SubjectRow struct {
	Actor, ActorRole, Resource, Action string
	Events, Records                    uint64
	First, Last                        time.Time
}

// subjectQuery is Subject's read. access_events is sorted by actor; its bloom filter index on
// subject (migration 5) picks the granules that hold the person's rows. FINAL would undo that
// choice (it widens the read to every granule whose key range overlaps a chosen one, in every
// part, which for a table sorted by actor is nearly all of them), so the query collapses a row
// stored twice itself, as FINAL would: one row per sort key (actor, time, id). The copies of a
// row are one event written twice (ingest gives an event one id and content), so which of them
// is kept changes nothing; two different events published under one id would be kept
// arbitrarily here, where FINAL (Access) keeps the last inserted.
const subjectQuery = `SELECT actor, toString(actor_role) AS ro, toString(resource) AS r,
		toString(action) AS a, count(), sum(records), min(time) AS first, max(time)
	FROM (SELECT actor, actor_role, resource, action, records, time, id FROM access_events
		WHERE subject = {person:String} AND ` + window + inScope + `
		LIMIT 1 BY actor, time, id)
	GROUP BY actor, ro, r, a ORDER BY first, actor, r, a`

// Subject returns who accessed person's data in [from, to), by first access.
func (s *Store) Subject(ctx context.Context, ask Asker, person string, from, to time.Time) ([]SubjectRow, error) {
	return s.subject(ctx, event.Everywhere, ask, person, from, to)
}

func (s *Store) subject(ctx context.Context, sc event.Scope, ask Asker, person string, from, to time.Time) ([]SubjectRow, error) {
	if err := s.admit(ctx, sc, ask, AuditSubject, person, from, to, ""); err != nil {
		return nil, err
	}
	p := lookupParams(sc, from, to)
	p["person"] = person
	return queryAll(withParams(ctx, p), s.conn, "accesses to "+person, subjectQuery, func(r *SubjectRow) []any {
		return []any{&r.Actor, &r.ActorRole, &r.Resource, &r.Action, &r.Events, &r.Records, &r.First, &r.Last}
	})
}

// TimelineRow is one thing an account did (or that happened to it in the directory).
type TimelineRow struct {
	Time     time.Time
	Kind     string // auth, access, directory
	ID       string
	Action   string // auth: the result; access: the action; directory: the op, change and status
	Target   string // auth: the service; access: the subject; directory: the group, school or other party
	Resource string // access only
	Records  uint64 // access only
	IP       string
	Country  string
}

// Timeline limits.
const (
	DefaultTimelineLimit = 1000
	MaxTimelineLimit     = 100000
)

// Timeline returns the logins and accesses of account and the directory changes of it (as a
// person, a group member, a guardian or a child) in [from, to), in (time, kind, id) order, at
// most limit rows (0: DefaultTimelineLimit).
func (s *Store) Timeline(ctx context.Context, ask Asker, account string, from, to time.Time, limit int) ([]TimelineRow, error) {
	return s.timeline(ctx, event.Everywhere, ask, account, from, to, limit)
}

func (s *Store) timeline(ctx context.Context, sc event.Scope, ask Asker, account string, from, to time.Time, limit int) ([]TimelineRow, error) {
	if limit <= 0 {
		limit = DefaultTimelineLimit
	}
	if limit > MaxTimelineLimit {
		return nil, fmt.Errorf("timeline: limit %d is above the maximum of %d", limit, MaxTimelineLimit)
	}
	if err := s.admit(ctx, sc, ask, AuditTimeline, account, from, to, fmt.Sprintf("limit=%d", limit)); err != nil {
		return nil, err
	}
	p := lookupParams(sc, from, to)
	p["account"] = account
	p["limit"] = fmt.Sprint(limit)
	return queryAll(withParams(ctx, p), s.conn, "timeline of "+account, `SELECT time, kind, id, action, target, resource, records, ip, country FROM (
		SELECT time, 'auth' AS kind, id, toString(result) AS action, toString(service) AS target, '' AS resource,
			toUInt64(0) AS records, ip, toString(country) AS country
		FROM auth_events FINAL WHERE user = {account:String} AND `+window+inScope+`
		UNION ALL
		SELECT time, 'access', id, toString(action), subject, toString(resource), records, ip, toString(country)
		FROM access_events FINAL WHERE actor = {account:String} AND `+window+inScope+`
		UNION ALL
		SELECT time, 'directory', id, arrayStringConcat(arrayFilter(x -> x != '', [toString(op), toString(change), toString(status)]), ' '),
			multiIf(op = 'guardianship', if(guardian = {account:String}, child, guardian), group != '', group, school),
			'', toUInt64(0), '', ''
		FROM directory_events FINAL
		WHERE (user = {account:String} OR guardian = {account:String} OR child = {account:String}) AND `+window+inScope+`
	) ORDER BY time, kind, id LIMIT {limit:UInt32}`, func(r *TimelineRow) []any {
		return []any{&r.Time, &r.Kind, &r.ID, &r.Action, &r.Target, &r.Resource, &r.Records, &r.IP, &r.Country}
	})
}
