package timespec

import (
	"strings"
	"testing"
	"time"
)

func TestParse(t *testing.T) {
	oslo, err := time.LoadLocation("Europe/Oslo")
	if err != nil {
		t.Skip(err)
	}
	now := time.Date(2026, 11, 5, 12, 0, 0, 0, time.UTC)
	for _, c := range []struct {
		in   string
		want time.Time
	}{
		{"24h", now.Add(-24 * time.Hour)},
		{"-90m", now.Add(-90 * time.Minute)},
		{"+1h", now.Add(time.Hour)},
		{"7d", now.AddDate(0, 0, -7)},
		{"2026-11-02T08:00:00Z", time.Date(2026, 11, 2, 8, 0, 0, 0, time.UTC)},
		{"2026-11-02T08:00:00+01:00", time.Date(2026, 11, 2, 7, 0, 0, 0, time.UTC)},
		{"2026-11-02", time.Date(2026, 11, 2, 0, 0, 0, 0, oslo)},
		{"2026-11-02T08:00", time.Date(2026, 11, 2, 8, 0, 0, 0, oslo)},
		{"2026-11-02 08:00:30", time.Date(2026, 11, 2, 8, 0, 30, 0, oslo)},
	} {
		got, err := Parse(c.in, oslo, now)
		if err != nil || !got.Equal(c.want) {
			t.Errorf("Parse(%q) = %v, %v; want %v", c.in, got, err, c.want)
		}
	}
	for _, bad := range []string{"", "yesterday", "2026-13-01", "7days"} {
		if _, err := Parse(bad, oslo, now); err == nil || !strings.Contains(err.Error(), "is not a time") {
			t.Errorf("Parse(%q): %v, want an error", bad, err)
		}
	}
}

func TestValue(t *testing.T) {
	oslo, err := time.LoadLocation("Europe/Oslo")
	if err != nil {
		t.Skip(err)
	}
	now := time.Date(2026, 11, 5, 12, 0, 0, 0, time.UTC)
	def := time.Date(2000, 1, 1, 0, 0, 0, 0, time.UTC)
	var v Value
	if v.Given() || !v.Time(oslo, now, def).Equal(def) || v.Type() != "time" {
		t.Fatalf("unset value: given %v, time %v, want the default %v", v.Given(), v.Time(oslo, now, def), def)
	}
	if err := v.Set("yesterday"); err == nil || !strings.Contains(err.Error(), "is not a time") || v.Given() {
		t.Fatalf(`Set("yesterday") = %v (given %v), want "is not a time" and nothing kept`, err, v.Given())
	}
	if err := v.Set("2026-11-02T08:00"); err != nil || v.String() != "2026-11-02T08:00" {
		t.Fatalf("Set: %v, String %q", err, v.String())
	}
	// Read in the zone given when the time is asked for, not when it was set.
	if got, want := v.Time(oslo, now, def), time.Date(2026, 11, 2, 8, 0, 0, 0, oslo); !got.Equal(want) {
		t.Errorf("Time in Oslo = %v, want %v", got, want)
	}
	if got, want := v.UTC(def), time.Date(2026, 11, 2, 8, 0, 0, 0, time.UTC); !got.Equal(want) {
		t.Errorf("UTC = %v, want %v", got, want)
	}
	if err := v.Set("7d"); err != nil || !v.Time(oslo, now, def).Equal(now.AddDate(0, 0, -7)) {
		t.Errorf("Set(7d): %v, Time %v", err, v.Time(oslo, now, def))
	}
}
