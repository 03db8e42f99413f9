package bus

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"breachd/event"
)

// TestActiveOwner: a consumer with a pinned client (the detectors' priority groups), pull
// requests waiting, a bound push subscription or a delivery within the last minute has a live
// client and is never moved; one delivered long ago or not since the server started has none.
func TestActiveOwner(t *testing.T) {
	now := time.Date(2026, 12, 5, 12, 0, 0, 0, time.UTC)
	recent, old := now.Add(-10*time.Second), now.Add(-10*time.Minute)
	cases := []struct {
		name string
		ci   jetstream.ConsumerInfo
		want string // a part of the reason; "" none
	}{
		{"idle since restart", jetstream.ConsumerInfo{}, ""},
		{"delivered long ago", jetstream.ConsumerInfo{Delivered: jetstream.SequenceInfo{Last: &old}}, ""},
		{"group without a pin", jetstream.ConsumerInfo{PriorityGroups: []jetstream.PriorityGroupState{{Group: "detect"}}}, ""},
		{"pinned", jetstream.ConsumerInfo{PriorityGroups: []jetstream.PriorityGroupState{{Group: "detect"}, {Group: "b", PinnedClientID: "abc"}}}, "client abc pinned in priority group b"},
		{"pulls waiting", jetstream.ConsumerInfo{NumWaiting: 2}, "2 pull requests waiting"},
		{"push bound", jetstream.ConsumerInfo{PushBound: true}, "push subscription"},
		{"delivered recently", jetstream.ConsumerInfo{Delivered: jetstream.SequenceInfo{Last: &recent}}, "delivered at 2026-12-05T11:59:50Z"},
	}
	for _, c := range cases {
		got := activeOwner(&c.ci, now)
		if (c.want == "") != (got == "") || !strings.Contains(got, c.want) {
			t.Errorf("%s: activeOwner = %q, want %q", c.name, got, c.want)
		}
	}
}

// TestActiveOwnerPinnedByServer: the pin of a consumer with pinned priority groups (the
// detectors' on takeover) shows in the server's consumer info as activeOwner reads it, after
// the pull that pinned the client has ended and long after its last delivery.
func TestActiveOwnerPinnedByServer(t *testing.T) {
	srv, err := StartEmbedded(EmbeddedOptions{StoreDir: t.TempDir(), NoAuth: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.Shutdown)
	nc, js, err := Connect(srv.ClientURL(), t.Name(), slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if _, err := js.CreateStream(ctx, jetstream.StreamConfig{Name: "PINNED", Subjects: []string{"pinned"}}); err != nil {
		t.Fatal(err)
	}
	if _, err := js.Publish(ctx, "pinned", []byte("a")); err != nil {
		t.Fatal(err)
	}
	c, err := js.CreateOrUpdateConsumer(ctx, "PINNED", jetstream.ConsumerConfig{Durable: "detect-0-of-1", AckPolicy: jetstream.AckExplicitPolicy,
		PriorityPolicy: jetstream.PriorityPolicyPinned, PriorityGroups: []string{"detect"}, PinnedTTL: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	b, err := c.Fetch(1, jetstream.FetchPriorityGroup("detect"))
	if err != nil {
		t.Fatal(err)
	}
	for m := range b.Messages() {
		if err := m.DoubleAck(ctx); err != nil {
			t.Fatal(err)
		}
	}
	ci, err := c.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if got := activeOwner(ci, time.Now().Add(time.Hour)); !strings.Contains(got, "pinned in priority group detect") {
		t.Errorf("activeOwner of a pinned consumer = %q (info %+v)", got, ci.PriorityGroups)
	}
}

// TestRecordLostFreshState: two starts that found different losses from the same stream state
// (started together) both keep theirs: each records on the metadata read just before its
// update, not on the configuration its check read (which dropped the other's range).
func TestRecordLostFreshState(t *testing.T) {
	srv, err := StartEmbedded(EmbeddedOptions{StoreDir: t.TempDir(), NoAuth: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.Shutdown)
	nc, js, err := Connect(srv.ClientURL(), t.Name(), slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := Ensure(ctx, js, Config{}); err != nil {
		t.Fatal(err)
	}
	for i := range 20 {
		if _, err := js.Publish(ctx, AlertSubject(event.SeverityHigh), []byte("a"), jetstream.WithMsgID(fmt.Sprint(i))); err != nil {
			t.Fatal(err)
		}
	}
	if err := recordLost(ctx, js, StreamAlerts, Ranges{{3, 4}}, 20); err != nil {
		t.Fatal(err)
	}
	if err := recordLost(ctx, js, StreamAlerts, Ranges{{9, 11}, {18, 25}}, 20); err != nil { // 21-25: a lost tail, not kept
		t.Fatal(err)
	}
	st, err := js.Stream(ctx, StreamAlerts)
	if err != nil {
		t.Fatal(err)
	}
	if got := st.CachedInfo().Config.Metadata[MetadataLost]; got != "3-4,9-11,18-20" {
		t.Errorf("recorded %q, want 3-4,9-11,18-20", got)
	}
}
