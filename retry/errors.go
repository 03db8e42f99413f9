package retry

import (
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// classified marks an error as permanent or transient.
type classified struct {
	err        error
	permanent  bool
	retryAfter time.Duration
}

func (e *classified) Error() string { return e.err.Error() }
func (e *classified) Unwrap() error { return e.err }

// Permanent marks err as not worth retrying. Permanent(nil) is nil.
func Permanent(err error) error {
	if err == nil {
		return nil
	}
	return &classified{err: err, permanent: true}
}

// Transient marks err as worth retrying, not before after (0: the backoff decides).
// Transient(nil, d) is nil.
func Transient(err error, after time.Duration) error {
	if err == nil {
		return nil
	}
	return &classified{err: err, retryAfter: max(after, 0)}
}

// IsPermanent reports whether err was marked by Permanent (anywhere in its chain). Unmarked
// errors count as transient.
func IsPermanent(err error) bool {
	var c *classified
	return errors.As(err, &c) && c.permanent
}

// RetryAfter returns the delay the other side asked for, if err carries one.
func RetryAfter(err error) (time.Duration, bool) {
	var c *classified
	if errors.As(err, &c) && c.retryAfter > 0 {
		return c.retryAfter, true
	}
	return 0, false
}

// TransientStatus reports whether an HTTP status is worth retrying: 408 Request Timeout,
// 425 Too Early, 429 Too Many Requests and every 5xx. Any other non-2xx status is permanent:
// the request itself is wrong (4xx) or was answered in a way retrying will not change.
func TransientStatus(code int) bool {
	return code == http.StatusRequestTimeout || code == http.StatusTooEarly ||
		code == http.StatusTooManyRequests || code >= 500
}

// MaxRetryAfter caps a Retry-After header: a day.
const MaxRetryAfter = 24 * time.Hour

// maxErrorBody bounds how much of a failed response is read into an error.
const maxErrorBody = 512

// HTTPError classifies a non-2xx response as StatusError does, with at most 512 bytes of the
// body as the detail. It reads the body but does not close it.
func HTTPError(what string, resp *http.Response, now time.Time) error {
	snippet, _ := io.ReadAll(io.LimitReader(resp.Body, maxErrorBody))
	return StatusError(what, resp, strings.TrimSpace(strings.ToValidUTF8(string(snippet), "?")), now)
}

// StatusError classifies a non-2xx response as Transient (honouring Retry-After) or
// Permanent (see TransientStatus). The message is "<what>: HTTP <status>: <detail>"; detail
// is a short excerpt of the answer chosen by the caller, and must hold no secret. It does not
// touch the body.
func StatusError(what string, resp *http.Response, detail string, now time.Time) error {
	err := fmt.Errorf("%s: HTTP %d", what, resp.StatusCode)
	if detail != "" {
		err = fmt.Errorf("%s: HTTP %d: %s", what, resp.StatusCode, detail)
	}
	if TransientStatus(resp.StatusCode) {
		return Transient(err, ParseRetryAfter(resp.Header.Get("Retry-After"), now))
	}
	return Permanent(err)
}

// ParseRetryAfter reads a Retry-After value, delay-seconds or an HTTP date, capped at
// MaxRetryAfter; 0 if absent, unreadable or past.
func ParseRetryAfter(v string, now time.Time) time.Duration {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0
	}
	if s, err := strconv.ParseInt(v, 10, 64); err == nil {
		if s <= 0 {
			return 0
		}
		return min(time.Duration(min(s, int64(MaxRetryAfter/time.Second)))*time.Second, MaxRetryAfter)
	}
	if t, err := http.ParseTime(v); err == nil && t.After(now) {
		return min(t.Sub(now), MaxRetryAfter)
	}
	return 0
}
