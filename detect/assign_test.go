package detect

import (
	"context"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"breachd/bus"
	"breachd/bus/bustest"
	"breachd/event"
)

func TestDurableName(t *testing.T) {
	for _, c := range []struct {
		name      string
		m, n      int
		ok        bool
		roundTrip bool
	}{
		{"detect-0-of-1", 0, 1, true, true},
		{"detect-3-of-4", 3, 4, true, true},
		{"detect", 0, 1, true, false}, // the single detector before partitioning
		{"detect-4-of-4", 0, 0, false, false},
		{"detect--1-of-2", 0, 0, false, false},
		{"detect-0-of-0", 0, 0, false, false},
		{"detect-a-of-2", 0, 0, false, false},
		{"notify", 0, 0, false, false},
		{"detect-1-of-2-x", 0, 0, false, false},
	} {
		m, n, ok := parseDurable(c.name)
		if ok != c.ok || ok && (m != c.m || n != c.n) {
			t.Errorf("parseDurable(%q) = %d, %d, %v; want %d, %d, %v", c.name, m, n, ok, c.m, c.n, c.ok)
		}
		if c.roundTrip && DurableName(m, n) != c.name {
			t.Errorf("DurableName(%d, %d) = %q, want %q", m, n, DurableName(m, n), c.name)
		}
	}
}

// consumerAt creates durable name starting at start (0: the beginning) that has delivered and
// acked acked messages.
func consumerAt(t *testing.T, js jetstream.JetStream, name string, start uint64, acked int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	cfg := jetstream.ConsumerConfig{Durable: name, AckPolicy: jetstream.AckExplicitPolicy}
	if start > 0 {
		cfg.DeliverPolicy, cfg.OptStartSeq = jetstream.DeliverByStartSequencePolicy, start
	}
	c, err := js.CreateConsumer(ctx, bus.StreamEvents, cfg)
	if err != nil {
		t.Fatal(err)
	}
	if acked == 0 {
		return
	}
	batch, err := c.Fetch(acked, jetstream.FetchMaxWait(5*time.Second))
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
	if n != acked {
		t.Fatalf("%s: acked %d of %d", name, n, acked)
	}
}

// TestStartPosition: where a new durable starts, given the consumers of other detector sets.
func TestStartPosition(t *testing.T) {
	type old struct {
		name  string
		start uint64
		acked int
	}
	cases := []struct {
		name         string
		old          []old
		member, of   int
		policy       jetstream.DeliverPolicy
		wantStartSeq uint64
	}{
		{"new deployment", nil, 0, 2, jetstream.DeliverAllPolicy, 0},
		{"after the single detector of before", []old{{"detect", 0, 20}}, 0, 1, jetstream.DeliverByStartSequencePolicy, 21},
		{"with its sibling", []old{{"detect-0-of-1", 0, 20}, {"detect-1-of-2", 21, 5}}, 0, 2, jetstream.DeliverByStartSequencePolicy, 21},
		{"after the lowest floor of the last set", []old{{"detect-0-of-2", 0, 30}, {"detect-1-of-2", 0, 25}}, 1, 3, jetstream.DeliverByStartSequencePolicy, 26},
		{"an abandoned older set is ignored", []old{{"detect-0-of-1", 0, 10}, {"detect-0-of-2", 11, 30}, {"detect-1-of-2", 11, 34}}, 2, 3, jetstream.DeliverByStartSequencePolicy, 41},
		{"a set missing a member counts from its start", []old{{"detect-0-of-1", 0, 10}, {"detect-0-of-2", 11, 30}}, 0, 3, jetstream.DeliverByStartSequencePolicy, 11},
	}
	discard := slog.New(slog.DiscardHandler)
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			s := bustest.Start(t)
			ctx := context.Background()
			for i := range 60 {
				e := event.Event{Kind: event.KindAuth, User: "u"}
				if _, err := s.JS.Publish(ctx, bus.Layout{}.EventSubject(&e), []byte{byte(i)}); err != nil {
					t.Fatal(err)
				}
			}
			for _, o := range c.old {
				consumerAt(t, s.JS, o.name, o.start, o.acked)
			}
			d, err := New(s.JS, nil, nil, nil, Options{Member: c.member, Members: c.of, Logger: discard})
			if err != nil {
				t.Fatal(err)
			}
			policy, seq, err := d.startPosition(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if policy != c.policy || seq != c.wantStartSeq {
				t.Errorf("start = %v at %d, want %v at %d", policy, seq, c.policy, c.wantStartSeq)
			}
		})
	}
}

func TestAssignmentMustFitLayout(t *testing.T) {
	s := bustest.Start(t) // 8 partitions
	discard := slog.New(slog.DiscardHandler)
	for _, c := range []struct {
		member, members int
		want            string
	}{
		{0, 9, "9 members for 8 partitions"},
		{2, 2, "member 2 of 2"},
		{-1, 2, "member -1 of 2"},
	} {
		d, err := New(s.JS, nil, nil, nil, Options{Member: c.member, Members: c.members, Logger: discard})
		if err != nil {
			t.Fatal(err)
		}
		err = d.Run(context.Background())
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("member %d of %d: Run = %v, want an error containing %q", c.member, c.members, err, c.want)
		}
	}
}
