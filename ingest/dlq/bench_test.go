package dlq_test

import (
	"context"
	"strconv"
	"testing"
	"time"

	"breachd/bus"
	"breachd/bus/bustest"
	"breachd/ingest"
	"breachd/ingest/dlq"
)

// BenchmarkList reads 1,000 dead letters per iteration (one message get each) and reports
// letters per second.
func BenchmarkList(b *testing.B) {
	s := bustest.Start(b)
	const n = 1000
	recs := make([]ingest.Record, n)
	for i := range recs {
		recs[i] = ingest.Record{Data: []byte(`{"kind":"nope","n":` + strconv.Itoa(i) + `}`), Where: "bench:" + strconv.Itoa(i)}
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	p, err := ingest.NewPipeline(bus.NewPublisher(s.JS), s.Layout(b), discard(), nil)
	if err != nil {
		b.Fatal(err)
	}
	if res, err := p.Submit(ctx, ingest.Batch{Source: "bench", Records: recs}); err != nil || res.Rejected != n {
		b.Fatalf("seed: %+v, %v", res, err)
	}
	b.ResetTimer()
	for b.Loop() {
		ls, err := dlq.List(ctx, s.JS, dlq.Filter{Limit: -1})
		if err != nil || len(ls) != n {
			b.Fatalf("List: %d letters, %v", len(ls), err)
		}
	}
	b.ReportMetric(float64(n*b.N)/b.Elapsed().Seconds(), "letters/s")
}
