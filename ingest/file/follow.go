package file

import (
	"bytes"
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"breachd/ingest"
	"breachd/retry"
)

// Defaults of FollowOptions.
const (
	DefaultPoll       = 250 * time.Millisecond
	DefaultFlushAfter = 500 * time.Millisecond
	maxRetryWait      = 30 * time.Second
)

// FollowOptions configures NewFollow.
type FollowOptions struct {
	Batch int // lines per Submit (default 1000)
	// Poll is how often the file is checked for growth and rotation once its end is reached.
	Poll time.Duration
	// FlushAfter bounds how long a line waits in a partial batch before it is submitted.
	FlushAfter time.Duration
	// StateDir keeps the position across restarts. Empty: no state; every start reads the
	// file from its beginning (ids make that harmless, but slow for a big file).
	StateDir string
	// Format reads the lines (nil: canonical JSON).
	Format     ingest.Format
	Logger     *slog.Logger
	Registerer prometheus.Registerer // may be nil
}

// Follow reads one JSON Lines file as it grows, like tail -F, across rotation (see the
// package doc). It is an ingest.Source whose Run returns only when ctx ends or it cannot go on.
type Follow struct {
	path, name string
	opts       FollowOptions
	state      *stateFile // nil without StateDir
	log        *slog.Logger
	m          *followMetrics
	failing    bool // the last Submit failed (for logging state changes only)
}

var _ ingest.Source = (*Follow)(nil)

// NewFollow returns a Follow for path, which need not exist yet.
func NewFollow(path string, opts FollowOptions) (*Follow, error) {
	if path == "" || path == "-" {
		return nil, fmt.Errorf("follow: need a file path, got %q", path)
	}
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, fmt.Errorf("follow %s: %w", path, err)
	}
	opts.Batch = cmp.Or(max(opts.Batch, 0), DefaultBatch)
	opts.Poll = cmp.Or(max(opts.Poll, 0), DefaultPoll)
	opts.FlushAfter = cmp.Or(max(opts.FlushAfter, 0), DefaultFlushAfter)
	opts.Logger = cmp.Or(opts.Logger, slog.Default())
	m, err := newFollowMetrics(opts.Registerer, abs)
	if err != nil {
		return nil, err
	}
	f := &Follow{path: abs, name: filepath.Base(abs), opts: opts,
		log: opts.Logger.With("component", "ingest.follow", "path", abs), m: m}
	if opts.StateDir != "" {
		if f.state, err = newStateFile(opts.StateDir, abs); err != nil {
			return nil, fmt.Errorf("follow %s: %w", abs, err)
		}
	}
	return f, nil
}

// tail is the file being read and how far.
type tail struct {
	f       *os.File
	id      fileID
	readOff int64  // bytes read from f
	lineEnd int64  // offset just past the last complete line
	line    int    // complete lines before lineEnd
	partial []byte // the current incomplete line, at most MaxLine bytes
	long    bool   // the current line passed MaxLine; its rest is skipped
	head    []byte // the first min(readOff, headLen) bytes as read, to notice a rewrite
}

// follower is the state of one Run.
type follower struct {
	*Follow
	sink    ingest.Sink
	t       *tail
	recs    []ingest.Record
	firstAt time.Time // when recs[0] was read
}

// Run implements ingest.Source. It returns nil when ctx ends; lines read but not yet
// submitted then are read again on the next start.
func (f *Follow) Run(ctx context.Context, sink ingest.Sink) error {
	r := &follower{Follow: f, sink: sink, recs: make([]ingest.Record, 0, f.opts.Batch)}
	err := r.run(ctx)
	if r.t != nil {
		r.t.f.Close()
	}
	if ctx.Err() != nil && (err == nil || errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded)) {
		return nil
	}
	return err
}

