package bus_test

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"breachd/bus"
	"breachd/bus/bustest"
	"breachd/event"
)

func TestStartEmbeddedRefuses(t *testing.T) {
	cases := []struct {
		name string
		opts bus.EmbeddedOptions
		want string // in the error
	}{
		{"no store dir", bus.EmbeddedOptions{}, "store dir is required"},
		{"any address", bus.EmbeddedOptions{StoreDir: t.TempDir(), Host: "0.0.0.0", NoAuth: true}, `"0.0.0.0" is not a loopback`},
		{"any v6 address", bus.EmbeddedOptions{StoreDir: t.TempDir(), Host: "::", NoAuth: true}, "is not a loopback"},
		{"private address", bus.EmbeddedOptions{StoreDir: t.TempDir(), Host: "10.1.2.3", NoAuth: true}, "is not a loopback"},
		{"host name", bus.EmbeddedOptions{StoreDir: t.TempDir(), Host: "nats.example.no", NoAuth: true}, "is not a loopback"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			srv, err := bus.StartEmbedded(c.opts)
			if err == nil {
				srv.Shutdown()
				t.Fatalf("StartEmbedded(%+v) started a server, want an error", c.opts)
			}
			if !strings.Contains(err.Error(), c.want) {
				t.Errorf("err = %v, want it to contain %q", err, c.want)
			}
		})
	}
}

func TestStartEmbeddedLoopback(t *testing.T) {
	for _, host := range []string{"", "127.0.0.1", "localhost"} {
		t.Run("host="+host, func(t *testing.T) {
			srv, err := bus.StartEmbedded(bus.EmbeddedOptions{StoreDir: t.TempDir(), Host: host, NoAuth: true})
			if err != nil {
				t.Fatal(err)
			}
			defer srv.Shutdown()
			u := srv.ClientURL()
			if !strings.HasPrefix(u, "nats://127.0.0.1:") && !strings.HasPrefix(u, "nats://localhost:") {
				t.Errorf("ClientURL = %s, want a loopback URL", u)
			}
		})
	}
}

// checkEnsured fails unless every stream and the bucket exist with the settings Ensure promises.
func checkEnsured(t *testing.T, js jetstream.JetStream, dupWindow map[string]time.Duration) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	want := map[string]string{
		bus.StreamEvents:    "breachd.events.>",
		bus.StreamAlerts:    "breachd.alerts.>",
		bus.StreamDLQ:       "breachd.dlq.>",
		bus.StreamIncidents: "breachd.incidents.>",
	}
	var names []string
	lister := js.StreamNames(ctx)
	for n := range lister.Name() {
		names = append(names, n)
	}
	if err := lister.Err(); err != nil {
		t.Fatal(err)
	}
	// The four streams plus the bucket's KV_incidents stream, nothing else.
	if len(names) != len(want)+1 {
		t.Errorf("streams = %v, want %d", names, len(want)+1)
	}
	for name, subject := range want {
		st, err := js.Stream(ctx, name)
		if err != nil {
			t.Errorf("stream %s: %v", name, err)
			continue
		}
		cfg := st.CachedInfo().Config
		if len(cfg.Subjects) != 1 || cfg.Subjects[0] != subject {
			t.Errorf("%s subjects = %v, want [%s]", name, cfg.Subjects, subject)
		}
		if cfg.Storage != jetstream.FileStorage || cfg.Replicas != 1 {
			t.Errorf("%s storage %v replicas %d, want file storage, 1 replica", name, cfg.Storage, cfg.Replicas)
		}
		if d, ok := dupWindow[name]; ok && cfg.Duplicates != d {
			t.Errorf("%s duplicate window = %v, want %v", name, cfg.Duplicates, d)
		}
	}
	kv, err := js.KeyValue(ctx, bus.BucketIncidents)
	if err != nil {
		t.Fatalf("bucket %s: %v", bus.BucketIncidents, err)
	}
	st, err := kv.Status(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if st.History() != 8 {
		t.Errorf("bucket history = %d, want 8", st.History())
	}
}

func TestEnsureIdempotent(t *testing.T) {
	s := bustest.StartServer(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for i := range 2 {
		if err := bus.Ensure(ctx, s.JS, bus.Config{}); err != nil {
			t.Fatalf("Ensure #%d: %v", i+1, err)
		}
		checkEnsured(t, s.JS, map[string]time.Duration{bus.StreamEvents: 24 * time.Hour, bus.StreamDLQ: 24 * time.Hour})
	}
	// Stored data survives a second Ensure (it updates, it does not recreate).
	if _, err := s.JS.Publish(ctx, bus.PartitionSubject(event.KindAuth, 0), []byte("{}")); err != nil {
		t.Fatal(err)
	}
	if err := bus.Ensure(ctx, s.JS, bus.Config{}); err != nil {
		t.Fatal(err)
	}
	if n := s.Count(t, bus.StreamEvents); n != 1 {
		t.Errorf("EVENTS holds %d messages after a second Ensure, want 1", n)
	}
}

func TestEnsureConcurrent(t *testing.T) {
	s := bustest.StartServer(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	// Two processes starting at once: each has its own connection.
	_, js2 := s.Connect(t, bus.DefaultWindow)
	var wg sync.WaitGroup
	errs := make([]error, 2)
	for i, js := range []jetstream.JetStream{s.JS, js2} {
		wg.Go(func() { errs[i] = bus.Ensure(ctx, js, bus.Config{}) })
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Errorf("concurrent Ensure #%d: %v", i+1, err)
		}
	}
	checkEnsured(t, s.JS, nil)
}

// The duplicate window may not exceed a stream's max age, or the server rejects the stream:
// Ensure clamps it.
func TestEnsureClampsDuplicateWindow(t *testing.T) {
	s := bustest.StartServer(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cfg := bus.Config{DuplicateWindow: 48 * time.Hour, EventsMaxAge: time.Hour}
	if err := bus.Ensure(ctx, s.JS, cfg); err != nil {
		t.Fatal(err)
	}
	checkEnsured(t, s.JS, map[string]time.Duration{bus.StreamEvents: time.Hour, bus.StreamDLQ: 48 * time.Hour})
	// Changing the settings of existing streams updates them.
	cfg.EventsMaxAge = 2 * time.Hour
	if err := bus.Ensure(ctx, s.JS, cfg); err != nil {
		t.Fatal(err)
	}
	checkEnsured(t, s.JS, map[string]time.Duration{bus.StreamEvents: 2 * time.Hour})
}
