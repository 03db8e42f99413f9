package event

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"
	"unsafe"
)

// MaxIDLen bounds the id, which travels as the Nats-Msg-Id header.
const MaxIDLen = 256

// InvalidError says why input is not a canonical event. Field is empty when the input as a
// whole is at fault (not JSON, not an object).
type InvalidError struct {
	Field  string
	Reason string
}

func (e *InvalidError) Error() string {
	if e.Field == "" {
		return "invalid event: " + e.Reason
	}
	return fmt.Sprintf("invalid event: %s: %s", e.Field, e.Reason)
}

func invalid(field, format string, args ...any) error {
	return &InvalidError{Field: field, Reason: fmt.Sprintf(format, args...)}
}

// Enumerations of events.md.
var (
	Results       = []string{"success", "failure"}
	ActorRoles    = []string{"student", "teacher", "contact_teacher", "guardian", "admin", "support", "staff"}
	Actions       = []string{"view", "update", "delete", "export"}
	Resources     = []string{"grades", "assessment", "absence", "progress", "special_needs", "health", "wellbeing", "family", "contact", "messages", "media", "work"}
	Ops           = []string{OpPerson, OpMembership, OpGuardianship}
	GoTypes       = []string{"u", "b", "a"}
	GroupRoles    = []string{"student", "faculty"}
	Changes       = []string{"add", "remove"}
	Statuses      = []string{"active", "removed", "blocked"}
	affiliationOK = []string{"student", "faculty", "staff", "employee", "member", "affiliate", "alum", "library-walk-in"}
)

// wire is the JSON shape as received; the time is a string so that its format can be checked.
type wire struct {
	Event
	Time    *string `json:"time"`
	Records *int64  `json:"records"`
	// rawTime is where decodeFast leaves the time instead of Time: its bytes in the input,
	// nil for none (absent or null), so that no string is allocated for it. records and
	// hasRecords are where it leaves Records, so that no int64 is allocated.
	rawTime    []byte
	records    int64
	hasRecords bool
}

// Parse decodes one JSON object (one line of JSON Lines, without the newline) into a validated
// Event with its time in UTC: Decode, then Validate. Unknown fields are ignored. Any error is an
// *InvalidError.
func Parse(data []byte) (Event, error) {
	e, err := Decode(data)
	if err != nil {
		return Event{}, err
	}
	// Validate rejects times outside what history can store (1900–2299 in UTC), and with
	// them those an offset moves out of RFC 3339's years 0000–9999, which Marshal could not
	// write back.
	if err := e.Validate(); err != nil {
		return Event{}, err
	}
	return e, nil
}

// Decode decodes one JSON object as Parse does, without Validate: the types, a non-negative
// records and a time in RFC 3339 with an offset (in UTC on return) are checked, the required
// fields, enumerations and identifiers are not. For callers that validate themselves (the
// ingest pipeline validates what every format returns). Any error is an *InvalidError.
//
// It decodes as encoding/json does (keys matched case-insensitively when no field has the
// exact name, the last of duplicate keys wins, invalid UTF-8 replaced by U+FFFD, null leaves a
// field unset); a hand-written decoder takes the common inputs (decodeFast) and encoding/json
// the rest, which also gives the errors.
func Decode(data []byte) (Event, error) {
	data = bytes.TrimSpace(data)
	if len(data) == 0 {
		return Event{}, invalid("", "empty input")
	}
	if data[0] != '{' {
		return Event{}, invalid("", "not a JSON object")
	}
	var w wire
	if !decodeFast(data, &w) {
		slow := new(wire) // not &w, which would move w to the heap on the fast path too
		if err := json.Unmarshal(data, slow); err != nil {
			var te *json.UnmarshalTypeError
			if errors.As(err, &te) {
				return Event{}, invalid(strings.TrimPrefix(te.Field, "Event."), "wrong type: got JSON %s, want %s", te.Value, goTypeName(te.Type.String()))
			}
			return Event{}, invalid("", "not valid JSON: %v", err)
		}
		w = *slow
	}
	e := w.Event
	if w.Records != nil {
		w.records, w.hasRecords = *w.Records, true
	}
	if w.hasRecords {
		if w.records < 0 {
			return Event{}, invalid("records", "must not be negative")
		}
		e.Records = w.records
	}
	var ts string
	switch {
	case w.rawTime != nil:
		// Points into data, which outlives it: time.Parse keeps nothing of it but in its
		// error, which is dropped below.
		ts = unsafe.String(unsafe.SliceData(w.rawTime), len(w.rawTime))
	case w.Time != nil:
		ts = *w.Time
	}
	if ts == "" {
		return Event{}, invalid("time", "required")
	}
	t, err := time.Parse(time.RFC3339Nano, ts)
	if err != nil {
		return Event{}, invalid("time", "not an RFC 3339 time with offset: %q", ts)
	}
	e.Time = t.UTC()
	return e, nil
}

