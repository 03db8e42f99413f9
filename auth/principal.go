// Package auth is who is asking and what they may do: people signed in through OpenID Connect
// or as local users, and API tokens; their roles and organisations; sessions, CSRF and the
// sign-in handlers of the HTTP API. The permission matrix (Allowed) is the contract the API
// enforces and docs/access.md describes.
package auth

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"breachd/event"
)

// Role is what a person does with breachd.
type Role string

// The roles.
const (
	RoleSOC        Role = "soc"         // the security operations team: every organisation
	RoleOrgAdmin   Role = "org-admin"   // a school owner's Feide administrator: their organisations
	RoleDPO        Role = "dpo"         // a data protection officer: their organisations
	RoleRuleAuthor Role = "rule-author" // writes and tunes rules: no personal data
	RoleAdmin      Role = "admin"       // users, tokens, configuration status
)

// Roles are all the roles, in the order the docs list them.
var Roles = []Role{RoleSOC, RoleOrgAdmin, RoleDPO, RoleRuleAuthor, RoleAdmin}

// ParseRole returns the role named s, or an error naming the valid ones.
func ParseRole(s string) (Role, error) {
	r := Role(strings.TrimSpace(s))
	if !slices.Contains(Roles, r) {
		names := make([]string, len(Roles))
		for i, r := range Roles {
			names[i] = string(r)
		}
		return "", fmt.Errorf("unknown role %q (want one of %s)", s, strings.Join(names, ", "))
	}
	return r, nil
}

// Issuers of principals that do not come from an OpenID Connect provider.
const (
	IssuerLocal = "breachd:local" // local users and their API tokens
	IssuerOS    = "breachd:os"    // the operator on the box (direct mode): the OS user
)

// Principal is an authenticated caller: a person signed in (a session), or an API token acting
// for its user, or a bearer token of the OpenID Connect provider. Its identity (Issuer,
// Subject) is what the audit log and incident timelines record, never a name the caller chose.
type Principal struct {
	Issuer  string   `json:"issuer"`  // IssuerLocal, IssuerOS, or the OIDC issuer URL
	Subject string   `json:"subject"` // stable within the issuer: the local user name, the OIDC sub
	Name    string   `json:"name"`    // for people to read: an e-mail address or display name
	Roles   []Role   `json:"roles"`
	Orgs    []string `json:"orgs"` // the organisations of org-admin and dpo
	Via     string   `json:"via"`  // ViaSession, ViaToken, ViaBearer, ViaDirect
}

// How a principal authenticated.
const (
	ViaSession = "session" // a browser session (cookie; state changes need the CSRF token)
	ViaToken   = "token"   // a breachd API token
	ViaBearer  = "bearer"  // an ID token of the OIDC provider
	ViaDirect  = "direct"  // the CLI on the box, without a server
)

// Has reports whether p holds role r.
func (p *Principal) Has(r Role) bool { return p != nil && slices.Contains(p.Roles, r) }

// Actor is how p reads in an incident's timeline and the audit log's actor column:
// "name (subject@issuer)"; the identity columns of the audit log hold the parts.
func (p *Principal) Actor() string {
	id := p.Subject + "@" + p.Issuer
	if p.Name == "" || p.Name == p.Subject {
		return id
	}
	return p.Name + " (" + id + ")"
}

// RoleNames returns p's roles as strings (for the audit log).
func (p *Principal) RoleNames() []string {
	out := make([]string, len(p.Roles))
	for i, r := range p.Roles {
		out[i] = string(r)
	}
	return out
}

// Scope is the organisations whose data p may see when acting as role r (which p must hold,
// else nothing): every organisation for soc and admin, p.Orgs for org-admin and dpo, nothing
// for rule-author.
func (p *Principal) Scope(r Role) event.Scope {
	switch {
	case !p.Has(r):
		return event.Scope{}
	case r == RoleSOC || r == RoleAdmin:
		return event.Everywhere
	case r == RoleOrgAdmin || r == RoleDPO:
		return event.OrgScope(p.Orgs...)
	}
	return event.Scope{}
}

// ScopeFor is the union of the scopes of p's roles that allow action a: the organisations
// whose data p may see when doing a. The zero Scope (nothing) when no role of p allows a.
func (p *Principal) ScopeFor(a Action) event.Scope {
	var s event.Scope
	for _, r := range Allowed[a] {
		rs := p.Scope(r)
		if rs.All {
			return event.Everywhere
		}
		for _, o := range rs.Orgs {
			if !slices.Contains(s.Orgs, o) {
				s.Orgs = append(s.Orgs, o)
			}
		}
	}
	return s
}

// May reports whether some role of p allows action a (for actions on personal data, the
// organisations come from ScopeFor).
func (p *Principal) May(a Action) bool {
	if p == nil {
		return false
	}
	return slices.ContainsFunc(Allowed[a], p.Has)
}

// Action is one thing the API does. Allowed says which roles may do it.
type Action string

// The actions of the API.
const (
	IncidentsRead   Action = "incidents.read"   // list, show, evidence list, the Art. 33 draft preview
	IncidentsWork   Action = "incidents.work"   // ack, transition, comment, evidence refresh, deactivate/approve/cancel/reactivate
	IncidentsReport Action = "incidents.report" // fill the Art. 33 fields, the Art. 34 decision, mark reported
	RegisterRead    Action = "register.read"    // the breach register (Art. 33(5))
	HistoryLookup   Action = "history.lookup"   // logins, access, subject, timeline of an account or person
	HistorySQL      Action = "history.sql"      // read-only SQL over all organisations
	AuditRead       Action = "audit.read"       // who looked up whose history, when, why
	RulesRead       Action = "rules.read"       // loaded rules, hit statistics, last reload
	RulesTest       Action = "rules.test"       // lint/test a rule file, backtest (accounts as counts)
	DLQRead         Action = "dlq.read"         // dead letters (raw events: every organisation)
	DLQReplay       Action = "dlq.replay"
	UsersAdmin      Action = "users.admin" // users and tokens
	StatusRead      Action = "status.read" // configuration status
)

// Allowed is the permission matrix: the roles that may do each action. Actions on personal
// data are further limited to the organisations of Principal.ScopeFor.
var Allowed = map[Action][]Role{
	IncidentsRead:   {RoleSOC, RoleOrgAdmin, RoleDPO},
	IncidentsWork:   {RoleSOC},
	IncidentsReport: {RoleDPO},
	RegisterRead:    {RoleSOC, RoleOrgAdmin, RoleDPO},
	HistoryLookup:   {RoleSOC, RoleOrgAdmin},
	HistorySQL:      {RoleSOC},
	AuditRead:       {RoleDPO},
	RulesRead:       {RoleRuleAuthor, RoleSOC},
	RulesTest:       {RoleRuleAuthor, RoleSOC},
	DLQRead:         {RoleSOC},
	DLQReplay:       {RoleSOC},
	UsersAdmin:      {RoleAdmin},
	StatusRead:      {RoleAdmin, RoleSOC},
}

type ctxKey struct{}

// NewContext returns ctx carrying p.
func NewContext(ctx context.Context, p *Principal) context.Context {
	return context.WithValue(ctx, ctxKey{}, p)
}

// FromContext returns the principal of ctx, or nil.
func FromContext(ctx context.Context) *Principal {
	p, _ := ctx.Value(ctxKey{}).(*Principal)
	return p
}
