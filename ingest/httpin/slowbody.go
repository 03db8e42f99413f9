package httpin

import (
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"time"
)

// bodyReader reads a request body under a connection read deadline that moves with the bytes
// received, so that a client sending slowly loses its own in-flight slot instead of holding it:
//
//   - the whole body must arrive within timeout of the handler starting to read it;
//   - after grace, every rate bytes received buy one more second: a body that has delivered n
//     bytes must deliver more by start + grace + n/rate (rate 0: no such bound).
//
// The deadline is set through http.ResponseController, so it applies to the connection of a
// net/http server (HTTP/1 and HTTP/2). When the ResponseWriter cannot set deadlines (a wrapper
// without Unwrap, a recorder) the body is read without them and only the server's own timeouts
// apply.
//
// Network deadlines are wall-clock times of the runtime's poller, so they are computed from
// time.Now, not from an injected clock.
type bodyReader struct {
	body  io.ReadCloser
	rc    *http.ResponseController
	start time.Time
	hard  time.Time // start + timeout
	grace time.Duration
	rate  int64 // bytes per second, 0: none

	n      int64     // bytes received
	set    time.Time // deadline in force
	byRate bool      // the deadline in force is the rate bound, not the hard one
	noDL   bool      // the writer cannot set deadlines
	eof    bool      // the body ended: set no deadline any more
}

func newBodyReader(w http.ResponseWriter, body io.ReadCloser, timeout, grace time.Duration, rate int64) *bodyReader {
	now := time.Now()
	return &bodyReader{body: body, rc: http.NewResponseController(w), start: now, hard: now.Add(timeout), grace: grace, rate: rate}
}

func (b *bodyReader) Read(p []byte) (int, error) {
	if b.eof {
		// net/http cleared the deadline when the body hit EOF and reads in the background
		// now; a deadline set here would end that read and cancel the request's context.
		return 0, io.EOF
	}
	if !b.noDL {
		d, byRate := b.hard, false
		if b.rate > 0 {
			if r := b.start.Add(b.grace + time.Duration(float64(b.n)/float64(b.rate)*float64(time.Second))); r.Before(d) {
				d, byRate = r, true
			}
		}
		if !d.Equal(b.set) {
			if err := b.rc.SetReadDeadline(d); err != nil {
				if !errors.Is(err, http.ErrNotSupported) {
					return 0, err
				}
				b.noDL = true
			}
			b.set, b.byRate = d, byRate
		}
	}
	n, err := b.body.Read(p)
	b.n += int64(n)
	b.eof = err == io.EOF
	if err != nil && errors.Is(err, os.ErrDeadlineExceeded) {
		return n, &slowBodyError{rate: b.byRate, received: b.n, took: time.Since(b.start)}
	}
	return n, err
}

func (b *bodyReader) Close() error { return b.body.Close() }

// slowBodyError is returned by bodyReader when the body did not arrive in time.
type slowBodyError struct {
	rate     bool // the minimum rate was not met (else: the whole body took too long)
	received int64
	took     time.Duration
}

func (e *slowBodyError) Error() string {
	if e.rate {
		return fmt.Sprintf("request body arrived too slowly (%d bytes in %s)", e.received, e.took.Round(time.Millisecond))
	}
	return fmt.Sprintf("request body not complete after %s (%d bytes received)", e.took.Round(time.Millisecond), e.received)
}

// reason is the label of breach_httpin_body_timeouts_total.
func (e *slowBodyError) reason() string {
	if e.rate {
		return "too_slow"
	}
	return "timeout"
}