func (r *follower) run(ctx context.Context) error {
	t, err := r.start(ctx)
	if err != nil {
		return err
	}
	r.t = t
	buf := make([]byte, 256<<10)
	for ctx.Err() == nil {
		n, err := r.t.f.Read(buf)
		if n > 0 {
			if err := r.consume(ctx, buf[:n]); err != nil {
				return err
			}
			continue
		}
		if err != nil && !errors.Is(err, io.EOF) {
			return fmt.Errorf("follow %s: read: %w", r.path, err)
		}
		// At the end of what is written so far.
		wait := r.opts.Poll
		if len(r.recs) > 0 {
			if left := r.opts.FlushAfter - time.Since(r.firstAt); left > 0 {
				wait = min(wait, left)
			} else if err := r.flush(ctx); err != nil {
				return err
			}
		}
		switched, err := r.checkRotation(ctx, buf)
		if err != nil {
			return err
		}
		if !switched {
			_ = retry.Sleep(ctx, wait) // if ctx ends, the loop does
		}
	}
	return nil
}

// consume splits chunk into lines, adding complete non-blank lines to the batch.
func (r *follower) consume(ctx context.Context, chunk []byte) error {
	t := r.t
	r.m.bytes.Add(float64(len(chunk)))
	if t.readOff < headLen && int64(len(t.head)) == t.readOff {
		t.head = append(t.head, chunk[:min(len(chunk), headLen-int(t.readOff))]...)
	}
	for len(chunk) > 0 {
		part, rest, complete := bytes.Cut(chunk, []byte{'\n'})
		chunk = rest
		if !t.long {
			if len(t.partial)+len(part) > MaxLine {
				t.partial = append(t.partial, part[:MaxLine-len(t.partial)]...)
				t.long = true
			} else {
				t.partial = append(t.partial, part...)
			}
		}
		t.readOff += int64(len(part))
		if complete {
			t.readOff++
			if err := r.endLine(ctx); err != nil {
				return err
			}
		}
	}
	return nil
}

// endLine ends the current line at readOff and submits the batch when it is full.
func (r *follower) endLine(ctx context.Context) error {
	t := r.t
	t.line++
	t.lineEnd = t.readOff
	data := t.partial
	if !t.long {
		data = bytes.TrimRight(data, "\r")
	}
	if len(bytes.TrimSpace(data)) > 0 {
		if len(r.recs) == 0 {
			r.firstAt = time.Now()
		}
		r.recs = append(r.recs, ingest.Record{Data: bytes.Clone(data), Where: fmt.Sprintf("%s:%d", r.name, t.line)})
		r.m.lines.Inc()
	}
	t.partial, t.long = t.partial[:0], false
	if len(r.recs) == r.opts.Batch {
		return r.flush(ctx)
	}
	return nil
}

// flush submits the batch, retrying until it is durable or ctx ends, then saves the position.
func (r *follower) flush(ctx context.Context) error {
	if len(r.recs) == 0 {
		return nil
	}
	b := retry.Backoff{Initial: r.opts.Poll, Max: maxRetryWait}
	for n := 1; ; n++ {
		res, err := r.sink.Submit(ctx, ingest.Batch{Source: "file", Format: r.opts.Format, Records: r.recs})
		if err == nil {
			if r.failing {
				r.log.Info("submitting again")
				r.failing = false
			}
			r.log.Debug("batch submitted", "lines", len(r.recs), "accepted", res.Accepted, "rejected", res.Rejected, "duplicates", res.Duplicates)
			break
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		r.m.submitFailures.Inc()
		if !r.failing {
			r.log.Warn("submit failed; retrying the same lines (the position does not advance)", "err", err)
			r.failing = true
		}
		_ = retry.Sleep(ctx, b.Delay(n))
	}
	r.recs = r.recs[:0]
	r.m.offset.Set(float64(r.t.lineEnd))
	r.savePosition()
	return nil
}

// savePosition records the current file's lineEnd. A failure is logged: it costs a re-send of
// lines after a restart, not data.
func (r *follower) savePosition() {
	if r.state == nil {
		return
	}
	t := r.t
	head := t.head[:min(int(min(t.lineEnd, headLen)), len(t.head))]
	p := &position{Path: r.path, Dev: t.id.Dev, Ino: t.id.Ino, Offset: t.lineEnd, Line: t.line,
		HeadLen: len(head), HeadSHA256: hashHex(head)}
	if err := r.state.save(p); err != nil {
		r.m.stateFailures.Inc()
		r.log.Warn("cannot save the position; after a restart some lines will be sent again", "err", err)
	}
}
