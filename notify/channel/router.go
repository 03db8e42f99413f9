package channel

import (
	"fmt"
	"path"
	"slices"

	"breachd/event"
)

// Match selects messages. Empty conditions match everything; all set conditions must hold.
type Match struct {
	MinSeverity event.Severity // severity rank at least this
	Orgs        []string       // Message.Org matches one of these globs (path.Match syntax)
	Tags        []string       // Message.Tags contains at least one of these
	Kinds       []string       // Message.Kind matches one of these globs, e.g. "deadline-*"
}

// Matches reports whether m satisfies every condition.
func (c *Match) Matches(m *Message) bool {
	if c.MinSeverity != "" && m.Severity.Rank() < c.MinSeverity.Rank() {
		return false
	}
	if len(c.Orgs) > 0 && !anyGlob(c.Orgs, m.Org) {
		return false
	}
	if len(c.Kinds) > 0 && !anyGlob(c.Kinds, m.Kind) {
		return false
	}
	if len(c.Tags) > 0 && !slices.ContainsFunc(c.Tags, func(t string) bool { return slices.Contains(m.Tags, t) }) {
		return false
	}
	return true
}

// validate checks the severity and the globs.
func (c *Match) validate() error {
	if c.MinSeverity != "" && c.MinSeverity.Rank() == 0 {
		return fmt.Errorf("min_severity %q: want one of %v", c.MinSeverity, event.Severities)
	}
	for _, g := range append(slices.Clone(c.Orgs), c.Kinds...) {
		if _, err := path.Match(g, ""); err != nil {
			return fmt.Errorf("pattern %q: %w", g, err)
		}
	}
	return nil
}

func anyGlob(globs []string, s string) bool {
	for _, g := range globs {
		if ok, _ := path.Match(g, s); ok {
			return true
		}
	}
	return false
}

// Route sends matching messages to Channels. Continue lets the routes after it be tried too.
type Route struct {
	Match    Match
	Channels []string
	Continue bool
}

// Router picks the channels of a message like Alertmanager's routing tree, flattened: routes
// are tried in order; a matching route adds its channels and stops the walk unless it has
// Continue; if no route matched, the Default channels get the message.
type Router struct {
	Routes  []Route
	Default []string
}

// Channels returns the names of the channels m goes to, each once, in route order.
func (r *Router) Channels(m *Message) []string {
	var out []string
	matched := false
	for i := range r.Routes {
		rt := &r.Routes[i]
		if !rt.Match.Matches(m) {
			continue
		}
		matched = true
		for _, c := range rt.Channels {
			if !slices.Contains(out, c) {
				out = append(out, c)
			}
		}
		if !rt.Continue {
			break
		}
	}
	if !matched {
		out = slices.Clone(r.Default)
	}
	return out
}
