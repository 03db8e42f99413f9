package bus_test

import (
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"breachd/bus"
	"breachd/bus/bustest"
	"breachd/event"
)

// The partition of an account must never change between versions: the stream's subjects and
// the detectors' assignments depend on it. These are FNV-1a 32 values computed independently
// (Python: h = 0x811c9dc5; per byte h ^= b; h = h * 0x01000193 mod 2^32).
func TestPartitionGolden(t *testing.T) {
	cases := []struct {
		account string
		p8, p16 int
	}{
		{"", 5, 5},                           // 0x811c9dc5
		{"a", 4, 12},                         // 0xe40c292c
		{"ola.nordmann@ex.kommune.no", 0, 0}, // 0x5b926fb0
		{"kari.laerer@ex.kommune.no", 7, 7},  // 0xb3620907
		{"idporten:hash:7f3a", 1, 1},         // 0x48265da1
	}
	for _, c := range cases {
		if got := (bus.Layout{Partitions: 8}).Partition(c.account); got != c.p8 {
			t.Errorf("Partition(%q) of 8 = %d, want %d", c.account, got, c.p8)
		}
		if got := (bus.Layout{Partitions: 16}).Partition(c.account); got != c.p16 {
			t.Errorf("Partition(%q) of 16 = %d, want %d", c.account, got, c.p16)
		}
		if got := (bus.Layout{}).Partition(c.account); got != 0 {
			t.Errorf("zero Layout: Partition(%q) = %d, want 0", c.account, got)
		}
	}
}

func TestEventSubject(t *testing.T) {
	l := bus.Layout{Partitions: 8}
	cases := []struct {
		e    event.Event
		want string
	}{
		{event.Event{Kind: event.KindAuth, User: "ola.nordmann@ex.kommune.no"}, "breachd.events.auth.0"},
		{event.Event{Kind: event.KindAccess, Actor: "kari.laerer@ex.kommune.no", Subject: "ola.nordmann@ex.kommune.no"}, "breachd.events.access.7"},
		// Directory events are not partitioned, whatever their account.
		{event.Event{Kind: event.KindDirectory, Op: event.OpPerson, User: "kari.laerer@ex.kommune.no"}, "breachd.events.directory"},
		{event.Event{Kind: event.KindDirectory, Op: event.OpGuardianship, Guardian: "idporten:hash:7f3a"}, "breachd.events.directory"},
	}
	for _, c := range cases {
		if got := l.EventSubject(&c.e); got != c.want {
			t.Errorf("EventSubject(%s of %s) = %s, want %s", c.e.Kind, c.e.Account(), got, c.want)
		}
	}
	if got := bus.PartitionFilter(3); got != "breachd.events.*.3" {
		t.Errorf("PartitionFilter(3) = %s", got)
	}
}

// Every partition gets a share of many accounts (the hash is not degenerate on account-like
// strings that differ only in a few characters).
func TestPartitionSpread(t *testing.T) {
	l := bus.Layout{Partitions: 8}
	counts := make([]int, l.Partitions)
	for i := range 4000 {
		counts[l.Partition(fmt.Sprintf("elev%04d@skole.kommune.no", i))]++
	}
	for p, n := range counts {
		if n < 300 || n > 700 { // 500 expected
			t.Errorf("partition %d has %d of 4000 accounts: %v", p, n, counts)
		}
	}
}

func ensure(t *testing.T, js jetstream.JetStream, partitions int) error {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	return bus.Ensure(ctx, js, bus.Config{Partitions: partitions})
}

func layout(t *testing.T, js jetstream.JetStream) int {
	t.Helper()
	l, err := bus.ReadLayout(context.Background(), js)
	if err != nil {
		t.Fatal(err)
	}
	return l.Partitions
}

