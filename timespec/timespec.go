// Package timespec reads a time as people write it on a command line or in a query parameter:
// a duration ago (24h, -24h, 7d; +1h is ahead of now), an RFC 3339 time, or a date, or a date
// and time, in a given zone. The CLI's time flags use it, and the API's time parameters can.
package timespec

import (
	"fmt"
	"strconv"
	"strings"
	"time"
)

// layouts are the dates and times without a zone Parse reads, in the zone it is given.
var layouts = []string{time.DateOnly, "2006-01-02T15:04", "2006-01-02 15:04", "2006-01-02T15:04:05", time.DateTime}

// Parse reads s: a duration ago (24h, -24h, 7d; +1h ahead) from now; RFC 3339; or a date, or a
// date and time, in loc.
func Parse(s string, loc *time.Location, now time.Time) (time.Time, error) {
	sign, d := -1, strings.TrimPrefix(s, "-")
	if ahead, ok := strings.CutPrefix(s, "+"); ok {
		sign, d = 1, ahead
	}
	if dur, err := time.ParseDuration(d); err == nil {
		return now.Add(time.Duration(sign) * dur), nil
	}
	if n, err := strconv.Atoi(strings.TrimSuffix(d, "d")); err == nil && strings.HasSuffix(d, "d") {
		return now.AddDate(0, 0, sign*n), nil
	}
	if t, err := time.Parse(time.RFC3339Nano, s); err == nil {
		return t, nil
	}
	for _, layout := range layouts {
		if t, err := time.ParseInLocation(layout, s, loc); err == nil {
			return t, nil
		}
	}
	return time.Time{}, fmt.Errorf("%q is not a time: neither RFC 3339 (2026-11-02T08:00:00Z), a date in %s (2026-11-02, 2026-11-02T08:00) "+
		"nor a duration ago (24h, 7d)", s, loc)
}
