package retry

import (
	"context"
	"fmt"
	"math/rand/v2"
	"time"
)

// Backoff is an exponential delay: Initial after the first failure, doubled after each further
// one, at most Max. Jitter in [0, 1] spreads each delay d over [d·(1−Jitter), d) so that
// processes failing together do not retry together; 0 gives the exact delays.
type Backoff struct {
	Initial time.Duration
	Max     time.Duration
	Jitter  float64
	// Rand, if set, replaces math/rand/v2's Float64 (tests); it returns a value in [0, 1).
	Rand func() float64
}

// Delay returns the delay after failed attempt n (1-based; n < 1 counts as 1).
func (b Backoff) Delay(n int) time.Duration {
	d := max(b.Initial, time.Nanosecond)
	for i := 1; i < n && (b.Max <= 0 || d < b.Max); i++ {
		d *= 2
	}
	if b.Max > 0 {
		d = min(d, b.Max)
	}
	if b.Jitter <= 0 {
		return d
	}
	r := rand.Float64
	if b.Rand != nil {
		r = b.Rand
	}
	spread := min(b.Jitter, 1) * float64(d)
	return d - time.Duration(spread) + time.Duration(spread*r())
}

// After returns the delay after failed attempt n, at least the Retry-After err carries
// (itself capped by Max, so a server cannot park the caller for a day).
func (b Backoff) After(n int, err error) time.Duration {
	d := b.Delay(n)
	if ra, ok := RetryAfter(err); ok {
		if b.Max > 0 {
			ra = min(ra, b.Max)
		}
		d = max(d, ra)
	}
	return d
}

// Sleep waits d or until ctx ends, and returns ctx.Err() in that case.
func Sleep(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return ctx.Err()
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Forever calls f until it succeeds, returns a Permanent error (returned as is) or ctx ends
// (then the last error is returned, noting the cancellation). It waits b.After between calls.
func Forever(ctx context.Context, b Backoff, f func() error) error {
	for n := 1; ; n++ {
		err := f()
		if err == nil || IsPermanent(err) {
			return err
		}
		if serr := Sleep(ctx, b.After(n, err)); serr != nil {
			return fmt.Errorf("%w (gave up: %v)", err, serr)
		}
	}
}