// The first Ensure records the count; later ones adopt it (0) or must agree with it.
func TestEnsureRecordsPartitions(t *testing.T) {
	s := bustest.StartServer(t)
	if err := ensure(t, s.JS, 0); err != nil {
		t.Fatal(err)
	}
	if p := layout(t, s.JS); p != bus.DefaultPartitions {
		t.Fatalf("new stream: %d partitions, want the default %d", p, bus.DefaultPartitions)
	}
	if err := ensure(t, s.JS, bus.DefaultPartitions); err != nil {
		t.Errorf("Ensure with the recorded count: %v", err)
	}
	err := ensure(t, s.JS, 16)
	if !errors.Is(err, bus.ErrPartitionMismatch) {
		t.Fatalf("Ensure with 16 on a stream of 8 = %v, want ErrPartitionMismatch", err)
	}
	t.Logf("mismatch: %v", err)
	if err := ensure(t, s.JS, 0); err != nil || layout(t, s.JS) != bus.DefaultPartitions {
		t.Errorf("after the refused Ensure: %v, %d partitions; want nil, %d", err, layout(t, s.JS), bus.DefaultPartitions)
	}
	for _, bad := range []int{-1, bus.MaxPartitions + 1} {
		if err := ensure(t, s.JS, bad); err == nil {
			t.Errorf("Ensure with %d partitions: no error", bad)
		}
	}
}

func TestEnsureChoosesPartitionsOfNewStream(t *testing.T) {
	s := bustest.StartServer(t)
	if err := ensure(t, s.JS, 3); err != nil {
		t.Fatal(err)
	}
	if p := layout(t, s.JS); p != 3 {
		t.Errorf("%d partitions, want 3", p)
	}
}

// A stream created before partitioning (no metadata) is stamped, its messages kept.
func TestEnsureStampsUnpartitionedStream(t *testing.T) {
	s := bustest.StartServer(t)
	ctx := context.Background()
	if _, err := s.JS.CreateStream(ctx, jetstream.StreamConfig{Name: bus.StreamEvents, Subjects: []string{"breachd.events.>"}}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.JS.Publish(ctx, "breachd.events.auth", []byte("{}")); err != nil {
		t.Fatal(err)
	}
	if err := ensure(t, s.JS, 0); err != nil {
		t.Fatal(err)
	}
	if p := layout(t, s.JS); p != bus.DefaultPartitions {
		t.Errorf("%d partitions, want %d", p, bus.DefaultPartitions)
	}
	if n := s.Count(t, bus.StreamEvents); n != 1 {
		t.Errorf("EVENTS holds %d messages, want 1", n)
	}
}

// Processes configured with different counts start at once on a new stream: exactly one count
// is recorded, the processes that asked for it succeed, the others are refused.
func TestEnsureConcurrentPartitions(t *testing.T) {
	s := bustest.StartServer(t)
	counts := []int{4, 16, 4, 16}
	errs := make([]error, len(counts))
	var wg sync.WaitGroup
	for i, p := range counts {
		_, js := s.Connect(t, bus.DefaultWindow)
		wg.Go(func() { errs[i] = ensure(t, js, p) })
	}
	wg.Wait()
	got := layout(t, s.JS)
	for i, p := range counts {
		switch {
		case p == got && errs[i] != nil:
			t.Errorf("process %d asked for the recorded %d: %v", i, p, errs[i])
		case p != got && !errors.Is(errs[i], bus.ErrPartitionMismatch):
			t.Errorf("process %d asked for %d, recorded %d: err = %v, want ErrPartitionMismatch", i, p, got, errs[i])
		}
	}
}

// Partition is hash/fnv's FNV-1a 32, and PartitionSubject's cached subjects are the ones it
// would build.
func TestPartitionIsFNV1a(t *testing.T) {
	l := bus.Layout{Partitions: bus.MaxPartitions}
	for _, account := range []string{"", "a", "kåre.breakglass@bergen.kommune.no", "idporten:hash:7f3a", "\xff\x00"} {
		h := fnv.New32a()
		h.Write([]byte(account))
		if got, want := l.Partition(account), int(h.Sum32()%bus.MaxPartitions); got != want {
			t.Errorf("Partition(%q) = %d, want %d", account, got, want)
		}
	}
	for _, k := range []event.Kind{event.KindAuth, event.KindAccess, "other"} {
		for _, p := range []int{0, 7, bus.MaxPartitions - 1, bus.MaxPartitions} {
			if got, want := bus.PartitionSubject(k, p), fmt.Sprintf("breachd.events.%s.%d", k, p); got != want {
				t.Errorf("PartitionSubject(%s, %d) = %q, want %q", k, p, got, want)
			}
		}
	}
}
