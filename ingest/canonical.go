package ingest

import (
	"strings"

	"breachd/event"
)

// Canonical returns the parser of the canonical JSON Lines format (shared/docs/events.md), the
// one every source reads with unless it is given another Format: event.Decode (the pipeline
// validates what a Format returns, so the events are checked once, as event.Parse checks them),
// except that an event whose id is missing or blank gets EventID("c", ev) instead of being
// rejected, so that a replayed file yields the same ids. A nil Format, Parser or MultiParser
// reads with it.
func Canonical() Parser { return parseCanonical }

func parseCanonical(data []byte) (event.Event, error) {
	ev, err := event.Decode(data)
	if err != nil || strings.TrimSpace(ev.ID) != "" {
		return ev, err
	}
	// The id is missing, null or blank: derive it from the validated (normalised) event,
	// validated with a placeholder id so that any other fault is reported as Parse would.
	ev.ID = "-"
	if err := ev.Validate(); err != nil {
		return event.Event{}, err
	}
	ev.ID = EventID("c", &ev)
	return ev, nil
}
