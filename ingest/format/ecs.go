package format

import (
	"slices"
	"strings"
	"time"

	"breachd/event"
	"breachd/ingest"
)

// ECSOptions configure the Elastic Common Schema parser. The zero value is usable.
type ECSOptions struct {
	// Org, if set, is the organisation of every event. Default: the realm of the user
	// (user.email, or user.name when it is name@realm), else user.domain.
	Org string
}

// ECS returns the parser of Elastic Common Schema documents as Filebeat and Elastic Agent
// ship them (one JSON document per record, nested or with dotted keys). Documents whose
// event.category includes "authentication" become auth events; every other document, and
// authentication documents that only record the end of a session (event.type "end" without
// "start"), are skipped with ErrSkip.
func ECS(opts ECSOptions) ingest.Parser {
	return func(data []byte) (event.Event, error) { return parseECS(&opts, data) }
}

func parseECS(o *ECSOptions, data []byte) (event.Event, error) {
	doc, err := decodeObject(data)
	if err != nil {
		return event.Event{}, invalid("", "not an ECS document: %v", err)
	}
	if !slices.Contains(stringList(doc, "event.category"), "authentication") {
		return event.Event{}, skipf("event.category is not authentication")
	}
	types := stringList(doc, "event.type")
	if slices.Contains(types, "end") && !slices.Contains(types, "start") {
		return event.Event{}, skipf("end of a session, not a login")
	}
	ev := event.Event{Kind: event.KindAuth}
	ts := lookupString(doc, "@timestamp")
	if ts == "" {
		return event.Event{}, invalid("@timestamp", "required")
	}
	t, err := time.Parse(time.RFC3339Nano, ts)
	if err != nil {
		return event.Event{}, invalid("@timestamp", "not an RFC 3339 time: %q", ts)
	}
	if y := t.UTC().Year(); y < 1 || y > 9999 {
		return event.Event{}, invalid("@timestamp", "%q is outside years 0001-9999", ts)
	}
	ev.Time = t.UTC()

	switch out := lookupString(doc, "event.outcome"); out {
	case "success", "failure":
		ev.Result = out
	case "":
		return event.Event{}, invalid("event.outcome", "required for an authentication event")
	default:
		return event.Event{}, invalid("event.outcome", "%q is not success or failure", out)
	}

	name, email, domain := lookupString(doc, "user.name"), lookupString(doc, "user.email"), lookupString(doc, "user.domain")
	switch {
	case strings.Contains(email, "@"):
		ev.User = email
	case strings.Contains(name, "@"):
		ev.User = name
	case name != "" && domain != "":
		ev.User = name + "@" + domain
	default:
		ev.User = name
	}
	if ev.User == "" {
		return event.Event{}, invalid("user.name", "required (or user.email)")
	}
	ev.Org = firstNonEmpty(o.Org, orgOf(ev.User), strings.ToLower(domain))
	if ev.Org == "" {
		return event.Event{}, invalid("user.domain", "no organisation: the user %q has no realm and user.domain is empty", ev.User)
	}
	ev.Service = firstNonEmpty(lookupString(doc, "service.target.name"), lookupString(doc, "url.domain"),
		lookupString(doc, "destination.domain"), lookupString(doc, "destination.address"),
		lookupString(doc, "service.name"), lookupString(doc, "event.dataset"))
	if ev.Service == "" {
		return event.Event{}, invalid("service.name", "required (or service.target.name, url.domain, destination.domain, destination.address, event.dataset)")
	}
	ev.IP = firstNonEmpty(lookupString(doc, "source.ip"), lookupString(doc, "client.ip"))
	ev.Country = countryCode(firstNonEmpty(lookupString(doc, "source.geo.country_iso_code"), lookupString(doc, "client.geo.country_iso_code")))
	ev.UserAgent = lookupString(doc, "user_agent.original")

	if id := lookupString(doc, "event.id"); id != "" {
		ev.ID = "ecs-" + id
		if len(ev.ID) > event.MaxIDLen {
			return event.Event{}, invalid("event.id", "longer than %d bytes", event.MaxIDLen-4)
		}
	} else {
		ev.ID = ingest.EventID("ecs", &ev)
	}
	return ev, nil
}

// stringList returns the value at path as a list of strings: ECS keyword fields may be a
// single string or an array of them.
func stringList(doc any, path string) []string {
	v, ok := lookup(doc, path)
	if !ok {
		return nil
	}
	switch x := v.(type) {
	case string:
		return []string{x}
	case []any:
		out := make([]string, 0, len(x))
		for _, e := range x {
			if s, ok := e.(string); ok {
				out = append(out, s)
			}
		}
		return out
	}
	return nil
}
