package respond

import (
	"fmt"
	"net/http"
	"strconv"
	"time"
)

// HTTPStatusError classifies a non-2xx HTTP response for adapters: 408, 425, 429 and 5xx
// are transient (with the Retry-After delay, in seconds or as an HTTP date, when given), every
// other status is permanent. what names the call ("SCIM PATCH /Users/{id}"); detail is a short
// excerpt of the body, which must not contain secrets.
func HTTPStatusError(what string, resp *http.Response, detail string, now time.Time) error {
	err := fmt.Errorf("%s: HTTP %d", what, resp.StatusCode)
	if detail != "" {
		err = fmt.Errorf("%s: HTTP %d: %s", what, resp.StatusCode, detail)
	}
	switch s := resp.StatusCode; {
	case s == http.StatusRequestTimeout, s == http.StatusTooEarly, s == http.StatusTooManyRequests, s >= 500:
		return RetryAfter(err, parseRetryAfter(resp.Header.Get("Retry-After"), now))
	}
	return Permanent(err)
}

func parseRetryAfter(v string, now time.Time) time.Duration {
	if v == "" {
		return 0
	}
	if secs, err := strconv.Atoi(v); err == nil && secs > 0 {
		return time.Duration(secs) * time.Second
	}
	if t, err := http.ParseTime(v); err == nil && t.After(now) {
		return t.Sub(now)
	}
	return 0
}
