package rules

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"strconv"
	"strings"
	"time"

	"gopkg.in/yaml.v3"

	"breachd/directory"
	"breachd/event"
	"breachd/yamlx"
)

var testKeys = []string{"name", "directory", "history", "events", "expect"}

// Fixture defaults: events without a time start at fixtureStart (a Monday, 10:00 in Oslo) and
// follow each other by a second; directory preload events happen a day earlier and history
// events fixtureHistoryAge earlier.
var fixtureStart = time.Date(2026, 11, 2, 9, 0, 0, 0, time.UTC)

const fixtureHistoryAge = 30 * 24 * time.Hour

const fixtureOrg = "example.kommune.no"

// fixture is one decoded test of a rule.
type fixture struct {
	name      string
	line      int
	directory []event.Event // applied before the events, not evaluated
	history   []event.Event // served by the history lookups, not evaluated
	events    []event.Event // evaluated in order (directory events are applied first)
	expect    int           // alerts the rule raises over all events
}

func (s *source) decodeTests(n *yaml.Node, ruleID string) []fixture {
	var out []fixture
	for _, it := range s.items(n, "tests", "test", testKeys) {
		tn, f := it.node, it.fields
		fx := fixture{name: s.str(f, tn, "name", true), line: tn.Line}
		prefix := fmt.Sprintf("%s/t%d", ruleID, it.index+1)
		if dn := f["directory"]; dn != nil {
			fx.directory = s.fixtureEvents(dn, "directory", event.KindDirectory, prefix+"/dir", fixtureStart.Add(-24*time.Hour))
		}
		if hn := f["history"]; hn != nil {
			fx.history = s.fixtureEvents(hn, "history", "", prefix+"/hist", fixtureStart.Add(-fixtureHistoryAge))
		}
		if en := f["events"]; en == nil {
			s.errAt(tn, "test %q: missing key \"events\"", fx.name)
		} else {
			fx.events = s.fixtureEvents(en, "events", "", prefix, fixtureStart)
		}
		fx.expect, _ = s.intValue(f, tn, "expect")
		out = append(out, fx)
	}
	return out
}

// fixtureEvents decodes a list of canonical events written as YAML maps. Missing id, org and
// time are filled in (time: the previous event's plus `after`, default 1s); kind defaults to
// defKind when set. Two keys are for fixtures only: `repeat: N` emits the event N times, `every`
// (default 1s) apart.
func (s *source) fixtureEvents(n *yaml.Node, what string, defKind event.Kind, prefix string, start time.Time) []event.Event {
	if n.Kind != yaml.SequenceNode {
		s.errAt(n, "%s: want a list of events", what)
		return nil
	}
	var out []event.Event
	cursor, first := start, true
	known := eventKeys()
	for i, en := range n.Content {
		en = deref(en)
		var m map[string]any
		if err := en.Decode(&m); err != nil || en.Kind != yaml.MappingNode {
			s.errAt(en, "%s: want an event as a mapping", what)
			continue
		}
		if bad := unknownKey(en, known); bad != nil {
			s.errAt(bad, "%s: unknown event field %q (fixture events are strict, unlike ingest)", what, bad.Value)
			continue
		}
		repeat, every, after, ok := s.fixtureControls(en, m)
		if !ok {
			continue
		}
		if _, has := m["kind"]; !has && defKind != "" {
			m["kind"] = string(defKind)
		}
		if _, has := m["org"]; !has {
			m["org"] = fixtureOrg
		}
		_, hasID := m["id"]
		if t, has := m["time"]; has {
			if tt, isTime := t.(time.Time); isTime {
				cursor = tt
			} else if tt, err := time.Parse(time.RFC3339Nano, fmt.Sprint(t)); err == nil {
				cursor = tt
			} else {
				s.errAt(keyNode(en, "time"), "%s: time %q is not an RFC 3339 time with offset", what, fmt.Sprint(t))
				continue
			}
		} else {
			if after < 0 { // not given: 1s after the previous event, the first at start
				after = time.Second
				if first {
					after = 0
				}
			}
			cursor = cursor.Add(after)
		}
		first = false
		for r := range repeat {
			if r > 0 {
				cursor = cursor.Add(every)
			}
			m["time"] = cursor.Format(time.RFC3339Nano)
			if !hasID || repeat > 1 {
				m["id"] = fmt.Sprintf("%s/%d.%d", prefix, i+1, r+1)
			}
			e, err := toEvent(m)
			if err != nil {
				var ie *event.InvalidError
				at := en
				if errors.As(err, &ie) && keyNode(en, ie.Field) != nil {
					at = keyNode(en, ie.Field)
				}
				s.errAt(at, "%s: %v", what, err)
				break
			}
			out = append(out, e)
		}
	}
	return out
}

