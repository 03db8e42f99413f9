package respond

import (
	"errors"
	"time"
)

// permanentError marks an adapter error that retrying cannot fix.
type permanentError struct{ err error }

func (e *permanentError) Error() string { return e.err.Error() }
func (e *permanentError) Unwrap() error { return e.err }

// Permanent marks err as permanent: the engine records the request as failed and never
// retries it. Use it for "user not found", "bad credentials", "not allowed", a malformed
// request: anything a second try with the same input cannot fix. Permanent(nil) is nil.
func Permanent(err error) error {
	if err == nil {
		return nil
	}
	return &permanentError{err: err}
}

// IsPermanent reports whether err (or an error it wraps) was marked with Permanent.
// Everything else (timeouts, refused connections, 429, 5xx) is transient.
func IsPermanent(err error) bool {
	var p *permanentError
	return errors.As(err, &p)
}

// retryAfterError carries the delay a server asked for (HTTP Retry-After).
type retryAfterError struct {
	err   error
	after time.Duration
}

func (e *retryAfterError) Error() string { return e.err.Error() }
func (e *retryAfterError) Unwrap() error { return e.err }

// RetryAfter marks a transient err with the delay the remote side asked for; the engine waits
// at least that long (at most MaxBackoff) before the next attempt. RetryAfter(nil, d) is nil.
func RetryAfter(err error, d time.Duration) error {
	if err == nil {
		return nil
	}
	return &retryAfterError{err: err, after: d}
}

// RetryDelay returns the delay requested by a RetryAfter error in err's chain, or 0.
func RetryDelay(err error) time.Duration {
	var r *retryAfterError
	if errors.As(err, &r) && r.after > 0 {
		return r.after
	}
	return 0
}

// Errors returned by the engine (wrapped); callers branch on them with errors.Is.
var (
	// ErrNotFound: no request for that incident.
	ErrNotFound = errors.New("no deactivation request for this incident")
	// ErrState: the request is not in a state that allows the operation.
	ErrState = errors.New("request is not in a state that allows this")
	// ErrStepsOpen: reactivation refused because steps of the breach procedure are not done.
	ErrStepsOpen = errors.New("reactivation refused: procedure steps not recorded done")
	// ErrTargetMismatch: a request for the incident exists with another org or account.
	ErrTargetMismatch = errors.New("incident already has a request for another account")
	// ErrConflict: a compare-and-set write lost the race too many times in a row.
	ErrConflict = errors.New("request changed concurrently too often")
)
