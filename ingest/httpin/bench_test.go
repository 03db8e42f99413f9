package httpin_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"

	"github.com/prometheus/client_golang/prometheus"

	"breachd/bus"
	"breachd/bus/bustest"
	"breachd/ingest"
	"breachd/ingest/httpin"
)

const benchBatch = bustest.BenchBatch

// benchBodies returns n JSON Lines bodies of the bustest.BenchPayloads batches, so the numbers
// compare with ingest's BenchmarkPipelineSubmit and BenchmarkRawPublishAsync.
func benchBodies(n int) [][]byte {
	payloads, _, _ := bustest.BenchPayloads(n)
	bodies := make([][]byte, n)
	for b, vals := range payloads {
		bodies[b] = append(bytes.Join(vals, []byte("\n")), '\n')
	}
	return bodies
}

// BenchmarkHTTPPost measures events/s through POST /v1/events on a loopback listener: read,
// split, check, Pipeline.Submit (parse, validate, publish, every PubAck) into the embedded
// JetStream, answer. One op is one body of 1000 events. Compare with ingest's
// BenchmarkRawPublishAsync in the same run:
//
//	go test -run '^$' -bench 'HTTPPost|RawPublishAsync|PipelineSubmit' -benchtime 200x ./ingest/ ./ingest/httpin/
func BenchmarkHTTPPost(b *testing.B) {
	for _, clients := range []int{1, 4} {
		b.Run(fmt.Sprintf("clients=%d", clients), func(b *testing.B) {
			s := bustest.Start(b)
			p, err := ingest.NewPipeline(bus.NewPublisher(s.JS), s.Layout(b), discard, prometheus.NewRegistry())
			if err != nil {
				b.Fatal(err)
			}
			srv, err := httpin.New(httpin.Config{Tokens: testTokens, MaxInFlight: clients, Logger: discard, Registerer: prometheus.NewRegistry()})
			if err != nil {
				b.Fatal(err)
			}
			hs := httptest.NewServer(srv.Handler(p))
			defer hs.Close()
			bodies := benchBodies(b.N)
			b.SetBytes(int64(len(bodies[0])))
			b.ReportAllocs()
			var next atomic.Int64
			b.SetParallelism(clients) // at least clients goroutines; sem lets exactly clients of them post
			b.ResetTimer()
			sem := make(chan struct{}, clients)
			b.RunParallel(func(pb *testing.PB) {
				sem <- struct{}{}
				defer func() { <-sem }()
				client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: clients}}
				for pb.Next() {
					i := next.Add(1) - 1
					if err := postBench(client, hs.URL, bodies[i]); err != nil {
						b.Error(err)
						return
					}
				}
			})
			b.StopTimer()
			b.ReportMetric(float64(b.N*benchBatch)/b.Elapsed().Seconds(), "events/s")
			if n := s.Count(b, bus.StreamEvents); n != uint64(b.N*benchBatch) {
				b.Fatalf("EVENTS holds %d, want %d", n, b.N*benchBatch)
			}
		})
	}
}

func postBench(c *http.Client, url string, body []byte) error {
	req, err := http.NewRequest(http.MethodPost, url+"/v1/events", bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Authorization", "Bearer "+tokenA)
	req.Header.Set("Content-Type", "application/x-ndjson")
	res, err := c.Do(req)
	if err != nil {
		return err
	}
	defer res.Body.Close()
	var r httpin.Response
	if err := json.NewDecoder(res.Body).Decode(&r); err != nil {
		return err
	}
	_, _ = io.Copy(io.Discard, res.Body)
	if res.StatusCode != 200 || r.Accepted != benchBatch || r.Duplicates != 0 {
		return fmt.Errorf("status %d: %+v", res.StatusCode, r)
	}
	return nil
}
