package bus_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"breachd/auth"
	"breachd/bus"
	"breachd/bus/bustest"
	"breachd/event"
	"breachd/notify/channel"
	"breachd/respond"
)

// breachdStreams are every stream and bucket (as its stream) breachd creates.
var breachdStreams = []string{bus.StreamEvents, bus.StreamAlerts, bus.StreamDLQ, bus.StreamIncidents, "KV_" + bus.BucketIncidents,
	"KV_" + auth.BucketSessions, "KV_" + auth.BucketPrefs, "KV_" + respond.Bucket, "KV_" + channel.BucketNotifications, channel.StreamNotifications}

// ensureAll creates every stream and bucket breachd creates, each by its own creator, with
// replicas.
func ensureAll(ctx context.Context, js jetstream.JetStream, replicas int) error {
	if err := bus.Ensure(ctx, js, bus.Config{Replicas: replicas}); err != nil {
		return err
	}
	if _, err := auth.SessionBucket(ctx, js, replicas); err != nil {
		return err
	}
	if _, err := auth.PrefsBucket(ctx, js, replicas); err != nil {
		return err
	}
	if err := respond.EnsureBucket(ctx, js, replicas, 0); err != nil {
		return err
	}
	if _, err := channel.EnsureBucket(ctx, js, 0, replicas); err != nil {
		return err
	}
	return channel.EnsureStream(ctx, js, replicas)
}

// checkReplicas fails unless every stream of breachdStreams has want replicas, all current.
func checkReplicas(t *testing.T, js jetstream.JetStream, want int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for _, name := range breachdStreams {
		var info *jetstream.StreamInfo
		for {
			st, err := js.Stream(ctx, name)
			if err != nil {
				t.Fatalf("stream %s: %v", name, err)
			}
			info = st.CachedInfo()
			if info.Cluster == nil || len(info.Cluster.Replicas) == want-1 && allCurrent(info.Cluster.Replicas) || ctx.Err() != nil {
				break
			}
			time.Sleep(50 * time.Millisecond) // peers being added after a scale-up
		}
		if info.Config.Replicas != want {
			t.Errorf("stream %s: %d replicas configured, want %d", name, info.Config.Replicas, want)
		}
		if got := peers(info); got != want {
			t.Errorf("stream %s: %d peers current, want %d", name, got, want)
		}
	}
}

func allCurrent(ps []*jetstream.PeerInfo) bool {
	for _, p := range ps {
		if !p.Current {
			return false
		}
	}
	return true
}

func peers(info *jetstream.StreamInfo) int {
	if info.Cluster == nil {
		return 1
	}
	n := 1 // the leader
	for _, p := range info.Cluster.Replicas {
		if p.Current {
			n++
		}
	}
	return n
}

func TestReplicasR3OnCluster(t *testing.T) {
	c := bustest.StartCluster(t, 3)
	_, js := c.Connect(t, bus.DefaultWindow, nil)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := ensureAll(ctx, js, 3); err != nil {
		t.Fatal(err)
	}
	checkReplicas(t, js, 3)
}

// TestReplicasScaleUpNeverDown: R1 streams holding messages are scaled to R3 by the creators
// run again with 3, keeping the messages; run again with 1 they stay R3, with a warning.
func TestReplicasScaleUpNeverDown(t *testing.T) {
	c := bustest.StartCluster(t, 3)
	var logs bytes.Buffer
	_, js := c.Connect(t, bus.DefaultWindow, slog.New(slog.NewTextHandler(&logs, nil)))
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := ensureAll(ctx, js, 1); err != nil {
		t.Fatal(err)
	}
	checkReplicas(t, js, 1)
	const n = 100
	for i := range n {
		if _, err := js.Publish(ctx, bus.PartitionSubject(event.KindAuth, i%8), []byte("e")); err != nil {
			t.Fatal(err)
		}
	}
	if err := ensureAll(ctx, js, 3); err != nil {
		t.Fatalf("scale up to 3: %v", err)
	}
	checkReplicas(t, js, 3)
	if logs.Len() != 0 {
		t.Errorf("scaling up logged:\n%s", logs.String())
	}
	if err := ensureAll(ctx, js, 1); err != nil {
		t.Fatalf("ensure with 1 after 3: %v", err)
	}
	checkReplicas(t, js, 3)
	for _, name := range breachdStreams {
		if !strings.Contains(logs.String(), "stream="+name+" ") {
			t.Errorf("no warning about keeping the replicas of %s; logs:\n%s", name, logs.String())
		}
	}
	st, err := js.Stream(ctx, bus.StreamEvents)
	if err != nil {
		t.Fatal(err)
	}
	if got := st.CachedInfo().State.Msgs; got != n {
		t.Errorf("EVENTS holds %d messages after scaling, want %d", got, n)
	}
}

