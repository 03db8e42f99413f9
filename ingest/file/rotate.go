package file

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/prometheus/client_golang/prometheus"

	"breachd/promreg"
	"breachd/retry"
)

// start opens the file to read first: where the saved position says (the followed file, or
// the rotated old one if it was rotated while stopped), else the followed file from its
// beginning, waiting for it to exist.
func (r *follower) start(ctx context.Context) (*tail, error) {
	if r.state != nil {
		pos, err := r.state.load()
		if err != nil {
			r.log.Warn("ignoring the saved position; reading the file from its beginning", "err", err)
		} else if pos != nil {
			if t := r.resume(pos); t != nil {
				return t, nil
			}
		}
	}
	return r.waitOpen(ctx)
}

// resume finds the file pos was taken in, or returns nil.
func (r *follower) resume(pos *position) *tail {
	if f, err := os.Open(r.path); err == nil {
		fi, err := f.Stat()
		if err == nil && pos.matches(f, idOf(fi)) {
			return r.at(f, idOf(fi), pos)
		}
		f.Close()
		if err == nil && idOf(fi) == pos.id() {
			r.log.Warn("the file was truncated or replaced while stopped; reading it from its beginning", "saved_offset", pos.Offset)
			return nil
		}
	}
	for _, c := range rotatedCandidates(r.path) {
		f, err := os.Open(c)
		if err != nil {
			continue
		}
		if fi, err := f.Stat(); err == nil && pos.matches(f, idOf(fi)) {
			r.log.Info("the file was rotated while stopped; reading the rest of the old one first", "old", c, "offset", pos.Offset)
			return r.at(f, idOf(fi), pos)
		}
		f.Close()
	}
	r.log.Warn("the file was rotated while stopped and the old one is not found beside it; lines written to the old one after the saved position are not ingested",
		"saved_offset", pos.Offset)
	return nil
}

func (r *follower) at(f *os.File, id fileID, pos *position) *tail {
	if _, err := f.Seek(pos.Offset, io.SeekStart); err != nil {
		f.Close()
		return nil
	}
	head, _ := readHead(f, int(min(pos.Offset, headLen)))
	r.m.offset.Set(float64(pos.Offset))
	return &tail{f: f, id: id, readOff: pos.Offset, lineEnd: pos.Offset, line: pos.Line, head: head}
}

func (r *follower) waitOpen(ctx context.Context) (*tail, error) {
	logged := false
	for {
		f, err := os.Open(r.path)
		if err == nil {
			fi, err := f.Stat()
			if err == nil && fi.IsDir() {
				err = errors.New("is a directory")
			}
			if err != nil {
				f.Close()
				return nil, fmt.Errorf("follow %s: %w", r.path, err)
			}
			r.m.offset.Set(0)
			return &tail{f: f, id: idOf(fi)}, nil
		}
		if !errors.Is(err, os.ErrNotExist) {
			return nil, fmt.Errorf("follow %s: %w", r.path, err)
		}
		if !logged {
			r.log.Info("waiting for the file to appear")
			logged = true
		}
		if err := retry.Sleep(ctx, r.opts.Poll); err != nil {
			return nil, err
		}
	}
}

// checkRotation runs at the end of the open file. If another file now has the followed path
// (rename rotation), it drains the open file, submits it, and switches to the new one from its
// start. If the open file shrank or its first bytes changed (copytruncate), it starts again at
// its beginning. A missing path is not a change: the open file is read until a new one appears.
func (r *follower) checkRotation(ctx context.Context, buf []byte) (switched bool, err error) {
	t := r.t
	if fi, err := os.Stat(r.path); err == nil && idOf(fi) != t.id {
		return true, r.rotate(ctx, buf)
	}
	cur, err := t.f.Stat()
	if err != nil {
		return false, fmt.Errorf("follow %s: stat: %w", r.path, err)
	}
	if h, err := readHead(t.f, len(t.head)); cur.Size() < t.readOff || (err == nil && !bytes.Equal(h, t.head)) {
		return true, r.truncated(ctx)
	}
	return false, nil
}

