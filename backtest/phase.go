package backtest

import (
	"context"
	"fmt"
	"sync/atomic"
	"time"

	"golang.org/x/sync/errgroup"

	"breachd/event"
	"breachd/history"
)

// Reading and evaluating overlap: one goroutine reads the store (query, decoding) into
// batches of readBatch events, at most readAhead batches ahead of the evaluation.
const (
	readBatch = 512
	readAhead = 8
	// progressCheck is how many events pass between looks at the clock for progress reports.
	progressCheck = 4096
)

// phase replays [from, to) of kinds (nil: all) from src into fn, in order, reporting progress.
// fn runs on the calling goroutine; the store is read on a second one, owned and waited for
// here. It returns the number of events handed to fn.
func (o *Options) phase(ctx context.Context, src Source, name string, from, to time.Time, kinds []event.Kind,
	fn func(*event.Event)) (int64, error) {
	var planned atomic.Int64
	g, gctx := errgroup.WithContext(ctx)
	batches := make(chan []*event.Event, readAhead)
	g.Go(func() error {
		defer close(batches)
		buf := make([]*event.Event, 0, readBatch)
		send := func() error {
			select {
			case batches <- buf:
				buf = make([]*event.Event, 0, readBatch)
				return nil
			case <-gctx.Done():
				return gctx.Err()
			}
		}
		ropts := history.ReplayOptions{Kinds: kinds, ChunkRows: o.ChunkRows, Planned: func(rows int64, _ int) { planned.Store(rows) }}
		_, err := src.Replay(gctx, from, to, ropts, func(e *event.Event) error {
			if buf = append(buf, e); len(buf) == readBatch {
				return send()
			}
			return nil
		})
		if err == nil && len(buf) > 0 {
			err = send()
		}
		return err
	})

	p := Progress{Phase: name}
	began := o.Clock()
	last := began
	report := func(done bool) {
		if o.Progress == nil {
			return
		}
		now := o.Clock()
		p.Elapsed, p.Done, p.Planned, last = now.Sub(began), done, planned.Load(), now
		o.Progress(p)
	}
	g.Go(func() error {
		for b := range batches {
			for _, e := range b {
				fn(e)
				p.Events++
				p.EventTime = e.Time
				if p.Events%progressCheck != 0 {
					continue
				}
				if err := gctx.Err(); err != nil {
					return err
				}
				if o.Progress != nil && o.Clock().Sub(last) >= o.ProgressEvery {
					report(false)
				}
			}
		}
		return nil
	})
	if err := g.Wait(); err != nil {
		return p.Events, fmt.Errorf("backtest %s phase: %w", name, err)
	}
	report(true)
	return p.Events, nil
}
