package channel

import (
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// sendError classifies a failed attempt.
type sendError struct {
	err        error
	permanent  bool
	retryAfter time.Duration
}

func (e *sendError) Error() string { return e.err.Error() }
func (e *sendError) Unwrap() error { return e.err }

// Permanent marks err as not worth retrying. Permanent(nil) is nil.
func Permanent(err error) error {
	if err == nil {
		return nil
	}
	return &sendError{err: err, permanent: true}
}

// Transient marks err as retryable, not before after (0: the backoff decides).
func Transient(err error, after time.Duration) error {
	if err == nil {
		return nil
	}
	return &sendError{err: err, retryAfter: after}
}

// IsPermanent reports whether err was marked permanent by Permanent (anywhere in its chain).
func IsPermanent(err error) bool {
	var se *sendError
	return errors.As(err, &se) && se.permanent
}

// RetryAfter returns the delay the destination asked for, if any.
func RetryAfter(err error) (time.Duration, bool) {
	var se *sendError
	if errors.As(err, &se) && se.retryAfter > 0 {
		return se.retryAfter, true
	}
	return 0, false
}

// maxErrorBody bounds how much of a failed response is read into an error.
const maxErrorBody = 512

// httpStatusError classifies a non-2xx response: 408, 429 and 5xx are transient (honouring
// Retry-After), every other status is permanent. It reads at most maxErrorBody bytes.
func httpStatusError(what string, resp *http.Response, now time.Time) error {
	snippet, _ := io.ReadAll(io.LimitReader(resp.Body, maxErrorBody))
	msg := strings.TrimSpace(strings.ToValidUTF8(string(snippet), "?"))
	err := fmt.Errorf("%s: HTTP %d %s", what, resp.StatusCode, msg)
	code := resp.StatusCode
	if code == http.StatusRequestTimeout || code == http.StatusTooManyRequests || code >= 500 {
		return Transient(err, parseRetryAfter(resp.Header.Get("Retry-After"), now))
	}
	return Permanent(err)
}

// parseRetryAfter reads delay-seconds or an HTTP date; 0 if absent or unreadable.
func parseRetryAfter(v string, now time.Time) time.Duration {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0
	}
	if s, err := strconv.ParseInt(v, 10, 64); err == nil {
		if s <= 0 {
			return 0
		}
		if s > 86400 {
			s = 86400
		}
		return time.Duration(s) * time.Second
	}
	if t, err := http.ParseTime(v); err == nil && t.After(now) {
		return t.Sub(now)
	}
	return 0
}

// redactURLError strips the request URL from an http.Client error: chat webhook URLs carry
// their token in the path and must not reach logs.
func redactURLError(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		return fmt.Errorf("%s request: %w", strings.ToLower(ue.Op), ue.Err)
	}
	return err
}