// fixtureControls takes the fixture-only keys out of m; after is -1 when not given.
func (s *source) fixtureControls(en *yaml.Node, m map[string]any) (repeat int, every, after time.Duration, ok bool) {
	repeat, every, after, ok = 1, time.Second, -1, true
	if v, has := m["repeat"]; has {
		delete(m, "repeat")
		n, err := strconv.Atoi(fmt.Sprint(v))
		if err != nil || n < 1 || n > 10000 {
			s.errAt(keyNode(en, "repeat"), "repeat: want an integer in [1, 10000]")
			ok = false
		}
		repeat = n
	}
	for _, c := range []struct {
		key string
		d   *time.Duration
	}{{"every", &every}, {"after", &after}} {
		v, has := m[c.key]
		if !has {
			continue
		}
		delete(m, c.key)
		d, err := time.ParseDuration(fmt.Sprint(v))
		if err != nil || d < 0 {
			s.errAt(keyNode(en, c.key), "%s: want a duration (e.g. 30s, 5m)", c.key)
			ok = false
		}
		*c.d = d
	}
	return repeat, every, after, ok
}

// eventKeys are the keys a fixture event may have: the JSON fields of event.Event and the
// fixture controls.
func eventKeys() map[string]bool {
	keys := map[string]bool{"repeat": true, "every": true, "after": true}
	t := reflect.TypeFor[event.Event]()
	for i := range t.NumField() {
		if name, _, _ := strings.Cut(t.Field(i).Tag.Get("json"), ","); name != "" && name != "-" {
			keys[name] = true
		}
	}
	return keys
}

// unknownKey returns the first key node of mapping n not in known.
func unknownKey(n *yaml.Node, known map[string]bool) *yaml.Node {
	for i := 0; i+1 < len(n.Content); i += 2 {
		if !known[n.Content[i].Value] {
			return n.Content[i]
		}
	}
	return nil
}

func toEvent(m map[string]any) (event.Event, error) {
	b, err := json.Marshal(m)
	if err != nil {
		return event.Event{}, fmt.Errorf("encode fixture event: %w", err)
	}
	return event.Parse(b)
}

// TestResult is the outcome of one fixture of one rule.
type TestResult struct {
	File   string
	Rule   string
	Name   string
	Line   int // of the test in File
	Want   int // alerts expected from the rule over the test's events
	Got    int
	Alerts []event.Alert // the rule's alerts, for showing what fired
	Err    error         // nil when the test passed
}

// Passed reports whether the fixture gave what it expected.
func (r *TestResult) Passed() bool { return r.Err == nil }

// RunTests runs every rule's `tests` fixtures, each on a fresh directory and engine holding that
// rule alone: the fixture's `directory` events are applied, then its `events` are evaluated in
// order (a directory event is applied before it is evaluated). The engine's history lookups are
// served from memory: the `directory` and `history` events, and each evaluated event once it
// has been evaluated (as the detector writes a batch to history after evaluating it). A test
// passes when the rule raised exactly `expect` alerts over all its events and no expression or
// lookup failed at run time. Results are in rule, then test order.
func RunTests(set *Set) []TestResult {
	var out []TestResult
	for _, r := range set.rules {
		one, err := newSet([]*rule{r})
		for _, fx := range r.tests {
			res := TestResult{File: r.info.File, Rule: r.info.ID, Name: fx.name, Line: fx.line, Want: fx.expect}
			if err == nil {
				res.Alerts, res.Err = runFixture(one, fx)
			} else {
				res.Err = err
			}
			res.Got = len(res.Alerts)
			if res.Err == nil && res.Got != res.Want {
				res.Err = fmt.Errorf("want %d alerts, got %d", res.Want, res.Got)
			}
			out = append(out, res)
		}
	}
	return out
}

func runFixture(set *Set, fx fixture) ([]event.Alert, error) {
	dir := directory.New()
	hist := newMemoryHistory()
	for i := range fx.directory {
		if err := dir.Apply(&fx.directory[i]); err != nil {
			return nil, fmt.Errorf("directory event %d: %w", i+1, err)
		}
		hist.add(&fx.directory[i])
	}
	for i := range fx.history {
		hist.add(&fx.history[i])
	}
	clock := func() time.Time { return fixtureStart }
	eng, err := NewEngine(set, dir, clock, WithLookup(hist, LookupConfig{}))
	if err != nil {
		return nil, err
	}
	ctx := context.Background() // the lookups are served from memory: no I/O to bound
	var alerts []event.Alert
	for i := range fx.events {
		e := &fx.events[i]
		if err := dir.Apply(e); err != nil {
			return alerts, fmt.Errorf("event %d: %w", i+1, err)
		}
		alerts = append(alerts, eng.Evaluate(ctx, e)...)
		hist.add(e)
		if st := eng.Stats(); len(st) == 1 && st[0].Errors > 0 {
			eng.mu.Lock()
			msg := eng.states[0].lastErr
			eng.mu.Unlock()
			return alerts, fmt.Errorf("event %d (%s): expression failed: %s", i+1, e.ID, msg)
		} else if len(st) == 1 && st[0].LookupErrors > 0 {
			return alerts, fmt.Errorf("event %d (%s): a history lookup failed", i+1, e.ID)
		}
	}
	return alerts, nil
}

// keyNode returns the key node of key in mapping n, for positions; nil when absent.
func keyNode(n *yaml.Node, key string) *yaml.Node {
	k, _ := yamlx.Key(n, key)
	return k
}
