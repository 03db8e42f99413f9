package format

import (
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/expr-lang/expr"

	"breachd/event"
	"breachd/ingest"
)

// Parse maps one JSON object with the mapping. It is an ingest.Parser.
func (m *Mapping) Parse(data []byte) (event.Event, error) {
	doc, err := decodeObject(data)
	if err != nil {
		return event.Event{}, invalid("", "not a JSON object: %v", err)
	}
	if m.skipIf != nil {
		out, err := expr.Run(m.skipIf, doc)
		if err != nil {
			return event.Event{}, invalid("skip_if", "%s", firstLine(err))
		}
		if b, _ := out.(bool); b {
			return event.Event{}, skipf("mapping %s: skip_if is true", m.name)
		}
	}
	ev := event.Event{Kind: m.kind}
	for i := range m.fields {
		if err := m.fields[i].apply(doc, &ev); err != nil {
			return event.Event{}, err
		}
	}
	if ev.ID == "" {
		ev.ID = ingest.EventID(m.name, &ev)
	}
	return ev, nil
}

// source names where a field's value came from, for error messages: the input's path, or the
// canonical field for a constant or an expression.
func (f *compiledField) source() string {
	if f.path != "" {
		return f.path
	}
	return f.name
}

// raw returns the field's value before conversion; nil when it is absent, null or "".
func (f *compiledField) raw(doc map[string]any) (any, error) {
	var v any
	switch {
	case f.value != nil:
		v = *f.value
	case f.prog != nil:
		out, err := expr.Run(f.prog, doc)
		if err != nil {
			return nil, invalid(f.name, "expr: %s", firstLine(err))
		}
		v = out
	default:
		v, _ = lookup(doc, f.path)
	}
	if s, ok := v.(string); ok && strings.TrimSpace(s) == "" {
		v = nil
	}
	if v == nil && f.def != nil {
		v = *f.def
	}
	return v, nil
}

func (f *compiledField) apply(doc map[string]any, ev *event.Event) error {
	v, err := f.raw(doc)
	if err != nil || v == nil {
		return err // a missing required field is reported by event.Validate, naming it
	}
	switch f.name {
	case "time":
		t, err := f.toTime(v)
		if err != nil {
			return err
		}
		if y := t.UTC().Year(); y < 1 || y > 9999 {
			return invalid(f.source(), "time %s is outside years 0001-9999", t.Format(time.RFC3339))
		}
		ev.Time = t.UTC()
		return nil
	case "records":
		n, err := toInt(v)
		if err != nil || n < 0 {
			return invalid(f.source(), "records: want a non-negative integer, got %v", v)
		}
		ev.Records = n
		return nil
	}
	s, ok := stringOf(v)
	if !ok {
		return invalid(f.source(), "%s: want a string or number, got %T", f.name, v)
	}
	if f.mapping != nil {
		mapped, ok := f.mapping[s]
		if !ok {
			return invalid(f.source(), "%q is not in the map for %s", s, f.name)
		}
		s = mapped
	}
	switch f.name {
	case "id":
		ev.ID = s
	case "org":
		ev.Org = s
	case "user":
		ev.User = s
	case "service":
		ev.Service = s
	case "service_name":
		ev.ServiceName = s
	case "result":
		ev.Result = s
	case "method":
		ev.Method = s
	case "ip":
		ev.IP = s
	case "country":
		ev.Country = countryCode(s)
	case "user_agent":
		ev.UserAgent = s
	case "actor":
		ev.Actor = s
	case "actor_role":
		ev.ActorRole = s
	case "action":
		ev.Action = s
	case "subject":
		ev.Subject = s
	case "resource":
		ev.Resource = s
	case "group":
		ev.Group = s
	default:
		return fmt.Errorf("mapping field %q has no canonical target", f.name) // CompileMapping prevents this
	}
	return nil
}

func (f *compiledField) toTime(v any) (time.Time, error) {
	if t, ok := v.(time.Time); ok { // an expr that built a time (date(...))
		return t, nil
	}
	switch f.timeFmt {
	case "unix", "unix_ms":
		x, err := toFloat(v)
		if err != nil {
			return time.Time{}, invalid(f.source(), "time: want %s as a number, got %v", f.timeFmt, v)
		}
		if f.timeFmt == "unix_ms" {
			x /= 1000
		}
		if math.Abs(x) > 253402300799 { // 9999-12-31T23:59:59Z
			return time.Time{}, invalid(f.source(), "time %v is out of range", v)
		}
		sec, frac := math.Modf(x)
		return time.Unix(int64(sec), int64(math.Round(frac*1e3))*1e6), nil
	}
	s, ok := v.(string)
	if !ok {
		return time.Time{}, invalid(f.source(), "time: want a string, got %T", v)
	}
	if f.location != nil {
		t, err := time.ParseInLocation(f.timeFmt, s, f.location)
		if err != nil {
			return time.Time{}, invalid(f.source(), "time %q does not match the layout %q", s, f.timeFmt)
		}
		return t, nil
	}
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return time.Time{}, invalid(f.source(), "time %q is not RFC 3339 with an offset", s)
	}
	return t, nil
}

func toFloat(v any) (float64, error) {
	switch x := v.(type) {
	case int64:
		return float64(x), nil
	case int:
		return float64(x), nil
	case float64:
		if math.IsNaN(x) || math.IsInf(x, 0) {
			return 0, errNotNumber
		}
		return x, nil
	case string:
		f, err := strconv.ParseFloat(strings.TrimSpace(x), 64)
		if err != nil || math.IsNaN(f) || math.IsInf(f, 0) {
			return 0, errNotNumber
		}
		return f, nil
	}
	return 0, errNotNumber
}

func toInt(v any) (int64, error) {
	switch x := v.(type) {
	case int64:
		return x, nil
	case int:
		return int64(x), nil
	case float64:
		if x != math.Trunc(x) || math.Abs(x) > 1<<53 {
			return 0, errNotNumber
		}
		return int64(x), nil
	case string:
		return strconv.ParseInt(strings.TrimSpace(x), 10, 64)
	}
	return 0, errNotNumber
}

// firstLine is the first line of err's text: expr's runtime errors add a drawing of the
// expression under the message, which does not belong in a one-line dead-letter reason.
func firstLine(err error) string {
	s, _, _ := strings.Cut(err.Error(), "\n")
	return s
}
