package simulate

import (
	"bytes"
	"context"
	"slices"
	"testing"
	"time"

	"breachd/event"
)

// world is one generated run as the pipeline would see it: JSON lines parsed back with
// event.Parse, split into the directory snapshot and the activity.
type world struct {
	g     *Generator
	lines [][]byte
	evs   []event.Event
	snap  int // evs[:snap] is the snapshot

	persons map[string]event.Event       // snapshot person events by user
	members map[string]map[string]string // snapshot: group -> user -> role
	kin     map[string][]string          // snapshot: child -> guardians
}

// generate runs cfg through WriteJSONLines and parses every line; a line that does not parse
// fails the test.
func generate(t testing.TB, cfg Config) *world {
	t.Helper()
	g, err := New(cfg)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	var buf bytes.Buffer
	n, err := g.WriteJSONLines(context.Background(), &buf)
	if err != nil {
		t.Fatalf("WriteJSONLines: %v", err)
	}
	w := &world{g: g, persons: map[string]event.Event{}, members: map[string]map[string]string{}, kin: map[string][]string{}}
	w.lines = bytes.SplitAfter(buf.Bytes(), []byte("\n"))
	if last := w.lines[len(w.lines)-1]; len(last) == 0 {
		w.lines = w.lines[:len(w.lines)-1]
	}
	if int64(len(w.lines)) != n {
		t.Fatalf("WriteJSONLines reported %d events, wrote %d lines", n, len(w.lines))
	}
	for i, line := range w.lines {
		if !bytes.HasSuffix(line, []byte("\n")) || bytes.Count(line, []byte("\n")) != 1 {
			t.Fatalf("line %d is not one line: %q", i+1, line)
		}
		e, err := event.Parse(line)
		if err != nil {
			t.Fatalf("line %d does not parse: %v\n%s", i+1, err, line)
		}
		w.evs = append(w.evs, e)
	}
	for w.snap < len(w.evs) && w.evs[w.snap].Kind == event.KindDirectory && w.evs[w.snap].Time.Equal(w.evs[0].Time) {
		e := w.evs[w.snap]
		switch e.Op {
		case event.OpPerson:
			w.persons[e.User] = e
		case event.OpMembership:
			if w.members[e.Group] == nil {
				w.members[e.Group] = map[string]string{}
			}
			w.members[e.Group][e.User] = e.Role
		case event.OpGuardianship:
			w.kin[e.Child] = append(w.kin[e.Child], e.Guardian)
		}
		w.snap++
	}
	return w
}

// activity returns the events after the snapshot.
func (w *world) activity() []event.Event { return w.evs[w.snap:] }

// oracle replays a stream with its own directory state and flags, per account, every event
// that a reasonable rule set would call a breach. It knows nothing of the generator.
type oracle struct {
	affiliations map[string][]string          // user -> current affiliations
	members      map[string]map[string]string // group -> user -> role
	contact      map[string]string            // basis group -> contact teacher
	guardianship map[[2]string]string         // (guardian, child) -> status
	failures     map[string][]time.Time       // user -> auth failures
	flags        map[string][]string          // account -> reasons
	subjects     map[string][]string          // account -> subjects of flagged accesses
}

func runOracle(evs []event.Event) *oracle {
	o := &oracle{affiliations: map[string][]string{}, members: map[string]map[string]string{},
		contact: map[string]string{}, guardianship: map[[2]string]string{}, failures: map[string][]time.Time{},
		flags: map[string][]string{}, subjects: map[string][]string{}}
	for i := range evs {
		o.apply(&evs[i])
	}
	return o
}

func (o *oracle) flag(e *event.Event, reason string) {
	a := e.Account()
	if !slices.Contains(o.flags[a], reason) {
		o.flags[a] = append(o.flags[a], reason)
	}
	if e.Kind == event.KindAccess && !slices.Contains(o.subjects[a], e.Subject) {
		o.subjects[a] = append(o.subjects[a], e.Subject)
	}
}

func (o *oracle) apply(e *event.Event) {
	if e.Country != "" && e.Country != "NO" {
		o.flag(e, "foreign address")
	}
	switch e.Kind {
	case event.KindDirectory:
		switch e.Op {
		case event.OpPerson:
			o.affiliations[e.User] = e.Affiliations
		case event.OpMembership:
			if o.members[e.Group] == nil {
				o.members[e.Group] = map[string]string{}
			}
			if e.Change == "remove" {
				delete(o.members[e.Group], e.User)
			} else {
				o.members[e.Group][e.User] = e.Role
			}
			if e.ContactTeacher {
				o.contact[e.Group] = e.User
			}
		case event.OpGuardianship:
			o.guardianship[[2]string{e.Guardian, e.Child}] = e.Status
		}
	case event.KindAuth:
		if e.Result == "failure" {
			f := append(o.failures[e.User], e.Time)
			for len(f) > 0 && e.Time.Sub(f[0]) > 10*time.Minute {
				f = f[1:]
			}
			o.failures[e.User] = f
			if len(f) >= 10 {
				o.flag(e, "password guessing")
			}
		}
	case event.KindAccess:
		o.access(e)
	}
}

func (o *oracle) access(e *event.Event) {
	hour := e.Time.In(oslo()).Hour()
	if e.Action == "export" && e.Records >= 100 {
		o.flag(e, "bulk export")
	}
	if (hour < 6 || hour >= 23) && slices.Contains([]string{"admin", "staff", "support"}, e.ActorRole) {
		o.flag(e, "staff at night")
	}
	switch e.ActorRole {
	case "student":
		if e.Subject != e.Actor {
			o.flag(e, "pupil reads another pupil")
		}
	case "teacher", "contact_teacher":
		if slices.Contains(o.affiliations[e.Actor], "student") {
			o.flag(e, "student acting as teacher")
		}
		if e.ActorRole == "contact_teacher" && o.contact[e.Group] != e.Actor {
			o.flag(e, "not the contact teacher")
		}
		if e.Group != "" && (o.members[e.Group][e.Actor] != "faculty" || o.members[e.Group][e.Subject] != "student") {
			o.flag(e, "access through a group without faculty role")
		}
		if e.Group == "" && !o.shareGroup(e.Actor, e.Subject) {
			o.flag(e, "teacher without a group in common")
		}
	case "guardian":
		if o.guardianship[[2]string{e.Actor, e.Subject}] != "active" {
			o.flag(e, "guardian without an active relation")
		}
	}
}

func (o *oracle) shareGroup(teacher, pupil string) bool {
	for _, m := range o.members {
		if m[teacher] == "faculty" && m[pupil] == "student" {
			return true
		}
	}
	return false
}

// localClock formats t as HH:MM in Oslo.
func localClock(t time.Time) string { return t.In(oslo()).Format("15:04") }
