package bench

import (
	"context"
	"fmt"
	"io"
	"sync"
	"sync/atomic"
	"time"
)

// progressEvery is how often progress is written while a phase runs.
const progressEvery = 2 * time.Second

// progress tells whoever started the bench what it is doing: the phase, the events so far and
// the rate since the last line (or, while waiting for the pipeline, the events it has left),
// on w (stderr), every progressEvery.
type progress struct {
	w io.Writer
	n atomic.Int64

	mu     sync.Mutex
	phase  string
	total  int64
	left   func() (uint64, error) // while waiting: what is left to do
	phases int                    // phases begun: a line about an earlier one is not written
	lastN  int64
	lastAt time.Time
}

func newProgress(w io.Writer) *progress {
	if w == nil {
		w = io.Discard
	}
	return &progress{w: w}
}

// begin starts a phase of total events (0: no count).
func (p *progress) begin(phase string, total int64) { p.start(phase, total, nil) }

// wait starts waiting for the pipeline to catch up: left says how many events the detector
// has left.
func (p *progress) wait(phase string, left func() (uint64, error)) { p.start(phase, 0, left) }

func (p *progress) start(phase string, total int64, left func() (uint64, error)) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.phase, p.total, p.left, p.lastN, p.lastAt = phase, total, left, 0, time.Now()
	p.phases++
	p.n.Store(0)
	fmt.Fprintf(p.w, "bench: %s\n", phase)
}

// note writes a line of its own.
func (p *progress) note(format string, args ...any) {
	p.mu.Lock()
	defer p.mu.Unlock()
	fmt.Fprintf(p.w, "bench: "+format+"\n", args...)
}

// set records that n events of the phase are done (safe from any goroutine).
func (p *progress) set(n int64) { p.n.Store(n) }

// run writes a progress line every progressEvery until ctx ends.
func (p *progress) run(ctx context.Context) {
	t := time.NewTicker(progressEvery)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		p.line()
	}
}

// line writes one progress line. The detector's lag is asked for (a request to the server)
// without holding p.mu, so that begin and note never wait for it.
func (p *progress) line() {
	p.mu.Lock()
	left, phases := p.left, p.phases
	p.mu.Unlock()
	var lag uint64
	var lagErr error
	if left != nil {
		lag, lagErr = left()
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.phases != phases {
		return // a phase began meanwhile
	}
	n, now := p.n.Load(), time.Now()
	switch {
	case p.total > 0:
		fmt.Fprintf(p.w, "bench: %s: %d/%d events, %.0f/s\n", p.phase, n, p.total, float64(n-p.lastN)/now.Sub(p.lastAt).Seconds())
	case left != nil:
		if lagErr == nil {
			fmt.Fprintf(p.w, "bench: %s: the detector has %d events left\n", p.phase, lag)
		}
	default:
		fmt.Fprintf(p.w, "bench: %s ...\n", p.phase)
	}
	p.lastN, p.lastAt = n, now
}
