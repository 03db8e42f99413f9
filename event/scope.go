package event

import "slices"

// Scope is the organisations (Feide realms, the org of events and incidents) whose data a
// request may see: every organisation (All), or those in Orgs. The zero Scope sees nothing,
// so a request whose scope was never set fails closed.
type Scope struct {
	All  bool
	Orgs []string
}

// Everywhere is the scope of the operator on the box and of the pipeline's own stages.
var Everywhere = Scope{All: true}

// OrgScope is the scope of the organisations orgs.
func OrgScope(orgs ...string) Scope { return Scope{Orgs: slices.Clone(orgs)} }

// Contains reports whether org is in the scope.
func (s Scope) Contains(org string) bool { return s.All || (org != "" && slices.Contains(s.Orgs, org)) }

// Empty reports whether the scope sees nothing.
func (s Scope) Empty() bool { return !s.All && len(s.Orgs) == 0 }
