package deploy

import (
	"context"
	"fmt"
	"time"

	"breachd/event"
	"breachd/ingest"
	"breachd/simulate"
)

// DemoSource is an ingest.Source that feeds the simulator's events through the same ingest
// path as any other source (marshalled to canonical JSON, then read with the canonical
// parser and validated).
type DemoSource struct {
	gen   *simulate.Generator
	batch int
	rate  int // events per second; 0 = as fast as the pipeline takes them
}

// NewDemoSource returns a source over gen. rate 0 means unpaced.
func NewDemoSource(gen *simulate.Generator, rate int) *DemoSource {
	return &DemoSource{gen: gen, batch: 500, rate: rate}
}

// Run implements ingest.Source.
func (d *DemoSource) Run(ctx context.Context, sink ingest.Sink) error {
	recs := make([]ingest.Record, 0, d.batch)
	var tick <-chan time.Time
	if d.rate > 0 {
		t := time.NewTicker(time.Duration(float64(time.Second) * float64(d.batch) / float64(d.rate)))
		defer t.Stop()
		tick = t.C
	}
	flush := func() error {
		if len(recs) == 0 {
			return nil
		}
		if tick != nil {
			select {
			case <-ctx.Done():
				return ctx.Err()
			case <-tick:
			}
		}
		if _, err := sink.Submit(ctx, ingest.Batch{Source: "demo", Records: recs}); err != nil {
			return err
		}
		recs = recs[:0]
		return nil
	}
	n := 0
	err := d.gen.Run(ctx, func(e *event.Event) error {
		data, err := event.Marshal(e)
		if err != nil {
			return fmt.Errorf("marshal demo event %s: %w", e.ID, err)
		}
		n++
		recs = append(recs, ingest.Record{Data: data, Where: fmt.Sprintf("demo:%d", n)})
		if len(recs) == d.batch {
			return flush()
		}
		return nil
	})
	if err == nil {
		err = flush()
	}
	if ctx.Err() != nil {
		return nil
	}
	return err
}