// TestReplicasOnSingleServer: more than one replica on the embedded server is an error that
// says what to do, for every creator; nothing is created.
func TestReplicasOnSingleServer(t *testing.T) {
	s := bustest.StartServer(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	err := bus.Ensure(ctx, s.JS, bus.Config{Replicas: 3})
	if !errors.Is(err, bus.ErrReplicas) {
		t.Fatalf("Ensure with 3 replicas on one server: err = %v, want ErrReplicas", err)
	}
	for _, want := range []string{"--replicas 3 needs a NATS cluster of at least 3 JetStream servers", "the embedded server has one node", "give --replicas 1"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("err = %v\nwant it to say %q", err, want)
		}
	}
	if _, err := s.JS.Stream(ctx, bus.StreamEvents); !errors.Is(err, jetstream.ErrStreamNotFound) {
		t.Errorf("stream EVENTS after the failed Ensure: err = %v, want not found", err)
	}
	for name, create := range map[string]func() error{
		"sessions": func() error { _, err := auth.SessionBucket(ctx, s.JS, 3); return err },
		"prefs":    func() error { _, err := auth.PrefsBucket(ctx, s.JS, 3); return err },
		"respond":  func() error { return respond.EnsureBucket(ctx, s.JS, 3, 0) },
		"dedup":    func() error { _, err := channel.EnsureBucket(ctx, s.JS, 0, 3); return err },
		"stream":   func() error { return channel.EnsureStream(ctx, s.JS, 3) },
	} {
		if err := create(); !errors.Is(err, bus.ErrReplicas) {
			t.Errorf("%s with 3 replicas on one server: err = %v, want ErrReplicas", name, err)
		}
	}
	// An existing R1 stream asked for 3: the same error from the update.
	if err := bus.Ensure(ctx, s.JS, bus.Config{}); err != nil {
		t.Fatal(err)
	}
	if err := bus.Ensure(ctx, s.JS, bus.Config{Replicas: 3}); !errors.Is(err, bus.ErrReplicas) {
		t.Errorf("scaling up on one server: err = %v, want ErrReplicas", err)
	}
}

// TestR3SurvivesLeaderShutdown: events published to an R3 EVENTS stream are all consumed by a
// durable consumer although the stream leader's server stops halfway, and again after it is
// restarted on its store.
func TestR3SurvivesLeaderShutdown(t *testing.T) {
	c := bustest.StartCluster(t, 3)
	_, js := c.Connect(t, bus.DefaultWindow, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	if err := bus.Ensure(ctx, js, bus.Config{Replicas: 3}); err != nil {
		t.Fatal(err)
	}
	cons, err := js.CreateOrUpdateConsumer(ctx, bus.StreamEvents, jetstream.ConsumerConfig{Durable: "test", AckPolicy: jetstream.AckExplicitPolicy})
	if err != nil {
		t.Fatal(err)
	}
	if r := cons.CachedInfo().Config.Replicas; r != 0 {
		t.Errorf("consumer replicas %d, want 0 (the stream's)", r)
	}
	seen := map[string]bool{}
	publish := func(from, to int) {
		t.Helper()
		for i := from; i < to; i++ {
			id := fmt.Sprintf("e%d", i)
			for {
				pctx, cancel := context.WithTimeout(ctx, 2*time.Second) // a request sent while reconnecting is answered by nobody
				_, err := js.Publish(pctx, bus.PartitionSubject(event.KindAuth, i%8), []byte(id), jetstream.WithMsgID(id))
				cancel()
				if err == nil {
					break
				}
				if ctx.Err() != nil {
					t.Fatalf("publish %s: %v", id, err)
				}
				time.Sleep(100 * time.Millisecond) // a new leader being elected
			}
		}
	}
	consume := func(want int) {
		t.Helper()
		for len(seen) < want {
			b, err := cons.Fetch(100, jetstream.FetchMaxWait(time.Second))
			if err != nil {
				if ctx.Err() != nil {
					t.Fatalf("fetch: %v (have %d of %d)", err, len(seen), want)
				}
				continue
			}
			for m := range b.Messages() {
				seen[string(m.Data())] = true
				for ctx.Err() == nil {
					actx, cancel := context.WithTimeout(ctx, 2*time.Second)
					err := m.DoubleAck(actx)
					cancel()
					if err == nil || errors.Is(err, jetstream.ErrMsgAlreadyAckd) {
						break
					}
					time.Sleep(100 * time.Millisecond)
				}
			}
			if ctx.Err() != nil {
				t.Fatalf("consumed %d of %d: %v", len(seen), want, ctx.Err())
			}
		}
	}
	publish(0, 500)
	consume(250)
	leader := c.StreamLeader(bus.StreamEvents)
	stopped := time.Now()
	c.Shutdown(leader)
	publish(500, 501)
	t.Logf("stream leader n%d shut down: the next publish was acknowledged after %s", leader+1, time.Since(stopped).Round(time.Millisecond))
	publish(501, 1000)
	consume(1000)
	if next := c.StreamLeader(bus.StreamEvents); next == leader {
		t.Fatalf("stream leader is still the stopped node %d", leader)
	}
	c.Restart(leader)
	publish(1000, 1200)
	consume(1200)
	st, err := js.Stream(ctx, bus.StreamEvents)
	if err != nil {
		t.Fatal(err)
	}
	info, err := st.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if info.State.Msgs != 1200 || len(seen) != 1200 {
		t.Errorf("stream holds %d messages, consumer saw %d distinct, want 1200 each", info.State.Msgs, len(seen))
	}
}
