package kafka_test

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"net"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	kafkago "github.com/segmentio/kafka-go"

	"breachd/bus"
	"breachd/bus/bustest"
	"breachd/ingest"
	"breachd/ingest/kafka"
)

// Valid and invalid lines across three partitions end up as exactly the valid ids in EVENTS
// and the invalid lines, located by topic, partition and offset, in DEADLETTER; once Run has
// stopped, the group's committed offsets are the partitions' end offsets.
func TestEndToEnd(t *testing.T) {
	s := bustest.Start(t)
	brokers := startKafka(t)
	bad := map[int]string{
		7:    `not json`,
		501:  `{"kind":"auth","id":"bad-501","time":"2026-11-02T08:00:00Z","org":"o"}`,
		1502: `{"kind":"login","id":"bad-1502","time":"2026-11-02T08:00:00Z","org":"o"}`,
		2999: ``,
	}
	values, ids := lines(t, "idp", 3000, bad)
	produce(t, brokers, values)

	cfg := config(brokers, "breachd-e2e")
	reg := prometheus.NewRegistry()
	cfg.Registerer = reg
	src, err := kafka.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	sink := &tally{Sink: pipeline(t, s)}
	r := start(t, context.Background(), src, sink)
	waitFor(t, "every partition committed to its end", func() bool { return caughtUp(t, brokers, "breachd-e2e") })
	r.stop(t)

	committed, end := offsets(t, brokers, "breachd-e2e")
	if !maps.Equal(committed, end) {
		t.Errorf("committed %v, want end offsets %v", committed, end)
	}
	var sum int64
	for _, o := range end {
		if o == 0 {
			t.Errorf("a partition is empty: end offsets %v (the test wants all three used)", end)
		}
		sum += o
	}
	if sum != 3000 {
		t.Errorf("end offsets %v sum to %d, want 3000", end, sum)
	}
	sameIDs(t, storedIDs(t, s), ids)
	if got, want := sink.result(), (ingest.Result{Accepted: 2996, Rejected: 4}); !reflect.DeepEqual(got, want) {
		t.Errorf("results %+v, want %+v", got, want)
	}

	// Each dead letter names the place of its message, and the message there is its bytes.
	dlq := s.Messages(t, bus.StreamDLQ)
	if len(dlq) != len(bad) {
		t.Fatalf("DEADLETTER holds %d, want %d", len(dlq), len(bad))
	}
	wantBad := map[string]bool{}
	for _, l := range bad {
		wantBad[l] = true
	}
	for _, m := range dlq {
		if m.Subject != "breachd.dlq.kafka" || m.Header.Get(bus.HeaderSource) != "kafka" {
			t.Errorf("dead letter on %s from %q", m.Subject, m.Header.Get(bus.HeaderSource))
		}
		where := m.Header.Get("Breachd-Where")
		var p int
		var o int64
		if _, err := fmt.Sscanf(where, "kafka:"+topic+"/%d@%d", &p, &o); err != nil {
			t.Fatalf("dead letter location %q: %v", where, err)
		}
		if got := readAt(t, brokers, p, o); string(got) != string(m.Data) || !wantBad[string(got)] {
			t.Errorf("dead letter %q at %s, message there is %q", m.Data, where, got)
		}
		delete(wantBad, string(m.Data))
	}

	if n := counter(t, reg, "breach_ingest_kafka_records_fetched_total"); n != 3000 {
		t.Errorf("records fetched metric %v, want 3000", n)
	}
	if n := counter(t, reg, "breach_ingest_kafka_commit_errors_total"); n != 0 {
		t.Errorf("commit errors %v", n)
	}
}

// readAt reads the value of the message at partition p, offset o of topic.
func readAt(t *testing.T, brokers []string, p int, o int64) []byte {
	t.Helper()
	r := kafkago.NewReader(kafkago.ReaderConfig{Brokers: brokers, Topic: topic, Partition: p, MaxWait: 100 * time.Millisecond})
	defer r.Close()
	if err := r.SetOffset(o); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	m, err := r.ReadMessage(ctx)
	if err != nil {
		t.Fatalf("read %s/%d@%d: %v", topic, p, o, err)
	}
	return m.Value
}

