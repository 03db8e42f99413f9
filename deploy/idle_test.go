package deploy

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"breachd/bus/bustest"
)

// TestWaitIdleFiltered: a consumer that filters subjects (as a detector's does its
// partitions) is idle once it has acked the last message of its subjects, and not before,
// also when the server still counts none pending for it; messages of other subjects do not
// keep it busy.
func TestWaitIdleFiltered(t *testing.T) {
	js := bustest.StartServer(t).JS
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	s, err := js.CreateStream(ctx, jetstream.StreamConfig{Name: "IDLE", Subjects: []string{"idle.>"}})
	if err != nil {
		t.Fatal(err)
	}
	for _, subj := range []string{"idle.a.1", "idle.b.1", "idle.a.2"} {
		if _, err := js.Publish(ctx, subj, []byte(subj)); err != nil {
			t.Fatal(err)
		}
	}
	c, err := s.CreateOrUpdateConsumer(ctx, jetstream.ConsumerConfig{Durable: "mine", AckPolicy: jetstream.AckExplicitPolicy,
		FilterSubjects: []string{"idle.*.1"}})
	if err != nil {
		t.Fatal(err)
	}
	if last, err := lastConsumed(ctx, js, "IDLE", jetstream.ConsumerConfig{FilterSubjects: []string{"idle.*.1"}}); err != nil || last != 2 {
		t.Fatalf("the last message of idle.*.1: %d (%v), want sequence 2", last, err)
	}
	consumers := map[string]string{"mine": "IDLE"}
	short, stop := context.WithTimeout(ctx, 300*time.Millisecond)
	err = WaitIdle(short, js, 10*time.Millisecond, consumers)
	stop()
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("WaitIdle with two messages of its subjects unacked: %v, want it still waiting", err)
	}
	batch, err := c.Fetch(2, jetstream.FetchMaxWait(5*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for m := range batch.Messages() {
		if err := m.DoubleAck(ctx); err != nil {
			t.Fatal(err)
		}
		n++
	}
	if n != 2 {
		t.Fatalf("fetched %d messages of idle.*.1, want 2", n)
	}
	if _, err := js.Publish(ctx, "idle.c.2", nil); err != nil { // not its subject
		t.Fatal(err)
	}
	if err := WaitIdle(ctx, js, 10*time.Millisecond, consumers); err != nil {
		t.Fatalf("WaitIdle after every message of its subjects was acked: %v", err)
	}
}