// rotate reads the old file to its end (a last line without newline counts: nobody will
// complete it), submits it, and opens the new file.
func (r *follower) rotate(ctx context.Context, buf []byte) error {
	t := r.t
	for {
		n, err := t.f.Read(buf)
		if n > 0 {
			if err := r.consume(ctx, buf[:n]); err != nil {
				return err
			}
		}
		if n == 0 || err != nil {
			break
		}
	}
	if len(t.partial) > 0 || t.long {
		if err := r.endLine(ctx); err != nil {
			return err
		}
	}
	if err := r.flush(ctx); err != nil {
		return err
	}
	f, err := os.Open(r.path)
	if err != nil {
		return nil // gone again: keep the old one and look again at the next poll
	}
	fi, err := f.Stat()
	if err != nil {
		f.Close()
		return fmt.Errorf("follow %s: stat: %w", r.path, err)
	}
	r.log.Info("file rotated; reading the new one from its beginning", "lines_in_old", t.line)
	r.m.rotations.WithLabelValues("rename").Inc()
	t.f.Close()
	r.t = &tail{f: f, id: idOf(fi)}
	r.m.offset.Set(0)
	r.savePosition()
	return nil
}

// truncated starts the open file again at its beginning. Lines already read are submitted; a
// last incomplete line is dropped (copytruncate copied it to the rotated file, where the
// writer cannot complete it).
func (r *follower) truncated(ctx context.Context) error {
	if err := r.flush(ctx); err != nil {
		return err
	}
	t := r.t
	if len(t.partial) > 0 {
		r.log.Warn("file truncated with an incomplete last line; that line is not ingested", "bytes", len(t.partial))
	}
	if _, err := t.f.Seek(0, io.SeekStart); err != nil {
		return fmt.Errorf("follow %s: seek: %w", r.path, err)
	}
	r.log.Info("file truncated; reading it again from its beginning", "lines_before", t.line)
	r.m.rotations.WithLabelValues("truncate").Inc()
	*t = tail{f: t.f, id: t.id, partial: t.partial[:0]}
	r.m.offset.Set(0)
	r.savePosition()
	return nil
}

type followMetrics struct {
	lines, bytes, submitFailures, stateFailures prometheus.Counter
	rotations                                   *prometheus.CounterVec
	offset                                      prometheus.Gauge
}

// newFollowMetrics labels every series with the followed path (a configured, bounded set), so
// several Follows can share one registry.
func newFollowMetrics(reg prometheus.Registerer, path string) (*followMetrics, error) {
	l := prometheus.Labels{"path": path}
	m := &followMetrics{
		lines: prometheus.NewCounter(prometheus.CounterOpts{Name: "breach_file_follow_lines_total",
			Help: "Non-blank lines read from a followed file.", ConstLabels: l}),
		bytes: prometheus.NewCounter(prometheus.CounterOpts{Name: "breach_file_follow_read_bytes_total",
			Help: "Bytes read from a followed file.", ConstLabels: l}),
		submitFailures: prometheus.NewCounter(prometheus.CounterOpts{Name: "breach_file_follow_submit_failures_total",
			Help: "Failed Submits of a followed file's lines (retried).", ConstLabels: l}),
		stateFailures: prometheus.NewCounter(prometheus.CounterOpts{Name: "breach_file_follow_state_write_failures_total",
			Help: "Positions that could not be saved.", ConstLabels: l}),
		rotations: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "breach_file_follow_rotations_total",
			Help: "Rotations noticed, by kind (rename, truncate).", ConstLabels: l}, []string{"kind"}),
		offset: prometheus.NewGauge(prometheus.GaugeOpts{Name: "breach_file_follow_offset_bytes",
			Help: "Offset in the current file up to which lines are submitted.", ConstLabels: l}),
	}
	err := promreg.All(reg, promreg.Of(&m.lines), promreg.Of(&m.bytes), promreg.Of(&m.submitFailures),
		promreg.Of(&m.stateFailures), promreg.Of(&m.rotations), promreg.Of(&m.offset))
	if err != nil {
		return nil, fmt.Errorf("follow %s: metrics: %w", path, err)
	}
	return m, nil
}