// Validate checks the required fields and enumerated values of events.md for e's kind, that
// the time is one history can store (MinTime to MaxTime), and that the identifier fields (org,
// user, actor, subject, guardian, child) are valid UTF-8 without U+FFFD or control characters;
// it normalises those fields in place (NormalizeAccount) and defaults records to 1. Every
// ingest path, whatever the format, goes through it, so identifiers are normalised once, here.
func (e *Event) Validate() error {
	if e.Kind == "" {
		return invalid("kind", "required")
	}
	if err := e.normalizeIdentifiers(); err != nil {
		return err
	}
	if err := required(field{"id", e.ID}, field{"org", e.Org}); err != nil {
		return err
	}
	if len(e.ID) > MaxIDLen {
		return invalid("id", "longer than %d bytes", MaxIDLen)
	}
	if e.Time.IsZero() {
		return invalid("time", "required")
	}
	if err := checkTimeRange(e.Time); err != nil {
		return err
	}
	switch e.Kind {
	case KindAuth:
		if err := required(field{"result", e.Result}, field{"service", e.Service}, field{"user", e.User}); err != nil {
			return err
		}
		return oneOf("result", e.Result, Results)
	case KindAccess:
		if err := required(field{"action", e.Action}, field{"actor", e.Actor}, field{"actor_role", e.ActorRole},
			field{"resource", e.Resource}, field{"service", e.Service}, field{"subject", e.Subject}); err != nil {
			return err
		}
		for _, c := range []struct {
			field, v string
			allowed  []string
		}{{"actor_role", e.ActorRole, ActorRoles}, {"action", e.Action, Actions}, {"resource", e.Resource, Resources}} {
			if err := oneOf(c.field, c.v, c.allowed); err != nil {
				return err
			}
		}
		if e.Records == 0 {
			e.Records = 1
		}
		return nil
	case KindDirectory:
		return e.validateDirectory()
	}
	return invalid("kind", "unknown kind %q (want auth, access or directory)", e.Kind)
}

func (e *Event) validateDirectory() error {
	if e.Op == "" {
		return invalid("op", "required")
	}
	switch e.Op {
	case OpPerson:
		if err := required(field{"user", e.User}); err != nil {
			return err
		}
		for _, a := range e.Affiliations {
			if err := oneOf("affiliations", a, affiliationOK); err != nil {
				return err
			}
		}
		if e.PrimaryAffiliation != "" {
			return oneOf("primary_affiliation", e.PrimaryAffiliation, affiliationOK)
		}
		return nil
	case OpMembership:
		if err := required(field{"change", e.Change}, field{"group", e.Group}, field{"role", e.Role}, field{"user", e.User}); err != nil {
			return err
		}
		if e.GoType != "" {
			if err := oneOf("go_type", e.GoType, GoTypes); err != nil {
				return err
			}
		}
		if err := oneOf("role", e.Role, GroupRoles); err != nil {
			return err
		}
		return oneOf("change", e.Change, Changes)
	case OpGuardianship:
		if err := required(field{"child", e.Child}, field{"guardian", e.Guardian}, field{"status", e.Status}); err != nil {
			return err
		}
		return oneOf("status", e.Status, Statuses)
	}
	return invalid("op", "unknown op %q (want person, membership or guardianship)", e.Op)
}

// field is a required field's JSON name and value.
type field struct{ name, v string }

// required reports the first empty (or blank) field; callers list the fields sorted by name,
// so the field reported is the same whatever the order of the input.
func required(fields ...field) error {
	for _, f := range fields {
		if strings.TrimSpace(f.v) == "" {
			return invalid(f.name, "required")
		}
	}
	return nil
}

func oneOf(field, v string, allowed []string) error {
	if slices.Contains(allowed, v) {
		return nil
	}
	return invalid(field, "%q is not one of %s", v, strings.Join(allowed, ", "))
}

func goTypeName(t string) string {
	switch t {
	case "string":
		return "string"
	case "bool", "*bool":
		return "boolean"
	case "int64", "*int64":
		return "integer"
	case "[]string":
		return "array of strings"
	}
	return t
}
