package ingest_test

import (
	"context"
	"fmt"
	"testing"

	"github.com/prometheus/client_golang/prometheus"

	"breachd/bus"
	"breachd/bus/bustest"
	"breachd/ingest"
)

const benchBatch = bustest.BenchBatch

// benchBatches returns bustest.BenchPayloads as records.
func benchBatches(n int) (batches [][]ingest.Record, size int64) {
	payloads, _, size := bustest.BenchPayloads(n)
	for b, vals := range payloads {
		recs := make([]ingest.Record, len(vals))
		for i, v := range vals {
			recs[i] = ingest.Record{Data: v, Where: fmt.Sprintf("bench:%d", b*benchBatch+i+1)}
		}
		batches = append(batches, recs)
	}
	return batches, size
}

// BenchmarkPipelineSubmit measures events/s through Pipeline.Submit (parse, validate, marshal,
// publish, wait for every PubAck) into the embedded JetStream with file storage.
func BenchmarkPipelineSubmit(b *testing.B) {
	s := bustest.Start(b)
	p, err := ingest.NewPipeline(bus.NewPublisher(s.JS), s.Layout(b), discard, prometheus.NewRegistry())
	if err != nil {
		b.Fatal(err)
	}
	batches, size := benchBatches(b.N)
	ctx := context.Background()
	b.SetBytes(size)
	b.ReportAllocs()
	b.ResetTimer()
	cpu := bustest.CPU(b)
	for i := range b.N {
		res, err := p.Submit(ctx, ingest.Batch{Source: "bench", Records: batches[i]})
		if err != nil {
			b.Fatal(err)
		}
		if res.Accepted != benchBatch || res.Duplicates != 0 || res.Rejected != 0 {
			b.Fatalf("batch %d: %+v", i, res)
		}
	}
	b.StopTimer()
	b.ReportMetric(float64(b.N*benchBatch)/b.Elapsed().Seconds(), "events/s")
	bustest.ReportCPU(b, cpu, b.N*benchBatch)
	if n := s.Count(b, bus.StreamEvents); n != uint64(b.N*benchBatch) {
		b.Fatalf("EVENTS holds %d, want %d", n, b.N*benchBatch)
	}
}

// BenchmarkRawPublishAsync publishes the same payloads with the same ids straight through
// PublishMsgAsync (bustest.BenchRawPublish): the floor the Pipeline's parsing and validation
// add to.
func BenchmarkRawPublishAsync(b *testing.B) {
	bustest.BenchRawPublish(b, bustest.Start(b))
}

// BenchmarkCheck measures reading one canonical record as Submit does, without publishing:
// decode, validate, the clock check (Pipeline.Check).
func BenchmarkCheck(b *testing.B) {
	s := bustest.Start(b)
	p, err := ingest.NewPipeline(bus.NewPublisher(s.JS), s.Layout(b), discard, prometheus.NewRegistry())
	if err != nil {
		b.Fatal(err)
	}
	batches, _ := benchBatches(1)
	recs := batches[0]
	b.ReportAllocs()
	b.ResetTimer()
	for i := range b.N {
		if err := p.Check(nil, recs[i%len(recs)].Data); err != nil {
			b.Fatal(err)
		}
	}
}