// counter returns the value of the named counter in reg.
func counter(t testing.TB, reg *prometheus.Registry, name string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() == name {
			return mf.GetMetric()[0].GetCounter().GetValue()
		}
	}
	t.Fatalf("metric %s not registered", name)
	return 0
}

// dieAfterPubAck is a Sink that lets submit number n through and then, with its PubAcks in
// hand, kills the source (cancels its context) before it can commit: a process that dies
// between the durable hand-off and the Kafka commit.
type dieAfterPubAck struct {
	ingest.Sink
	n, calls int
	kill     context.CancelFunc
	died     ingest.Result // what the fatal submit stored
	before   int           // records of the submits before the fatal one (committed)
	accepted int           // events those submits stored
	fatal    int           // records of the fatal submit
}

func (d *dieAfterPubAck) Submit(ctx context.Context, b ingest.Batch) (ingest.Result, error) {
	res, err := d.Sink.Submit(ctx, b)
	d.calls++
	switch {
	case err != nil:
	case d.calls < d.n:
		d.before += len(b.Records)
		d.accepted += res.Accepted
	case d.calls == d.n:
		d.died, d.fatal = res, len(b.Records)
		d.kill()
	}
	return res, err
}

// A source killed after the PubAck of a batch and before its commit loses nothing and stores
// nothing twice: the next member of the group gets the batch again, and JetStream reports each
// of its events as a duplicate.
func TestKillBetweenPubAckAndCommit(t *testing.T) {
	s := bustest.Start(t)
	brokers := startKafka(t)
	bad := map[int]string{1234: `{"broken`}
	values, ids := lines(t, "idp", 3000, bad)
	produce(t, brokers, values)
	const group = "breachd-kill"

	src1, err := kafka.New(config(brokers, group))
	if err != nil {
		t.Fatal(err)
	}
	ctx, kill := context.WithCancel(context.Background())
	defer kill()
	dying := &dieAfterPubAck{Sink: pipeline(t, s), n: 3, kill: kill}
	if err := src1.Run(ctx, dying); err != nil {
		t.Fatalf("first run: %v", err)
	}
	if dying.calls != 3 || dying.died.Accepted == 0 {
		t.Fatalf("first run made %d submits, the fatal one stored %+v", dying.calls, dying.died)
	}
	committed, end := offsets(t, brokers, group)
	var behind int64
	for p, o := range end {
		behind += o - max(committed[p], 0)
	}
	// The batch stored by the fatal submit is not committed, nor is anything read after it.
	if behind != int64(3000-dying.before) || dying.fatal == 0 {
		t.Errorf("after the kill %d messages are uncommitted (%v of %v), want %d: all but the %d of the submits before the fatal one",
			behind, committed, end, 3000-dying.before, dying.before)
	}
	if n := s.Count(t, bus.StreamEvents); n != uint64(dying.accepted+dying.died.Accepted) {
		t.Errorf("after the kill EVENTS holds %d, want the %d events of the three submits", n, dying.accepted+dying.died.Accepted)
	}

	src2, err := kafka.New(config(brokers, group))
	if err != nil {
		t.Fatal(err)
	}
	sink := &tally{Sink: pipeline(t, s)}
	r := start(t, context.Background(), src2, sink)
	waitFor(t, "the second member to commit every partition to its end", func() bool { return caughtUp(t, brokers, group) })
	r.stop(t)

	sameIDs(t, storedIDs(t, s), ids)
	if n := s.Count(t, bus.StreamDLQ); n != 1 {
		t.Errorf("DEADLETTER holds %d, want 1", n)
	}
	if got := sink.result(); got.Duplicates != dying.died.Accepted {
		t.Errorf("second run reported %d duplicates, want the %d events of the batch stored before the kill (%+v)",
			got.Duplicates, dying.died.Accepted, got)
	}
}

// flaky is a Sink that refuses the first k submits, checking each time that the group's
// committed offsets are still those it had before the source started, and records the records
// of every attempt.
type flaky struct {
	ingest.Sink
	k       int
	brokers []string
	group   string
	t       *testing.T

	mu       sync.Mutex
	calls    int
	before   map[int]int64
	attempts [][]string // Where of each record, per call
}

