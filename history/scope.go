package history

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/ClickHouse/clickhouse-go/v2"

	"breachd/directory"
	"breachd/event"
)

// ErrNotInScope is returned by Lookup for an account or person outside the asker's scope. It
// says no more than that (the API answers 404, as for an account nobody knows): whether the
// account exists elsewhere is not the asker's to learn.
var ErrNotInScope = errors.New("no such account in your organisations")

// inScope is the condition on org of every scoped query, with scopeParams: every row for a
// scope of all organisations, else those of the scope's organisations. Values are server-side
// parameters, never SQL text.
const inScope = ` AND ({all:UInt8} = 1 OR org IN {orgs:Array(String)})`

// scopeParams adds the parameters of inScope for sc to p.
func scopeParams(p clickhouse.Parameters, sc event.Scope) {
	p["all"], p["orgs"] = "0", arrayParam(sc.Orgs)
	if sc.All {
		p["all"], p["orgs"] = "1", "[]"
	}
}

// Realm returns the organisation part of a Feide account: what follows its last "@",
// lower-cased; "" when there is none (e.g. a guardian's "idporten:hash:…").
func Realm(account string) string {
	return strings.ToLower(strings.TrimSpace(directory.Realm(account)))
}

// targetOrg returns the organisation of the account or person who when it is in scope, and an
// error wrapping ErrNotInScope when not: its realm; or, for an account without one (a guardian),
// the first organisation in scope under which the history holds a directory record of it (as a
// person, member, guardian or child) or a login (one parameterised query). With a scope of every
// organisation a realm-less account nobody knows has organisation "".
func (s *Store) targetOrg(ctx context.Context, sc event.Scope, who string) (string, error) {
	if sc.Empty() {
		return "", fmt.Errorf("lookup of %s: %w", who, ErrNotInScope)
	}
	if realm := Realm(who); realm != "" {
		if !sc.All && !slices.ContainsFunc(sc.Orgs, func(o string) bool { return strings.EqualFold(o, realm) }) {
			return "", fmt.Errorf("lookup of %s: %w", who, ErrNotInScope)
		}
		return realm, nil
	}
	p := clickhouse.Parameters{"account": who}
	scopeParams(p, sc)
	var org string
	err := s.conn.QueryRow(withParams(ctx, p), `SELECT org FROM (
			SELECT org FROM directory_events
			WHERE (user = {account:String} OR guardian = {account:String} OR child = {account:String})`+inScope+`
			UNION ALL
			SELECT org FROM auth_events WHERE user = {account:String}`+inScope+`
		) ORDER BY org LIMIT 1`).Scan(&org)
	switch {
	case errors.Is(err, sql.ErrNoRows) && sc.All:
		return "", nil
	case errors.Is(err, sql.ErrNoRows):
		return "", fmt.Errorf("lookup of %s: %w", who, ErrNotInScope)
	case err != nil:
		return "", fmt.Errorf("organisation of %s: %w", who, err)
	}
	return org, nil
}
