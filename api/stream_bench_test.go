package api_test

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	"breachd/auth"
	"breachd/notify"
)

// BenchmarkSSEFanout: open consoles (100, or BREACHD_SSE_BENCH_CLIENTS) on the live incident
// stream of one server, each a real HTTP client of GET /api/incidents/stream as a SOC analyst.
// Each op is one incident change (notify.Incidents.Comment: the compare-and-set in the KV
// bucket and the publication on INCIDENTS, as a person's change through the API makes it) and
// waits until every client has read its event. It reports the latency from the start of the
// change to each client's receipt (p50, p95, p99 over every delivery) and to the last
// client's (all-p50, all-p95, all-p99), in ms.
//
//	setsid go test ./api/ -run '^$' -bench SSEFanout -benchtime 500x
func BenchmarkSSEFanout(b *testing.B) {
	clients := int(benchInt(b, "BREACHD_SSE_BENCH_CLIENTS", 100))
	var accounts []string
	for i := range 20 { // changes spread over incidents, so no timeline grows long
		accounts = append(accounts, fmt.Sprintf("bench%d@%s", i, bergen))
	}
	e := newEnv(b, accounts)
	incs, err := notify.NewIncidents(context.Background(), e.js.JS, notify.IncidentsOptions{}) // the change without the history mirror
	if err != nil {
		b.Fatal(err)
	}
	var ids []string
	for _, inc := range e.byAccount {
		ids = append(ids, inc.ID)
	}
	received := make(chan time.Time, clients)
	for range clients {
		s := e.openStream(b, principalName(auth.RoleSOC, bergen))
		s.start(b)
		go func() { // ends with the stream (the body is closed when the benchmark ends)
			for f := range s.frames {
				if f.event == "incident" {
					received <- f.at
				}
			}
		}()
	}
	e.waitMetric(b, "breach_api_stream_clients", float64(clients))

	each := make([]time.Duration, 0, b.N*clients)
	last := make([]time.Duration, 0, b.N)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		t0 := time.Now()
		comment(b, incs, ids[i%len(ids)], "bench")
		var slowest time.Duration
		for range clients {
			select {
			case at := <-received:
				d := at.Sub(t0)
				each = append(each, d)
				slowest = max(slowest, d)
			case <-time.After(streamWait):
				b.Fatalf("change %d: not every client got it within %s", i, streamWait)
			}
		}
		last = append(last, slowest)
	}
	b.StopTimer()
	pct := func(durs []time.Duration, p int) float64 {
		slices.Sort(durs)
		return float64(durs[(len(durs)-1)*p/100].Microseconds()) / 1000
	}
	m := map[string]float64{}
	for _, p := range []int{50, 95, 99} {
		m[fmt.Sprintf("p%d-ms", p)] = pct(each, p)
		m[fmt.Sprintf("all-p%d-ms", p)] = pct(last, p)
	}
	for name, v := range m {
		b.ReportMetric(v, name)
	}
	fmt.Printf("SSE fan-out to %d clients, %d changes: change → client p50 %.2f ms, p95 %.2f ms, p99 %.2f ms; change → last client p50 %.2f ms, p95 %.2f ms, p99 %.2f ms\n",
		clients, b.N, m["p50-ms"], m["p95-ms"], m["p99-ms"], m["all-p50-ms"], m["all-p95-ms"], m["all-p99-ms"])
}