func (f *flaky) Submit(ctx context.Context, b ingest.Batch) (ingest.Result, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls++
	var where []string
	for _, r := range b.Records {
		where = append(where, r.Where)
	}
	f.attempts = append(f.attempts, where)
	if committed, _ := offsets(f.t, f.brokers, f.group); f.calls <= f.k+1 && !maps.Equal(committed, f.before) {
		f.t.Errorf("submit %d: committed offsets moved from %v to %v while the sink refused", f.calls, f.before, committed)
	}
	if f.calls <= f.k {
		return ingest.Result{}, errors.New("nats: no responders available for request")
	}
	return f.Sink.Submit(ctx, b)
}

// While the Sink refuses a batch, the source holds that batch, retries it unchanged and
// commits nothing; once the Sink recovers, everything arrives exactly once.
func TestSinkRefusesThenRecovers(t *testing.T) {
	s := bustest.Start(t)
	brokers := startKafka(t)
	values, ids := lines(t, "idp", 2000, nil)
	produce(t, brokers, values)
	const group = "breachd-flaky"

	cfg := config(brokers, group)
	reg := prometheus.NewRegistry()
	cfg.Registerer = reg
	src, err := kafka.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	before, _ := offsets(t, brokers, group)
	sink := &flaky{Sink: pipeline(t, s), k: 4, brokers: brokers, group: group, t: t, before: before}
	r := start(t, context.Background(), src, sink)
	waitFor(t, "every partition committed to its end", func() bool { return caughtUp(t, brokers, group) })
	r.stop(t)

	sameIDs(t, storedIDs(t, s), ids)
	sink.mu.Lock()
	defer sink.mu.Unlock()
	for i := 1; i <= sink.k; i++ {
		if fmt.Sprint(sink.attempts[i]) != fmt.Sprint(sink.attempts[0]) {
			t.Errorf("attempt %d submitted %d other records than the refused batch", i+1, len(sink.attempts[i]))
		}
	}
	if n := counter(t, reg, "breach_ingest_kafka_submit_retries_total"); n != float64(sink.k) {
		t.Errorf("submit retries metric %v, want %d", n, sink.k)
	}
}

// With NATS down the source stops: it holds one batch, commits nothing and hands no further
// batch to the Sink;
// when NATS is back (same store, same port) everything arrives exactly once.
func TestNATSDownThenBack(t *testing.T) {
	dir := t.TempDir()
	srv, err := bus.StartEmbedded(bus.EmbeddedOptions{StoreDir: dir, NoAuth: true})
	if err != nil {
		t.Fatal(err)
	}
	s := &bustest.Server{Embedded: srv}
	s.NC, s.JS = s.Connect(t, bus.DefaultWindow)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := bus.Ensure(ctx, s.JS, bus.Config{}); err != nil {
		t.Fatal(err)
	}
	p := pipeline(t, s)
	var port int
	if _, err := fmt.Sscanf(srv.ClientURL(), "nats://127.0.0.1:%d", &port); err != nil {
		t.Fatalf("client url %s: %v", srv.ClientURL(), err)
	}

	brokers := startKafka(t)
	values, ids := lines(t, "idp", 2000, nil)
	produce(t, brokers, values)
	const group = "breachd-natsdown"

	srv.Shutdown()
	cfg := config(brokers, group)
	reg := prometheus.NewRegistry()
	cfg.Registerer = reg
	src, err := kafka.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	sink := &tally{Sink: p}
	r := start(t, context.Background(), src, sink)
	fetched := func() float64 { return counter(t, reg, "breach_ingest_kafka_records_fetched_total") }
	waitFor(t, "the source to hold a batch", func() bool { return fetched() > 0 })
	held := fetched()
	// Give the source time it could misuse: it must neither commit nor submit another batch.
	time.Sleep(time.Second)
	if n := fetched(); n != held || n > 500 {
		t.Errorf("with NATS down the source fetched %v records, then %v; want one batch of at most 500", held, n)
	}
	if committed, _ := offsets(t, brokers, group); committed[0] > 0 || committed[1] > 0 || committed[2] > 0 {
		t.Errorf("with NATS down the group committed %v", committed)
	}

	srv2, err := bus.StartEmbedded(bus.EmbeddedOptions{StoreDir: dir, Port: port, NoAuth: true})
	if err != nil {
		t.Fatalf("restart nats: %v", err)
	}
	t.Cleanup(srv2.Shutdown)
	waitFor(t, "every partition committed to its end", func() bool { return caughtUp(t, brokers, group) })
	r.stop(t)
	sameIDs(t, storedIDs(t, s), ids)
	t.Logf("submits refused while NATS was down: %v", counter(t, reg, "breach_ingest_kafka_submit_retries_total"))
}

