package kafka_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"breachd/bus"
	"breachd/bus/bustest"
	"breachd/ingest"
	"breachd/ingest/kafka"
)

const benchBatch = bustest.BenchBatch

// gate is a Sink that holds the first Submit until released (so that the timer starts once
// the group has formed and the first batch is fetched) and closes done once want records
// have been made durable.
type gate struct {
	ingest.Sink
	ready, release, done chan struct{}
	once                 sync.Once
	want, got            int
}

func (g *gate) Submit(ctx context.Context, b ingest.Batch) (ingest.Result, error) {
	g.once.Do(func() {
		close(g.ready)
		<-g.release
	})
	res, err := g.Sink.Submit(ctx, b)
	if err == nil {
		g.got += len(b.Records) // the source submits one batch at a time
		if g.got == g.want {
			close(g.done)
		}
	}
	return res, err
}

// BenchmarkKafkaSource measures events/s from a kfake topic of 3 partitions through the
// Source (group fetch, batch, commit) and the Pipeline (parse, validate, publish, every
// PubAck) into the embedded JetStream with file storage. One op is one batch of 1000 events.
func BenchmarkKafkaSource(b *testing.B) {
	s := bustest.Start(b)
	brokers := startKafka(b)
	batches, _, size := bustest.BenchPayloads(b.N)
	for _, vals := range batches {
		produce(b, brokers, vals)
	}
	cfg := config(brokers, "breachd-bench")
	cfg.Batch = benchBatch
	src, err := kafka.New(cfg)
	if err != nil {
		b.Fatal(err)
	}
	g := &gate{Sink: pipeline(b, s), ready: make(chan struct{}), release: make(chan struct{}), done: make(chan struct{}), want: b.N * benchBatch}
	r := start(b, context.Background(), src, g)
	select {
	case <-g.ready:
	case <-time.After(30 * time.Second):
		b.Fatal("no batch fetched after 30 s")
	}
	b.SetBytes(size)
	b.ResetTimer()
	close(g.release)
	select {
	case <-g.done:
	case <-time.After(5 * time.Minute):
		b.Fatal("not every event durable after 5 minutes")
	}
	b.StopTimer()
	b.ReportMetric(float64(b.N*benchBatch)/b.Elapsed().Seconds(), "events/s")
	r.stop(b)
	if n := s.Count(b, bus.StreamEvents); n != uint64(b.N*benchBatch) {
		b.Fatalf("EVENTS holds %d, want %d", n, b.N*benchBatch)
	}
}

// BenchmarkRawPublishAsync is the baseline under BenchmarkKafkaSource: the same payloads
// straight through PublishMsgAsync (bustest.BenchRawPublish).
func BenchmarkRawPublishAsync(b *testing.B) {
	bustest.BenchRawPublish(b, bustest.Start(b))
}
