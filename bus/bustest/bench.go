package bustest

import (
	"fmt"
	"syscall"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"breachd/bus"
	"breachd/event"
)

// BenchBatch is the number of events in one batch of BenchPayloads.
const BenchBatch = 1000

// BenchPayloads returns n batches of BenchBatch realistic canonical access events (about 300
// bytes each, unique ids), their ids, and the payload bytes of one batch: the events every
// ingest benchmark (file pipeline, HTTP, Kafka) and its raw-publish baseline send, so that
// their numbers compare.
func BenchPayloads(n int) (batches [][][]byte, ids [][]string, size int64) {
	start := time.Date(2026, 11, 2, 7, 0, 0, 0, time.UTC)
	actions := []string{"view", "view", "view", "update", "export"}
	resources := []string{"grades", "absence", "assessment", "progress", "messages"}
	for b := range n {
		vals := make([][]byte, BenchBatch)
		bid := make([]string, BenchBatch)
		for i := range vals {
			k := b*BenchBatch + i
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

// BenchRawPublish is the baseline of the ingest benchmarks: it publishes b.N batches of
// BenchPayloads with their ids straight through PublishMsgAsync on s (whose EVENTS stream
// exists), waits for each batch to complete, reports events/s and checks every event was
// stored.
func BenchRawPublish(b *testing.B, s *Server) {
	batches, ids, size := BenchPayloads(b.N)
	b.SetBytes(size)
	b.ReportAllocs()
	b.ResetTimer()
	cpu := CPU(b)
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
	b.ReportMetric(float64(b.N*BenchBatch)/b.Elapsed().Seconds(), "events/s")
	ReportCPU(b, cpu, b.N*BenchBatch)
	// Every publish was acked and stored (an error in a future would leave a gap).
	if n := s.Count(b, bus.StreamEvents); n != uint64(b.N*BenchBatch) {
		b.Fatalf("EVENTS holds %d, want %d", n, b.N*BenchBatch)
	}
}

// CPU returns the CPU time (user and system) the process has used so far. Benchmarks of
// in-process pipelines, whose NATS server and ClickHouse engine run in the same process,
// report its growth per event with ReportCPU.
func CPU(tb testing.TB) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		tb.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// ReportCPU reports the process's CPU time since start (a CPU reading) per event as
// "cpu-µs/event".
func ReportCPU(b *testing.B, start time.Duration, events int) {
	b.ReportMetric(float64((CPU(b)-start).Microseconds())/float64(events), "cpu-µs/event")
}
