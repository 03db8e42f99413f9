package rules

import (
	"fmt"
	"slices"

	"breachd/event"
)

// Fixture is one rule test as the fixture runner sees it, exported so that other paths can run
// the same tests: deploy's tests push every shipped fixture through the real pipeline and expect
// the alerts RunTests expects.
type Fixture struct {
	Rule, Name, File string
	Line             int
	Directory        []event.Event // applied before the events, not evaluated
	History          []event.Event // what the history lookups find
	Events           []event.Event // evaluated in order
	Want             int           // alerts of Rule over Events
}

// Fixtures returns copies of the tests of every rule in s, in rule order.
func (s *Set) Fixtures() []Fixture {
	var out []Fixture
	for _, r := range s.rules {
		for _, fx := range r.tests {
			out = append(out, Fixture{Rule: r.info.ID, Name: fx.name, File: r.info.File, Line: fx.line,
				Directory: slices.Clone(fx.directory), History: slices.Clone(fx.history),
				Events: slices.Clone(fx.events), Want: fx.expect})
		}
	}
	return out
}

// Only returns the set holding just the rule id of s (the set a fixture runs against).
func (s *Set) Only(id string) (*Set, error) {
	for _, r := range s.rules {
		if r.info.ID == id {
			return newSet([]*rule{r})
		}
	}
	return nil, fmt.Errorf("no rule %q in the set", id)
}
