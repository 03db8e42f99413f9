package event

import (
	"encoding/json"
	"strconv"
	"time"
	"unicode/utf8"
)

// Marshal writes e as one canonical JSON object (no trailing newline): the bytes
// encoding/json.Marshal writes for e (fields in struct order, zero ones omitted, strings
// HTML-escaped), which ingest's content ids (ingest.EventID) hash, so they must not change.
// It appends them itself for speed; FuzzMarshal checks the two agree.
func Marshal(e *Event) ([]byte, error) {
	if !timeFast(e.Time) {
		// Other locations, and times encoding/json cannot write (with its error).
		return json.Marshal(e)
	}
	b := make([]byte, 0, 512)
	b = append(b, `{"kind":`...)
	b = appendString(b, string(e.Kind))
	b = append(b, `,"id":`...)
	b = appendString(b, e.ID)
	b = append(b, `,"time":"`...)
	b = e.Time.AppendFormat(b, time.RFC3339Nano)
	b = append(b, `","org":`...)
	b = appendString(b, e.Org)
	b = appendField(b, `,"user":`, e.User)
	b = appendField(b, `,"service":`, e.Service)
	b = appendField(b, `,"service_name":`, e.ServiceName)
	b = appendField(b, `,"result":`, e.Result)
	b = appendField(b, `,"method":`, e.Method)
	b = appendField(b, `,"ip":`, e.IP)
	b = appendField(b, `,"country":`, e.Country)
	b = appendField(b, `,"user_agent":`, e.UserAgent)
	b = appendField(b, `,"actor":`, e.Actor)
	b = appendField(b, `,"actor_role":`, e.ActorRole)
	b = appendField(b, `,"action":`, e.Action)
	b = appendField(b, `,"subject":`, e.Subject)
	b = appendField(b, `,"resource":`, e.Resource)
	b = appendField(b, `,"group":`, e.Group)
	if e.Records != 0 {
		b = append(b, `,"records":`...)
		b = strconv.AppendInt(b, e.Records, 10)
	}
	b = appendField(b, `,"op":`, e.Op)
	b = appendStrings(b, `,"affiliations":`, e.Affiliations)
	b = appendField(b, `,"primary_affiliation":`, e.PrimaryAffiliation)
	b = appendStrings(b, `,"schools":`, e.Schools)
	b = appendField(b, `,"nin_hash":`, e.NINHash)
	if e.HiddenIdentity {
		b = append(b, `,"hidden_identity":true`...)
	}
	if e.Active != nil {
		b = append(b, `,"active":`...)
		b = strconv.AppendBool(b, *e.Active)
	}
	b = appendField(b, `,"go_type":`, e.GoType)
	b = appendField(b, `,"role":`, e.Role)
	if e.ContactTeacher {
		b = append(b, `,"contact_teacher":true`...)
	}
	b = appendField(b, `,"school":`, e.School)
	b = appendField(b, `,"change":`, e.Change)
	b = appendField(b, `,"guardian":`, e.Guardian)
	b = appendField(b, `,"child":`, e.Child)
	b = appendField(b, `,"status":`, e.Status)
	return append(b, '}'), nil
}

// timeFast reports whether t is a UTC time in years 0000–9999, which time.Time.MarshalJSON
// writes as AppendFormat(RFC3339Nano) does.
func timeFast(t time.Time) bool {
	y := t.Year()
	return t.Location() == time.UTC && 0 <= y && y <= 9999
}

// appendField appends key and s unless s is empty (omitempty).
func appendField(b []byte, key, s string) []byte {
	if s == "" {
		return b
	}
	return appendString(append(b, key...), s)
}

func appendStrings(b []byte, key string, ss []string) []byte {
	if len(ss) == 0 {
		return b
	}
	b = append(b, key...)
	for i, s := range ss {
		if i == 0 {
			b = append(b, '[')
		} else {
			b = append(b, ',')
		}
		b = appendString(b, s)
	}
	return append(b, ']')
}

// appendString appends s as encoding/json does: quoted, with ", \, control characters, <, >,
// &, U+2028 and U+2029 escaped and invalid UTF-8 as U+FFFD. Strings with nothing to escape
// (nearly all) are copied; the others are left to encoding/json.
func appendString(b []byte, s string) []byte {
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if c < 0x20 || c == '"' || c == '\\' || c == '<' || c == '>' || c == '&' {
				return appendEscaped(b, s)
			}
			i++
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 || r == '\u2028' || r == '\u2029' {
			return appendEscaped(b, s)
		}
		i += size
	}
	b = append(b, '"')
	b = append(b, s...)
	return append(b, '"')
}

func appendEscaped(b []byte, s string) []byte {
	out, _ := json.Marshal(s) // a string always marshals
	return append(b, out...)
}
