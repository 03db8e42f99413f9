package kafka_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	kafkago "github.com/segmentio/kafka-go"
	"github.com/twmb/franz-go/pkg/kfake"

	"breachd/bus"
	"breachd/bus/bustest"
	"breachd/event"
	"breachd/ingest"
	"breachd/ingest/kafka"
)

var discard = slog.New(slog.DiscardHandler)

const (
	topic      = "feide-auth"
	partitions = 3
)

// startKafka starts an in-process kfake cluster on 127.0.0.1 with topic seeded with 3
// partitions and returns its broker addresses.
func startKafka(t testing.TB, opts ...kfake.Opt) []string {
	t.Helper()
	opts = append([]kfake.Opt{kfake.NumBrokers(1), kfake.SeedTopics(partitions, topic)}, opts...)
	c, err := kfake.NewCluster(opts...)
	if err != nil {
		t.Fatalf("start kfake: %v", err)
	}
	t.Cleanup(c.Close)
	return c.ListenAddrs()
}

// lines returns n canonical auth events as JSON lines, with the 1-based positions in bad
// replaced by those invalid lines, and the ids of the valid ones.
func lines(t testing.TB, prefix string, n int, bad map[int]string) ([][]byte, []string) {
	t.Helper()
	start := time.Date(2026, 11, 2, 7, 0, 0, 0, time.UTC)
	var out [][]byte
	var ids []string
	for i := 1; i <= n; i++ {
		if l, ok := bad[i]; ok {
			out = append(out, []byte(l))
			continue
		}
		e := event.Event{
			Kind: event.KindAuth, ID: fmt.Sprintf("%s-%06d", prefix, i), Time: start.Add(time.Duration(i) * time.Second),
			Org: "bergen.kommune.no", User: fmt.Sprintf("pupil%d@bergen.kommune.no", i%500),
			Service: "https://lms.example.no/saml", Result: "success", Method: "password", IP: "193.157.1.20",
		}
		b, err := event.Marshal(&e)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, b)
		ids = append(ids, e.ID)
	}
	return out, ids
}

// produce writes values to topic, spread round-robin over its partitions, and waits until
// every one is acknowledged by all replicas.
func produce(t testing.TB, brokers []string, values [][]byte) {
	t.Helper()
	w := &kafkago.Writer{
		Addr: kafkago.TCP(brokers...), Topic: topic, Balancer: &kafkago.RoundRobin{},
		RequiredAcks: kafkago.RequireAll, BatchSize: 1000, BatchTimeout: 5 * time.Millisecond,
	}
	defer w.Close()
	msgs := make([]kafkago.Message, len(values))
	for i, v := range values {
		msgs[i] = kafkago.Message{Value: v}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := w.WriteMessages(ctx, msgs...); err != nil {
		t.Fatalf("produce %d messages: %v", len(msgs), err)
	}
}

// offsets returns the group's committed offset and the end offset of every partition of
// topic (-1 for a partition the group never committed).
func offsets(t testing.TB, brokers []string, group string) (committed, end map[int]int64) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c := &kafkago.Client{Addr: kafkago.TCP(brokers...)}
	parts := make([]int, partitions)
	reqs := make([]kafkago.OffsetRequest, partitions)
	for p := range partitions {
		parts[p] = p
		reqs[p] = kafkago.LastOffsetOf(p)
	}
	fr, err := c.OffsetFetch(ctx, &kafkago.OffsetFetchRequest{GroupID: group, Topics: map[string][]int{topic: parts}})
	if err != nil {
		t.Fatalf("offset fetch for group %s: %v", group, err)
	}
	committed = map[int]int64{}
	if errors.Is(fr.Error, kafkago.GroupIdNotFound) {
		for p := range partitions {
			committed[p] = -1
		}
		fr.Error, fr.Topics = nil, nil
	}
	if fr.Error != nil {
		t.Fatalf("offset fetch for group %s: %v", group, fr.Error)
	}
	for _, p := range fr.Topics[topic] {
		if p.Error != nil {
			t.Fatalf("offset fetch partition %d: %v", p.Partition, p.Error)
		}
		committed[p.Partition] = p.CommittedOffset
	}
	lr, err := c.ListOffsets(ctx, &kafkago.ListOffsetsRequest{Topics: map[string][]kafkago.OffsetRequest{topic: reqs}})
	if err != nil {
		t.Fatalf("list offsets: %v", err)
	}
	end = map[int]int64{}
	for _, p := range lr.Topics[topic] {
		if p.Error != nil {
			t.Fatalf("list offsets partition %d: %v", p.Partition, p.Error)
		}
		end[p.Partition] = p.LastOffset
	}
	return committed, end
}

