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

// Value is a time flag (a pflag.Value): Set refuses what Parse cannot read, so a bad time is
// reported as the flag's error while the command line is parsed, and Time reads what was given
// once the zone and the moment are known (a --tz flag may follow it). Whether a text is a time
// does not depend on the zone.
type Value struct{ s string }

// Set checks s and keeps it.
func (v *Value) Set(s string) error {
	if _, err := Parse(s, time.UTC, time.Now()); err != nil {
		return err
	}
	v.s = s
	return nil
}

func (v *Value) String() string { return v.s }

// Type names the value in the flag's help.
func (v *Value) Type() string { return "time" }

// Given reports whether the flag was given.
func (v *Value) Given() bool { return v.s != "" }

// Time is the time given, read in loc at now (Parse); def when none was given.
func (v *Value) Time(loc *time.Location, now, def time.Time) time.Time {
	if v.s == "" {
		return def
	}
	t, _ := Parse(v.s, loc, now) // Set has read it: no error
	return t
}

// UTC is Time in UTC at the current time.
func (v *Value) UTC(def time.Time) time.Time { return v.Time(time.UTC, time.Now(), def) }
