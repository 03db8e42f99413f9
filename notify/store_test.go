package notify

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"breachd/bus"
	"breachd/event"
	"breachd/retry"
)

// startJetStream starts an embedded nats-server with JetStream on a temp dir, creates breachd's
// streams and bucket, and returns a connected JetStream.
func startJetStream(t testing.TB) (jetstream.JetStream, *bus.Embedded) {
	t.Helper()
	srv, err := bus.StartEmbedded(bus.EmbeddedOptions{StoreDir: t.TempDir(), NoAuth: true})
	if err != nil {
		t.Fatalf("start embedded nats: %v", err)
	}
	t.Cleanup(srv.Shutdown)
	js := connect(t, srv)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := bus.Ensure(ctx, js, bus.Config{}); err != nil {
		t.Fatalf("ensure: %v", err)
	}
	return js, srv
}

func connect(t testing.TB, srv *bus.Embedded) jetstream.JetStream {
	t.Helper()
	nc, js, err := bus.Connect(srv.ClientURL(), t.Name(), discard)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	return js
}

var discard = slog.New(slog.DiscardHandler)

func testStore(t *testing.T, js jetstream.JetStream) *Store {
	t.Helper()
	s, err := NewStore(context.Background(), js)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestStoreRecordConcurrent(t *testing.T) {
	js, _ := startJetStream(t)
	s := testStore(t, js)
	ctx := context.Background()

	const writers, each = 6, 10
	var wg sync.WaitGroup
	var mu sync.Mutex
	conflicts, opened := 0, 0
	for w := range writers {
		wg.Go(func() {
			for i := range each {
				a := testAlert(fmt.Sprintf("w%d-%d", w, i), fmt.Sprintf("r%d", i%3), event.SeverityLow)
				for {
					out, err := s.record(ctx, a, t0)
					mu.Lock()
					conflicts += out.conflicts
					if err == nil && !out.dup && out.ref.Version == 1 {
						opened++
					}
					mu.Unlock()
					if errors.Is(err, retry.ErrContended) {
						continue // the notifier would nak and get it redelivered
					}
					if err != nil {
						t.Error(err)
					}
					break
				}
			}
		})
	}
	wg.Wait()
	t.Logf("compare-and-set conflicts: %d", conflicts)

	all, err := s.List(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(all) != 1 || opened != 1 {
		t.Fatalf("%d incidents, %d opened; want 1", len(all), opened)
	}
	inc := all[0]
	if inc.AlertCount != writers*each || inc.Version != writers*each {
		t.Errorf("alert count %d version %d, want %d", inc.AlertCount, inc.Version, writers*each)
	}
	if inc.Rules["r0"]+inc.Rules["r1"]+inc.Rules["r2"] != writers*each {
		t.Errorf("rules %v", inc.Rules)
	}
	// Every alert is recognised when it comes again.
	for w := range writers {
		out, err := s.record(ctx, testAlert(fmt.Sprintf("w%d-3", w), "r0", event.SeverityLow), t0)
		if err != nil || !out.dup {
			t.Errorf("redelivery of w%d-3: dup=%v err=%v", w, out.dup, err)
		}
	}
}

func TestStoreClosedIncident(t *testing.T) {
	js, _ := startJetStream(t)
	s := testStore(t, js)
	ctx := context.Background()

	a1 := testAlert("a1", "r", event.SeverityHigh)
	out, err := s.record(ctx, a1, t0)
	if err != nil || out.ref.Version != 1 {
		t.Fatalf("open: %+v %v", out, err)
	}
	first := out.inc
	if got, err := s.OpenFor(ctx, a1.Org, a1.Account); err != nil || got.ID != first.ID {
		t.Fatalf("OpenFor: %v %v", got, err)
	}

	// Close it the way the lifecycle command will: a compare-and-set write of the state.
	closed, rev, err := s.get(ctx, first.ID)
	if err != nil {
		t.Fatal(err)
	}
	closed.State, closed.Version = event.StateClosed, closed.Version+1
	if err := s.write(ctx, closed, rev); err != nil {
		t.Fatal(err)
	}
	if _, err := s.OpenFor(ctx, a1.Org, a1.Account); !errors.Is(err, ErrNotFound) {
		t.Fatalf("OpenFor after close: %v", err)
	}

	// The opening alert again: a duplicate of the closed incident, nothing new.
	if out, err := s.record(ctx, a1, t0.Add(time.Hour)); err != nil || !out.dup || out.inc.ID != first.ID {
		t.Fatalf("redelivered opening alert: %+v %v", out, err)
	}
	// A new alert opens a second incident.
	out, err = s.record(ctx, testAlert("a2", "r", event.SeverityLow), t0.Add(time.Hour))
	if err != nil || out.dup || out.ref.Version != 1 || out.inc.ID == first.ID {
		t.Fatalf("new alert after close: %+v %v", out, err)
	}
	if got, err := s.OpenFor(ctx, a1.Org, a1.Account); err != nil || got.ID != out.inc.ID {
		t.Fatalf("OpenFor second: %v %v", got, err)
	}
	all, err := s.List(ctx)
	if err != nil || len(all) != 2 {
		t.Fatalf("List: %d %v", len(all), err)
	}
	if got, err := s.Get(ctx, first.ID); err != nil || got.State != event.StateClosed {
		t.Errorf("Get closed: %v %v", got, err)
	}
	if _, err := s.Get(ctx, "INC->"); !errors.Is(err, ErrNotFound) {
		t.Errorf("Get with a wildcard id: %v", err)
	}
}

func TestStorePointerWithoutIncident(t *testing.T) {
	// A crash after claiming the pointer and before writing the incident.
	js, _ := startJetStream(t)
	s := testStore(t, js)
	ctx := context.Background()
	a := testAlert("a1", "r", event.SeverityLow)
	if _, err := s.kv.Create(ctx, openKey(a.Org, a.Account), []byte("INC-20261101-deadbeef")); err != nil {
		t.Fatal(err)
	}
	if _, err := s.OpenFor(ctx, a.Org, a.Account); !errors.Is(err, ErrNotFound) {
		t.Fatalf("OpenFor on a dangling pointer: %v", err)
	}
	out, err := s.record(ctx, a, t0)
	if err != nil || out.inc.ID != "INC-20261101-deadbeef" || out.ref.Version != 1 {
		t.Fatalf("record: %+v %v", out, err)
	}
}

// changes reads every message on the INCIDENTS stream.
func changes(t *testing.T, js jetstream.JetStream) []*nats.Msg {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	str, err := js.Stream(ctx, bus.StreamIncidents)
	if err != nil {
		t.Fatal(err)
	}
	info, err := str.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var out []*nats.Msg
	for seq := info.State.FirstSeq; seq <= info.State.LastSeq && info.State.Msgs > 0; seq++ {
		m, err := str.GetMsg(ctx, seq)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, &nats.Msg{Subject: m.Subject, Header: m.Header, Data: m.Data})
	}
	return out
}

func decodeIncident(t *testing.T, data []byte) *event.Incident {
	t.Helper()
	var inc event.Incident
	if err := json.Unmarshal(data, &inc); err != nil {
		t.Fatal(err)
	}
	return &inc
}
