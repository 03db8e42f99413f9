package event

import (
	"time"
)

// The range of event times breachd keeps: what the history's DateTime64(3) columns can store
// (ClickHouse: 1900-01-01 00:00:00 to 2299-12-31 23:59:59.999 UTC). A time outside it would be
// stored as another time (2999-01-01 came back as 1829-11-23), so Validate rejects it.
var (
	MinTime = time.Date(1900, 1, 1, 0, 0, 0, 0, time.UTC)
	MaxTime = time.Date(2299, 12, 31, 23, 59, 59, 999e6, time.UTC)
)

// DefaultMaxFutureSkew is how far ahead of the ingest clock an event time may be by default
// (CheckFuture): a source's clock may be off, or a time zone mislabelled, by some hours.
const DefaultMaxFutureSkew = 24 * time.Hour

// checkTimeRange reports a time the history cannot store.
func checkTimeRange(t time.Time) error {
	if t.Before(MinTime) || t.After(MaxTime) {
		return invalid("time", "%s is outside the range history can store (%s to %s)",
			t.UTC().Format(time.RFC3339Nano), MinTime.Format("2006-01-02"), MaxTime.Format("2006-01-02"))
	}
	return nil
}

// CheckFuture reports, as an *InvalidError on "time", an event time more than maxSkew ahead
// of now (the ingest clock): such a time is a source's mistake or a forgery, and, stored, it
// would sit at the top of every time-ordered view and outlive the retention. maxSkew <= 0
// disables the check. Old times (a backfill) are never rejected here; Validate's range check
// applies to them.
func CheckFuture(t, now time.Time, maxSkew time.Duration) error {
	if maxSkew <= 0 || !t.After(now.Add(maxSkew)) {
		return nil
	}
	return invalid("time", "%s is %s ahead of the ingest clock (%s), more than the %s allowed",
		t.UTC().Format(time.RFC3339Nano), t.Sub(now).Round(time.Second), now.UTC().Format(time.RFC3339), maxSkew)
}
