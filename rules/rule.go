package rules

import (
	"fmt"
	"slices"
	"time"

	"breachd/event"
)

// Rule describes one compiled rule, for listing and for operators. It is a copy: changing it
// changes nothing in the Set.
type Rule struct {
	ID          string
	Title       string
	Description string
	Severity    event.Severity
	Tags        []string
	When        []event.Kind
	Condition   string        // the condition's source
	Window      time.Duration // the window's length; 0 without a window
	Suppress    time.Duration // the suppression period; 0 without suppression
	Exceptions  int
	Respond     bool // a hit may request deactivation of the account
	Tests       int
	File        string
	Line        int
}

// kindIndex maps an event kind to a slot in per-kind tables; -1 for an unknown kind.
func kindIndex(k event.Kind) int {
	switch k {
	case event.KindAuth:
		return 0
	case event.KindAccess:
		return 1
	case event.KindDirectory:
		return 2
	}
	return -1
}

const numKinds = 3

// rule is a compiled rule. It is immutable once built.
type rule struct {
	info     Rule
	kinds    [numKinds]bool
	cond     *boolExpr
	summary  *stringExpr // nil: the title is the summary
	window   *windowDef
	suppress *suppressDef
	except   []exceptionDef
	tests    []fixture
	facts    [2]bool // needs actor, subject facts
}

type windowDef struct {
	key      *stringExpr
	countIf  *boolExpr   // nil: count every event
	distinct *stringExpr // nil: no distinct count
	over     time.Duration
	sig      string // the definition's source, to tell whether state may be kept
}

type suppressDef struct {
	key *stringExpr
	dur time.Duration
}

type exceptionDef struct {
	field  *stringExpr
	values map[string]struct{}
}

// Set is a compiled, immutable set of rules: safe to share between engines and goroutines.
type Set struct {
	rules  []*rule
	byKind [numKinds][]int // indices into rules
}

// newSet indexes rules by kind, rejecting duplicate ids.
func newSet(rules []*rule) (*Set, error) {
	s := &Set{rules: rules}
	seen := make(map[string]*rule, len(rules))
	for i, r := range rules {
		if first, ok := seen[r.info.ID]; ok {
			return nil, &CompileError{File: r.info.File, Rule: r.info.ID, Line: r.info.Line, Column: 1,
				Msg: fmt.Sprintf("duplicate rule id (first defined at %s:%d)", first.info.File, first.info.Line)}
		}
		seen[r.info.ID] = r
		for k := range numKinds {
			if r.kinds[k] {
				s.byKind[k] = append(s.byKind[k], i)
			}
		}
	}
	return s, nil
}

// Merge combines sets (for example the default pack and local rules) into one. Rule ids must
// be unique across them.
func Merge(sets ...*Set) (*Set, error) {
	var all []*rule
	for _, s := range sets {
		if s != nil {
			all = append(all, s.rules...)
		}
	}
	return newSet(all)
}

// Len is the number of rules in s.
func (s *Set) Len() int { return len(s.rules) }

// Rules describes the rules of s, in load order.
func (s *Set) Rules() []Rule {
	out := make([]Rule, len(s.rules))
	for i, r := range s.rules {
		out[i] = r.info
		out[i].Tags = slices.Clone(r.info.Tags)
		out[i].When = slices.Clone(r.info.When)
	}
	return out
}

// Rule describes the rule with the given id.
func (s *Set) Rule(id string) (Rule, bool) {
	for _, r := range s.rules {
		if r.info.ID == id {
			info := r.info
			info.Tags = slices.Clone(r.info.Tags)
			info.When = slices.Clone(r.info.When)
			return info, true
		}
	}
	return Rule{}, false
}
