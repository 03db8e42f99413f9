package auth

import (
	"math"
	"strconv"
	"sync"
	"time"

	"golang.org/x/time/rate"
)

// limiter is a token bucket per key (a client address, a user name), bounded in keys.
type limiter struct {
	limit rate.Limit
	burst int

	mu sync.Mutex
	m  map[string]*rate.Limiter
}

// maxLimiterKeys bounds a limiter's memory: past it, buckets that have refilled (no
// different from new ones) are dropped, and if that is not enough, a new key is refused (its
// caller waits a minute): flooding the map must not reset the buckets of the keys it holds.
const maxLimiterKeys = 100_000

func newLimiter(perMinute, burst int) *limiter {
	return &limiter{limit: rate.Limit(float64(perMinute) / 60), burst: burst, m: map[string]*rate.Limiter{}}
}

// take takes one token of key's bucket at now, or returns how long until there is one.
func (l *limiter) take(key string, now time.Time) time.Duration {
	l.mu.Lock()
	defer l.mu.Unlock()
	lim := l.m[key]
	if lim == nil {
		if len(l.m) >= maxLimiterKeys {
			for k, v := range l.m {
				if v.TokensAt(now) >= float64(l.burst) {
					delete(l.m, k)
				}
			}
			if len(l.m) >= maxLimiterKeys {
				return time.Minute
			}
		}
		lim = rate.NewLimiter(l.limit, l.burst)
		l.m[key] = lim
	}
	r := lim.ReserveN(now, 1)
	d := r.DelayFrom(now)
	if d > 0 {
		r.CancelAt(now)
	}
	return d
}

// retryAfter is d in whole seconds, rounded up, for the Retry-After header.
func retryAfter(d time.Duration) string {
	return strconv.Itoa(int(math.Ceil(d.Seconds())))
}
