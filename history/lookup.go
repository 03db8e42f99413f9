package history

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2"

	"breachd/event"
)

// The history lookups rules use (rules.Lookup). Each is one parameterised query (server-side
// parameters: no value is ever spliced into SQL text) over a time range of an account, which
// the tables' sort keys (auth_events by user and time, directory_events by org and time) turn
// into a narrow range read. Periods are half-open, [since, before), at the tables' millisecond
// precision; a detector passes the evaluated event's time as before, so the event itself is
// never part of its own answer, also when it is already stored (a replay or a redelivery).
// Neither reads with FINAL: a row stored twice does not change a latest time or record.
// The caller bounds the time of a call with ctx.

// LastLogin returns the time of user's latest successful login in [since, before), to service
// when service is not empty and from country when country is not empty; the zero time when
// there is none.
func (s *Store) LastLogin(ctx context.Context, user, service, country string, since, before time.Time) (time.Time, error) {
	q := `SELECT time FROM auth_events
		WHERE user = {user:String} AND result = 'success'
		AND time >= fromUnixTimestamp64Milli({since:Int64}, 'UTC') AND time < fromUnixTimestamp64Milli({before:Int64}, 'UTC')`
	params := periodParams(since, before)
	params["user"] = user
	if service != "" {
		q += ` AND service = {service:String}`
		params["service"] = service
	}
	if country != "" {
		q += ` AND country = {country:String}`
		params["country"] = country
	}
	q += ` ORDER BY time DESC LIMIT 1`
	var t time.Time
	err := s.conn.QueryRow(clickhouse.Context(ctx, clickhouse.WithParameters(params)), q).Scan(&t)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return time.Time{}, nil
	case err != nil:
		return time.Time{}, fmt.Errorf("last login lookup: %w", err)
	}
	return t, nil
}

// LastPerson returns the latest directory person event of user in realm org in [since,
// before); ok is false when there is none. Of two records at the same time, the one ingested
// last is taken.
func (s *Store) LastPerson(ctx context.Context, org, user string, since, before time.Time) (event.Event, bool, error) {
	params := periodParams(since, before)
	params["org"], params["user"] = org, user
	e := event.Event{Kind: event.KindDirectory}
	var active bool
	err := s.conn.QueryRow(clickhouse.Context(ctx, clickhouse.WithParameters(params)), `SELECT id, time, org, op, user,
		affiliations, primary_affiliation, schools, nin_hash, hidden_identity, active
		FROM directory_events
		WHERE org = {org:String} AND op = 'person' AND user = {user:String}
		AND time >= fromUnixTimestamp64Milli({since:Int64}, 'UTC') AND time < fromUnixTimestamp64Milli({before:Int64}, 'UTC')
		ORDER BY time DESC, ingested DESC LIMIT 1`).Scan(&e.ID, &e.Time, &e.Org, &e.Op, &e.User,
		&e.Affiliations, &e.PrimaryAffiliation, &e.Schools, &e.NINHash, &e.HiddenIdentity, &active)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return event.Event{}, false, nil
	case err != nil:
		return event.Event{}, false, fmt.Errorf("last person lookup: %w", err)
	}
	e.Active = &active
	return e, true, nil
}

// periodParams are the query parameters of [since, before), in Unix milliseconds.
func periodParams(since, before time.Time) clickhouse.Parameters {
	return clickhouse.Parameters{
		"since":  strconv.FormatInt(since.UnixMilli(), 10),
		"before": strconv.FormatInt(before.UnixMilli(), 10),
	}
}