// A topic that does not exist fails Run at once, naming it; a consumer group would otherwise
// sit without partitions and say nothing.
func TestMissingTopic(t *testing.T) {
	brokers := startKafka(t)
	cfg := config(brokers, "breachd-missing")
	cfg.Topics = []string{topic, "feide-auht"}
	src, err := kafka.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	err = src.Run(ctx, nil)
	if err == nil || !strings.Contains(err.Error(), "kafka topics [feide-auht] do not exist") {
		t.Fatalf("Run: %v, want an error naming the missing topic", err)
	}
}

// Brokers that do not answer are waited for, not fatal: Run keeps trying until ctx ends and
// then returns nil.
func TestBrokersUnreachable(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close() // nothing listens there now
	src, err := kafka.New(config([]string{addr}, "breachd-unreachable"))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	if err := src.Run(ctx, nil); err != nil || ctx.Err() == nil {
		t.Fatalf("Run with unreachable brokers returned %v with ctx %v, want nil once ctx has ended", err, ctx.Err())
	}
}

// A partition added to a topic while the source runs is consumed without a restart.
func TestPartitionAdded(t *testing.T) {
	s := bustest.Start(t)
	brokers := startKafka(t)
	values, ids := lines(t, "idp", 30, nil)
	produce(t, brokers, values[:15])
	src, err := kafka.New(config(brokers, "breachd-grow"))
	if err != nil {
		t.Fatal(err)
	}
	r := start(t, context.Background(), src, pipeline(t, s))
	waitFor(t, "the first events", func() bool { return s.Count(t, bus.StreamEvents) == 15 })

	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	c := &kafkago.Client{Addr: kafkago.TCP(brokers...)}
	res, err := c.CreatePartitions(ctx, &kafkago.CreatePartitionsRequest{Topics: []kafkago.TopicPartitionsConfig{{Name: topic, Count: partitions + 1}}})
	if err != nil || res.Errors[topic] != nil {
		t.Fatalf("add a partition: %v %v", err, res.Errors)
	}
	// A transport of its own: the shared default one caches the topic's old metadata.
	w := &kafkago.Writer{Addr: kafkago.TCP(brokers...), Topic: topic, RequiredAcks: kafkago.RequireAll, BatchTimeout: 5 * time.Millisecond,
		Transport: &kafkago.Transport{},
		Balancer:  kafkago.BalancerFunc(func(_ kafkago.Message, parts ...int) int { return parts[len(parts)-1] })}
	defer w.Close()
	msgs := make([]kafkago.Message, 0, 15)
	for _, v := range values[15:] {
		msgs = append(msgs, kafkago.Message{Value: v})
	}
	if err := w.WriteMessages(ctx, msgs...); err != nil {
		t.Fatalf("produce to the new partition: %v", err)
	}
	waitFor(t, "the events of the new partition", func() bool { return s.Count(t, bus.StreamEvents) == 30 })
	// The last 15 went to the new partition, and the group commits it to its end: after the
	// durable hand-off, so a moment after the events are in the stream (a stop in between
	// leaves the batch to be delivered again, by design).
	lo, err := c.ListOffsets(ctx, &kafkago.ListOffsetsRequest{Topics: map[string][]kafkago.OffsetRequest{topic: {kafkago.LastOffsetOf(partitions)}}})
	if err != nil || len(lo.Topics[topic]) != 1 || lo.Topics[topic][0].LastOffset != 15 {
		t.Fatalf("new partition offsets: %v %+v", err, lo)
	}
	var fr *kafkago.OffsetFetchResponse
	waitFor(t, "the new partition's commit", func() bool {
		fr, err = c.OffsetFetch(ctx, &kafkago.OffsetFetchRequest{GroupID: "breachd-grow", Topics: map[string][]int{topic: {partitions}}})
		return err == nil && len(fr.Topics[topic]) == 1 && fr.Topics[topic][0].CommittedOffset == 15
	})
	r.stop(t)
	sameIDs(t, storedIDs(t, s), ids)
}
