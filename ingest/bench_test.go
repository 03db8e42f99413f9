package ingest_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/prometheus/client_golang/prometheus"

	"breachd/bus"
	"breachd/bus/bustest"
	"breachd/event"
	"breachd/ingest"
)

const benchBatch = 1000

// benchBatches returns n batches of benchBatch realistic access events (about 300 bytes each,
// unique ids), their ids, and the payload bytes of one batch.
func benchBatches(n int) (batches [][]ingest.Record, ids [][]string, size int64) {
	start := time.Date(2026, 11, 2, 7, 0, 0, 0, time.UTC)
	actions := []string{"view", "view", "view", "update", "export"}
	resources := []string{"grades", "absence", "assessment", "progress", "messages"}
	for b := range n {
		recs := make([]ingest.Record, benchBatch)
		bid := make([]string, benchBatch)
		for i := range recs {
			k := b*benchBatch + i
			bid[i] = fmt.Sprintf("lms-1-%09d", k)
			recs[i].Data = fmt.Appendf(nil, `{"kind":"access","id":%q,"time":%q,"org":"bergen.kommune.no",`+
				`"actor":"teacher%d@bergen.kommune.no","actor_role":"teacher","action":%q,`+
				`"subject":"pupil%d@bergen.kommune.no","resource":%q,"service":"https://lms.example.no/saml",`+
				`"group":"fc:gogroup:bergen.kommune.no:u:NO974600951:8a-mat:2026-08-15:2027-06-20"}`,
				bid[i], start.Add(time.Duration(k)*time.Millisecond).Format(time.RFC3339Nano), k%60,
				actions[k%len(actions)], k%900, resources[k%len(resources)])
			recs[i].Where = fmt.Sprintf("bench:%d", k+1)
			if b == 0 {
				size += int64(len(recs[i].Data))
			}
		}
		batches = append(batches, recs)
		ids = append(ids, bid)
	}
	return batches, ids, size
}

// BenchmarkPipelineSubmit measures events/s through Pipeline.Submit (parse, validate, marshal,
// publish, wait for every PubAck) into the embedded JetStream with file storage.
func BenchmarkPipelineSubmit(b *testing.B) {
	s := bustest.Start(b)
	p := ingest.NewPipeline(bus.NewPublisher(s.JS), s.Layout(b), discard, prometheus.NewRegistry())
	batches, _, size := benchBatches(b.N)
	ctx := context.Background()
	b.SetBytes(size)
	b.ReportAllocs()
	b.ResetTimer()
	for i := range b.N {
		res, err := p.Submit(ctx, "bench", batches[i])
		if err != nil {
			b.Fatal(err)
		}
		if res.Accepted != benchBatch || res.Duplicates != 0 || res.Rejected != 0 {
			b.Fatalf("batch %d: %+v", i, res)
		}
	}
	b.StopTimer()
	b.ReportMetric(float64(b.N*benchBatch)/b.Elapsed().Seconds(), "events/s")
	if n := s.Count(b, bus.StreamEvents); n != uint64(b.N*benchBatch) {
		b.Fatalf("EVENTS holds %d, want %d", n, b.N*benchBatch)
	}
}

// BenchmarkRawPublishAsync publishes the same payloads with the same ids straight through
// PublishMsgAsync and waits for each batch to complete: the floor the Pipeline's parsing and
// validation add to.
func BenchmarkRawPublishAsync(b *testing.B) {
	s := bustest.Start(b)
	batches, ids, size := benchBatches(b.N)
	b.SetBytes(size)
	b.ReportAllocs()
	b.ResetTimer()
	for i := range b.N {
		for j, r := range batches[i] {
			m := &nats.Msg{Subject: bus.PartitionSubject(event.KindAccess, 0), Data: r.Data, Header: nats.Header{bus.HeaderMsgID: {ids[i][j]}}}
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
	// Every publish was acked and stored (an error in a future would leave a gap).
	if n := s.Count(b, bus.StreamEvents); n != uint64(b.N*benchBatch) {
		b.Fatalf("EVENTS holds %d, want %d", n, b.N*benchBatch)
	}
}
