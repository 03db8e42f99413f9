package bench

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"breachd/bus"
)

// ScratchPrefix begins the name of every stream the bench creates (and deletes): on a shared
// NATS it tells them from anyone else's.
const ScratchPrefix = "BENCH_"

// publishWindow bounds the raw phase's asynchronous publishes awaiting their PubAck (the
// pipeline's ingest uses the same, bus.DefaultWindow).
const publishWindow = 4096

// RawResult is the raw JetStream phase: the workload's payloads published to a scratch stream
// (file storage, same server, EVENTS' duplicate window) with PublishAsync and each event's id
// as its Nats-Msg-Id, as the pipeline's ingest publishes them, then consumed by a pull consumer
// with an explicit ack per message.
type RawResult struct {
	Events         int     `json:"events"`
	Bytes          int64   `json:"bytes"`
	PublishSeconds float64 `json:"publish_seconds"`
	ConsumeSeconds float64 `json:"consume_seconds"`
	// Seconds is publish plus consume; EventsPerSecond is Events over it: the number the
	// pipeline's is compared to.
	Seconds           float64 `json:"seconds"`
	EventsPerSecond   float64 `json:"events_per_second"`
	PublishPerSecond  float64 `json:"publish_events_per_second"`
	ConsumePerSecond  float64 `json:"consume_events_per_second"`
	CPUMicrosPerEvent float64 `json:"cpu_us_per_event"`
	CPUUserSeconds    float64 `json:"cpu_user_seconds"`
	CPUSystemSeconds  float64 `json:"cpu_system_seconds"`
	PeakRSSBytes      int64   `json:"peak_rss_bytes"`
	PeakRSSScope      string  `json:"peak_rss_scope"`
	Stream            string  `json:"stream"`
	StreamDeleted     bool    `json:"stream_deleted"`
}

// runRaw publishes payloads to a new scratch stream named stream, consumes them all, and
// deletes the stream (also on failure). replicas is the stream's replica count; the stream
// remembers message ids as long as EVENTS does.
func runRaw(ctx context.Context, js jetstream.JetStream, nc *nats.Conn, stream string, replicas int, payloads []payload, prog *progress) (_ *RawResult, err error) {
	if len(payloads) == 0 {
		return nil, errors.New("raw phase: no events to publish")
	}
	events, err := js.Stream(ctx, bus.StreamEvents)
	if err != nil {
		return nil, fmt.Errorf("stream %s (for its duplicate window): %w", bus.StreamEvents, err)
	}
	subject := "bench." + stream
	s, err := js.CreateStream(ctx, jetstream.StreamConfig{Name: stream, Subjects: []string{subject},
		Storage: jetstream.FileStorage, Replicas: max(replicas, 1), Duplicates: events.CachedInfo().Config.Duplicates})
	if err != nil {
		return nil, fmt.Errorf("create scratch stream %s: %w (the bench needs a NATS user that may create and delete streams named %s*)",
			stream, err, ScratchPrefix)
	}
	res := &RawResult{Events: len(payloads), Stream: stream}
	defer func() {
		dctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
		defer cancel()
		if derr := js.DeleteStream(dctx, stream); derr != nil {
			err = errors.Join(err, fmt.Errorf("delete scratch stream %s: %w", stream, derr))
			return
		}
		res.StreamDeleted = true
	}()
	for _, p := range payloads {
		res.Bytes += int64(len(p.data))
	}

	m := startMeter()
	prog.begin("raw publish", int64(len(payloads)))
	pubStart := time.Now()
	var failed atomic.Int64
	pjs, err := jetstream.New(nc, jetstream.WithPublishAsyncMaxPending(publishWindow),
		jetstream.WithPublishAsyncErrHandler(func(jetstream.JetStream, *nats.Msg, error) { failed.Add(1) }))
	if err != nil {
		return nil, err
	}
	pub := bus.NewPublisher(pjs)
	for i, p := range payloads {
		if _, err := pub.Publish(ctx, subject, p.id, p.data, nil); err != nil {
			return nil, fmt.Errorf("raw publish: %w", err)
		}
		prog.set(int64(i + 1))
	}
	select {
	case <-pjs.PublishAsyncComplete():
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	res.PublishSeconds = time.Since(pubStart).Seconds()
	if n := failed.Load(); n > 0 {
		return nil, fmt.Errorf("raw publish: %d of %d publishes failed", n, len(payloads))
	}
	info, err := s.Info(ctx)
	if err != nil {
		return nil, fmt.Errorf("raw publish: %w", err)
	}
	if stored := info.State.Msgs; stored != uint64(len(payloads)) {
		return nil, fmt.Errorf("raw publish: the stream holds %d of %d events (duplicate event ids?)", stored, len(payloads))
	}

	prog.begin("raw consume", int64(len(payloads)))
	consStart := time.Now()
	c, err := s.CreateConsumer(ctx, jetstream.ConsumerConfig{AckPolicy: jetstream.AckExplicitPolicy, MaxAckPending: publishWindow})
	if err != nil {
		return nil, fmt.Errorf("raw consumer: %w", err)
	}
	// Count distinct stream sequences (1 to len(payloads) in the new stream), so that a
	// redelivered message is not counted twice. Consume calls the handler from one goroutine.
	done := make(chan struct{})
	seen := make([]bool, len(payloads))
	var got int64
	var ackErrs atomic.Int64
	cc, err := c.Consume(func(msg jetstream.Msg) {
		if msg.Ack() != nil {
			ackErrs.Add(1)
		}
		md, err := msg.Metadata()
		if err != nil || md.Sequence.Stream == 0 || md.Sequence.Stream > uint64(len(seen)) || seen[md.Sequence.Stream-1] {
			return
		}
		seen[md.Sequence.Stream-1] = true
		got++
		prog.set(got)
		if got == int64(len(payloads)) {
			close(done)
		}
	})
	if err != nil {
		return nil, fmt.Errorf("raw consume: %w", err)
	}
	select {
	case <-done:
	case <-ctx.Done():
	}
	cc.Stop()
	if ctx.Err() != nil {
		return nil, ctx.Err()
	}
	if err := nc.Flush(); err != nil { // the acks have reached the server
		return nil, fmt.Errorf("raw consume: %w", err)
	}
	res.ConsumeSeconds = time.Since(consStart).Seconds()
	if n := ackErrs.Load(); n > 0 {
		return nil, fmt.Errorf("raw consume: %d acks failed", n)
	}
	f := m.stop()
	res.Seconds = res.PublishSeconds + res.ConsumeSeconds
	res.EventsPerSecond = rate(len(payloads), res.Seconds)
	res.PublishPerSecond = rate(len(payloads), res.PublishSeconds)
	res.ConsumePerSecond = rate(len(payloads), res.ConsumeSeconds)
	res.CPUMicrosPerEvent = f.CPUMicrosPer(int64(len(payloads)))
	res.CPUUserSeconds, res.CPUSystemSeconds = f.UserCPU, f.SysCPU
	res.PeakRSSBytes, res.PeakRSSScope = f.PeakRSS, f.PeakScope
	return res, nil
}

// rate is n per seconds (0 for no time).
func rate(n int, seconds float64) float64 {
	if seconds <= 0 {
		return 0
	}
	return float64(n) / seconds
}
