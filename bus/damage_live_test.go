package bus_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"

	"breachd/bus"
	"breachd/bus/bustest"
	"breachd/event"
)

// syncBuffer is a log buffer written by several goroutines.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// TestStoreCheckLiveStream: checks of an undamaged stream with a publisher and a caught-up
// detector running never report a loss (a message published and delivered while a check
// runs is not a lost tail) and so never move the detector's durable; the watch of consumers
// beyond the end, running alongside, reports none either.
func TestStoreCheckLiveStream(t *testing.T) {
	s := bustest.Start(t)
	_, js := s.Connect(t, 0)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	c, err := js.CreateOrUpdateConsumer(ctx, bus.StreamEvents, jetstream.ConsumerConfig{Durable: "detect-0-of-1", AckPolicy: jetstream.AckExplicitPolicy, MaxAckPending: 1000})
	if err != nil {
		t.Fatal(err)
	}
	var consumed, published atomic.Int64
	var wg sync.WaitGroup
	defer wg.Wait()
	defer cancel()
	it, err := c.Messages(jetstream.PullMaxMessages(500))
	if err != nil {
		t.Fatal(err)
	}
	defer it.Stop()
	wg.Go(func() {
		for {
			m, err := it.Next()
			if errors.Is(err, jetstream.ErrMsgIteratorClosed) {
				return
			}
			if err == nil && m.Ack() == nil {
				consumed.Add(1)
			}
		}
	})
	wg.Go(func() {
		payload := bytes.Repeat([]byte("x"), 300)
		for i := 0; ctx.Err() == nil; i++ {
			if _, err := js.Publish(ctx, bus.PartitionSubject(event.KindAuth, i%8), payload, jetstream.WithMsgID(fmt.Sprintf("e%d", i))); err == nil {
				published.Add(1)
			}
		}
	})
	var logs syncBuffer
	log := slog.New(slog.NewTextHandler(&logs, nil))
	reg := prometheus.NewRegistry()
	wg.Go(func() {
		_ = bus.EndsWatch{Streams: []string{bus.StreamEvents}, Every: 5 * time.Millisecond, Log: log, Registerer: reg}.Run(ctx, s.JS)
	})
	for consumed.Load() < 1000 {
		if ctx.Err() != nil || t.Failed() {
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
	const checks = 200
	for i := range checks {
		losses, err := bus.CheckStore(ctx, s.JS, bus.StoreCheck{Processors: map[string]string{bus.StreamEvents: "detect-"}, Log: log})
		if err != nil || len(losses) > 0 {
			t.Fatalf("check %d of a healthy live stream: losses %+v, err %v\n%s", i, losses, err, logs.String())
		}
	}
	before := consumed.Load()
	time.Sleep(100 * time.Millisecond)
	if consumed.Load() == before {
		t.Errorf("the detector stopped consuming (%d consumed, %d published)", before, published.Load())
	}
	if strings.Contains(logs.String(), "level=ERROR") || strings.Contains(logs.String(), "level=WARN") {
		t.Errorf("log of checks and watch of a healthy live stream:\n%s", logs.String())
	}
	if v := gaugeValue(t, reg, "breach_bus_consumers_beyond_end", "stream", bus.StreamEvents); v != 0 {
		t.Errorf("breach_bus_consumers_beyond_end = %v, want 0", v)
	}
	t.Logf("%d checks, %d events published, %d consumed meanwhile", checks, published.Load(), consumed.Load())
}

// fetchAck delivers n messages through the consumer of cfg (AckAll) and acks them.
func fetchAck(t *testing.T, js jetstream.JetStream, cfg jetstream.ConsumerConfig, n int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	c, err := js.CreateOrUpdateConsumer(ctx, bus.StreamEvents, cfg)
	if err != nil {
		t.Fatal(err)
	}
	for got := 0; got < n; {
		b, err := c.Fetch(min(1000, n-got), jetstream.FetchMaxWait(5*time.Second))
		if err != nil {
			t.Fatal(err)
		}
		var last jetstream.Msg
		for m := range b.Messages() {
			last = m
			got++
		}
		if last == nil {
			t.Fatalf("consumer %s: %d of %d delivered", cfg.Durable, got, n)
		}
		if err := last.DoubleAck(ctx); err != nil {
			t.Fatal(err)
		}
	}
}

// TestStoreDamageTailOwners: the last block of EVENTS damaged after two detectors had
// processed everything, one of a resized set (by start sequence, beyond the stream's new end)
// and one whose process runs on (its pull requests wait). The watch reports both beyond the
// end; the check moves the first back to its start sequence (the server refuses a reset below
// it), so it gets the new events from there, and leaves the one in use where it is, saying so.
func TestStoreDamageTailOwners(t *testing.T) {
	const events, start = 30000, 28000
	dir := t.TempDir()
	d := &damageStore{dir: dir, marks: filepath.Join(dir, "marks.json")}
	d.start(t)
	d.publish(t, 0, events)
	resized := jetstream.ConsumerConfig{Durable: "detect-0-of-2", AckPolicy: jetstream.AckAllPolicy,
		DeliverPolicy: jetstream.DeliverByStartSequencePolicy, OptStartSeq: start}
	live := jetstream.ConsumerConfig{Durable: "detect-1-of-2", AckPolicy: jetstream.AckAllPolicy}
	fetchAck(t, d.js, resized, events-start+1)
	fetchAck(t, d.js, live, events)
	d.stop()
	blks := d.blocks(t)
	overwrite(t, blks[len(blks)-1], 100<<10, 50<<10)
	d.start(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	lc, err := d.js.Consumer(ctx, bus.StreamEvents, live.Durable)
	if err != nil {
		t.Fatal(err)
	}
	it, err := lc.Messages()
	if err != nil {
		t.Fatal(err)
	}
	defer it.Stop()
	go func() { // the detector's loop
		for {
			if _, err := it.Next(); errors.Is(err, jetstream.ErrMsgIteratorClosed) {
				return
			}
		}
	}()
	for { // its pull request reaches the server
		if ci, err := lc.Info(ctx); err == nil && ci.NumWaiting > 0 {
			break
		}
		if ctx.Err() != nil {
			t.Fatal("the live detector's pull requests never reached the server")
		}
		time.Sleep(10 * time.Millisecond)
	}

	var watchLog syncBuffer
	reg := prometheus.NewRegistry()
	wctx, stopWatch := context.WithCancel(ctx)
	watched := make(chan struct{})
	go func() {
		defer close(watched)
		_ = bus.EndsWatch{Streams: []string{bus.StreamEvents}, Every: 20 * time.Millisecond, Log: slog.New(slog.NewTextHandler(&watchLog, nil)), Registerer: reg}.Run(wctx, d.js)
	}()
	for strings.Count(watchLog.String(), "consumer beyond the end") < 2 && ctx.Err() == nil {
		time.Sleep(10 * time.Millisecond)
	}
	stopWatch()
	<-watched
	if v := gaugeValue(t, reg, "breach_bus_consumers_beyond_end", "stream", bus.StreamEvents); v != 2 {
		t.Errorf("breach_bus_consumers_beyond_end = %v, want 2\n%s", v, watchLog.String())
	}
	if n := strings.Count(watchLog.String(), "level=ERROR"); n != 2 {
		t.Errorf("watch: %d Error lines, want one per consumer (reported once):\n%s", n, watchLog.String())
	}

	var logs bytes.Buffer
	losses, err := d.check(t, false, nil, &logs)
	if err != nil {
		t.Fatalf("check: %v\n%s", err, logs.String())
	}
	if len(losses) != 1 || len(losses[0].Unprocessed) != 0 || len(losses[0].Ahead) != 2 {
		t.Fatalf("losses %+v, want one in EVENTS, processed, both durables ahead", losses)
	}
	last := losses[0].Lost[0].First - 1
	if last+1 >= start {
		t.Fatalf("the damage lost %v: not below the resized detector's start %d", losses[0].Lost, start)
	}
	if !strings.Contains(logs.String(), "is in use: not moved back") || !strings.Contains(logs.String(), "pull requests waiting") {
		t.Errorf("log, want the live durable reported in use:\n%s", logs.String())
	}
	ci, err := lc.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if ci.Delivered.Stream != events {
		t.Errorf("the durable in use was moved: delivered %d, want %d", ci.Delivered.Stream, events)
	}

	d.publish(t, events, events+int(start-last)+99) // the stream then ends at start+99
	rc, err := d.js.Consumer(ctx, bus.StreamEvents, resized.Durable)
	if err != nil {
		t.Fatal(err)
	}
	b, err := rc.Fetch(1000, jetstream.FetchMaxWait(2*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	var seqs []uint64
	for m := range b.Messages() {
		md, err := m.Metadata()
		if err != nil {
			t.Fatal(err)
		}
		seqs = append(seqs, md.Sequence.Stream)
	}
	if len(seqs) != 100 || seqs[0] != start || seqs[99] != start+99 {
		t.Errorf("the resized detector got %d new events, sequences %v…, want %d-%d", len(seqs), seqs[:min(3, len(seqs))], start, start+99)
	}
}

// TestMarksOfAnotherStream: marks taken of a stream that was deleted and created again while
// breachd was stopped (or whose store was removed) are not the new stream's: its start at a
// lower last sequence is no loss.
func TestMarksOfAnotherStream(t *testing.T) {
	s := bustest.Start(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	marks := bus.Marks{File: filepath.Join(t.TempDir(), "marks.json"), Streams: bus.CheckedStreams}
	publish := func(n int) {
		t.Helper()
		for i := range n {
			if _, err := s.JS.Publish(ctx, bus.PartitionSubject(event.KindAuth, i%8), []byte("x"), jetstream.WithMsgID(fmt.Sprint(i))); err != nil {
				t.Fatal(err)
			}
		}
	}
	publish(100)
	if err := marks.Write(ctx, s.JS); err != nil {
		t.Fatal(err)
	}
	if err := s.JS.DeleteStream(ctx, bus.StreamEvents); err != nil {
		t.Fatal(err)
	}
	time.Sleep(10 * time.Millisecond) // a later creation time
	if err := bus.Ensure(ctx, s.JS, bus.Config{}); err != nil {
		t.Fatal(err)
	}
	publish(10)
	var logs bytes.Buffer
	losses, err := bus.CheckStore(ctx, s.JS, bus.StoreCheck{Marks: marks.File, Processors: map[string]string{bus.StreamEvents: "detect-"},
		Log: slog.New(slog.NewTextHandler(&logs, nil))})
	if err != nil || len(losses) != 0 {
		t.Fatalf("the recreated stream: losses %+v, err %v\n%s", losses, err, logs.String())
	}
}
