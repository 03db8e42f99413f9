package ingest

import (
	"bytes"
	"errors"

	"breachd/event"
)

// Canonical returns the parser of the canonical JSON Lines format (shared/docs/events.md), the
// one every source reads with unless it is given another Format: event.Parse, except that an
// event whose id is missing or blank gets EventID("c", ev) instead of being rejected, so that
// a replayed file yields the same ids. A nil Format, Parser or MultiParser reads with it.
func Canonical() Parser { return parseCanonical }

func parseCanonical(data []byte) (event.Event, error) {
	ev, err := event.Parse(data)
	var ie *event.InvalidError
	if err == nil || !errors.As(err, &ie) || ie.Field != "id" || ie.Reason != "required" {
		return ev, err
	}
	// The id is missing, null or blank. Parse again with a placeholder id appended: the last
	// of duplicate keys wins in encoding/json, so it replaces whatever the record had.
	body := bytes.TrimSpace(data)
	if len(body) < 2 || body[len(body)-1] != '}' { // not one object: let Parse's reason stand
		return ev, err
	}
	body = body[:len(body)-1]
	buf := make([]byte, 0, len(body)+16)
	buf = append(buf, body...)
	if len(bytes.TrimSpace(body[1:])) > 0 {
		buf = append(buf, ',')
	}
	buf = append(buf, `"id":"-"}`...)
	ev, err = event.Parse(buf)
	if err != nil {
		return event.Event{}, err
	}
	ev.ID = EventID("c", &ev)
	return ev, nil
}
