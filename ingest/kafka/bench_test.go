package kafka_test

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"breachd/bus"
	"breachd/bus/bustest"
	"breachd/event"
	"breachd/ingest"
	"breachd/ingest/kafka"
)

const benchBatch = 1000

// benchPayloads returns n batches of benchBatch realistic access events (about 300 bytes,
// unique ids), their ids, and the payload bytes of one batch. The events are those of
// BenchmarkPipelineSubmit in package ingest, so the numbers compare.
func benchPayloads(n int) (batches [][][]byte, ids [][]string, size int64) {
	start := time.Date(2026, 11, 2, 7, 0, 0, 0, time.UTC)
	actions := []string{"view", "view", "view", "update", "export"}
	resources := []string{"grades", "absence", "assessment", "progress", "messages"}
	for b := range n {
		vals := make([][]byte, benchBatch)
		bid := make([]string, benchBatch)
		for i := range vals {
			k := b*benchBatch + i
			bid[i] = fmt.Sprintf("lms-1-%09d", k)
			vals[i] = fmt.Appendf(nil, `{"kind":"access","id":%q,"time":%q,"org":"bergen.kommune.no",`+
				`"actor":"teacher%d@bergen.kommune.no","actor_role":"teacher","action":%q,`+
				`"subject":"pupil%d@bergen.kommune.no","resource":%q,"service":"https://lms.example.no/saml",`+
				`"group":"fc:gogroup:bergen.kommune.no:u:NO974600951:8a-mat:2026-08-15:2027-06-20"}`,
				bid[i], start.Add(time.Duration(k)*time.Millisecond).Format(time.RFC3339Nano), k%60,
				actions[k%len(actions)], k%900, resources[k%len(resources)])
			if b == 0 {
				size += int64(len(vals[i]))
			}
		}
		batches = append(batches, vals)
		ids = append(ids, bid)
	}
	return batches, ids, size
}

// gate is a Sink that holds the first Submit until released (so that the timer starts once
// the group has formed and the first batch is fetched) and closes done once want records
// have been made durable.
type gate struct {
	ingest.Sink
	ready, release, done chan struct{}
	once                 sync.Once
	want, got            int
}

func (g *gate) Submit(ctx context.Context, source string, recs []ingest.Record) (ingest.Result, error) {
	g.once.Do(func() {
		close(g.ready)
		<-g.release
	})
	res, err := g.Sink.Submit(ctx, source, recs)
	if err == nil {
		g.got += len(recs) // the source submits one batch at a time
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
	batches, _, size := benchPayloads(b.N)
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

// BenchmarkRawPublishAsync publishes the same payloads with the same ids straight through
// PublishMsgAsync and waits for each batch to complete, as the baseline of the same name in
// package ingest does: the floor under BenchmarkKafkaSource.
func BenchmarkRawPublishAsync(b *testing.B) {
	s := bustest.Start(b)
	batches, ids, size := benchPayloads(b.N)
	b.SetBytes(size)
	b.ReportAllocs()
	b.ResetTimer()
	for i := range b.N {
		for j, data := range batches[i] {
			m := &nats.Msg{Subject: bus.PartitionSubject(event.KindAccess, 0), Data: data, Header: nats.Header{bus.HeaderMsgID: {ids[i][j]}}}
			if _, err := s.JS.PublishMsgAsync(m); err != nil {
				b.Fatal(err)
			}
		}
		select {
		case <-s.JS.PublishAsyncComplete():
		case <-time.After(30 * time.Second):
			b.Fatalf("batch %d not acked after 30s", i)
		}
	}
	b.StopTimer()
	b.ReportMetric(float64(b.N*benchBatch)/b.Elapsed().Seconds(), "events/s")
	if n := s.Count(b, bus.StreamEvents); n != uint64(b.N*benchBatch) {
		b.Fatalf("EVENTS holds %d, want %d", n, b.N*benchBatch)
	}
}