// caughtUp reports whether the group has committed every partition up to its end (an empty
// partition needs no commit).
func caughtUp(t testing.TB, brokers []string, group string) bool {
	committed, end := offsets(t, brokers, group)
	for p := range partitions {
		if e, ok := end[p]; !ok || max(committed[p], 0) != e {
			return false
		}
	}
	return true
}

// config returns a test source config: short heartbeats so that the group forms quickly, and
// short retry backoff.
func config(brokers []string, group string) kafka.Config {
	return kafka.Config{
		Brokers: brokers, Topics: []string{topic}, GroupID: group, Batch: 500,
		HeartbeatInterval: 200 * time.Millisecond, RetryMin: 20 * time.Millisecond, RetryMax: 200 * time.Millisecond,
		Logger: discard, Registerer: prometheus.NewRegistry(),
	}
}

// running is a Source run in the background.
type running struct {
	cancel context.CancelFunc
	done   chan error
}

func start(t testing.TB, ctx context.Context, src *kafka.Source, sink ingest.Sink) *running {
	t.Helper()
	ctx, cancel := context.WithCancel(ctx)
	r := &running{cancel: cancel, done: make(chan error, 1)}
	go func() { r.done <- src.Run(ctx, sink) }()
	t.Cleanup(func() { r.stop(t) })
	return r
}

// stop cancels the source and fails the test unless Run returns nil within 30 s.
func (r *running) stop(t testing.TB) {
	t.Helper()
	r.cancel()
	select {
	case err, ok := <-r.done:
		if ok && err != nil {
			t.Errorf("Run: %v", err)
		}
		if ok {
			close(r.done)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("Run did not return 30 s after cancel")
	}
}

// waitFor polls cond until it holds or 40 s pass.
func waitFor(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(40 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// tally is a Sink wrapper that sums the results of successful Submits.
type tally struct {
	ingest.Sink
	mu    sync.Mutex
	total ingest.Result
	calls int
}

func (s *tally) Submit(ctx context.Context, b ingest.Batch) (ingest.Result, error) {
	res, err := s.Sink.Submit(ctx, b)
	s.mu.Lock()
	defer s.mu.Unlock()
	s.calls++
	if err == nil {
		s.total.Add(res)
	}
	return res, err
}

func (s *tally) result() ingest.Result {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.total
}

// pipeline returns the real ingest Pipeline on s.
func pipeline(t testing.TB, s *bustest.Server) *ingest.Pipeline {
	p, err := ingest.NewPipeline(bus.NewPublisher(s.JS), s.Layout(t), discard, prometheus.NewRegistry())
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// storedIDs returns the Nats-Msg-Id of every message in EVENTS, failing on a repeated id.
func storedIDs(t testing.TB, s *bustest.Server) []string {
	t.Helper()
	var ids []string
	seen := map[string]bool{}
	for _, m := range s.Messages(t, bus.StreamEvents) {
		id := m.Header.Get(bus.HeaderMsgID)
		if seen[id] {
			t.Errorf("event %s stored twice", id)
		}
		seen[id] = true
		ids = append(ids, id)
	}
	slices.Sort(ids)
	return ids
}

// sameIDs fails unless got and want hold the same ids.
func sameIDs(t testing.TB, got, want []string) {
	t.Helper()
	want = slices.Sorted(slices.Values(want))
	if !slices.Equal(got, want) {
		t.Fatalf("EVENTS holds %d ids, want %d; first difference at %d", len(got), len(want), firstDiff(got, want))
	}
}

func firstDiff(a, b []string) int {
	for i := range min(len(a), len(b)) {
		if a[i] != b[i] {
			return i
		}
	}
	return min(len(a), len(b))
}
