package bus_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"breachd/bus"
	"breachd/bus/bustest"
	"breachd/event"
)

// damageStore is an embedded server's store holding events, stopped and started again.
type damageStore struct {
	dir, marks string
	srv        *bus.Embedded
	js         jetstream.JetStream
}

func (d *damageStore) start(t *testing.T) {
	t.Helper()
	srv, err := bus.StartEmbedded(bus.EmbeddedOptions{StoreDir: d.dir, NoAuth: true})
	if err != nil {
		t.Fatal(err)
	}
	nc, _, err := bus.Connect(srv.ClientURL(), t.Name(), slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	if d.js, err = bus.NewJetStream(nc, bus.DefaultWindow, slog.New(slog.DiscardHandler)); err != nil {
		t.Fatal(err)
	}
	d.srv = srv
	t.Cleanup(func() { nc.Close(); d.stop() })
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := bus.Ensure(ctx, d.js, bus.Config{}); err != nil {
		t.Fatal(err)
	}
}

func (d *damageStore) stop() {
	if d.srv != nil {
		d.srv.Shutdown()
		d.srv = nil
	}
}

// publish publishes events from to to-1 (ids e<i>, ~350 bytes each) and waits for their acks.
func (d *damageStore) publish(t *testing.T, from, to int) {
	t.Helper()
	payload := bytes.Repeat([]byte("x"), 340)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	pub := bus.NewPublisher(d.js)
	for i := from; i < to; i++ {
		if _, err := pub.Publish(ctx, bus.PartitionSubject(event.KindAuth, i%8), fmt.Sprintf("e%d", i), payload, nil); err != nil {
			t.Fatal(err)
		}
	}
	select {
	case <-d.js.PublishAsyncComplete():
	case <-time.After(time.Minute):
		t.Fatal("publish: no acks after a minute")
	}
}

// ack acks the first n events through the durable detect-0-of-1, as a detector would.
func (d *damageStore) ack(t *testing.T, n int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	c, err := d.js.CreateOrUpdateConsumer(ctx, bus.StreamEvents, jetstream.ConsumerConfig{Durable: "detect-0-of-1", AckPolicy: jetstream.AckAllPolicy})
	if err != nil {
		t.Fatal(err)
	}
	for got := 0; got < n; {
		b, err := c.Fetch(min(1000, n-got))
		if err != nil {
			t.Fatal(err)
		}
		var last jetstream.Msg
		for m := range b.Messages() {
			last = m
			got++
		}
		if last != nil {
			if err := last.DoubleAck(ctx); err != nil {
				t.Fatal(err)
			}
		}
	}
}

// blocks returns the EVENTS message block files of the stopped store, in index order.
func (d *damageStore) blocks(t *testing.T) []string {
	t.Helper()
	blks, err := filepath.Glob(filepath.Join(d.dir, "jetstream", "*", "streams", bus.StreamEvents, "msgs", "*.blk"))
	if err != nil || len(blks) == 0 {
		t.Fatalf("no message blocks of EVENTS under %s (%v)", d.dir, err)
	}
	slices.SortFunc(blks, func(a, b string) int { return len(a) - len(b) }) // 1.blk, 2.blk, ... 10.blk
	return blks
}

func (d *damageStore) check(t *testing.T, accept bool, reg prometheus.Registerer, log *bytes.Buffer) ([]bus.Loss, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	return bus.CheckStore(ctx, d.js, bus.StoreCheck{Marks: d.marks, Accept: accept, Registerer: reg, Processors: map[string]string{bus.StreamEvents: "detect-"},
		Log: slog.New(slog.NewTextHandler(log, nil))})
}

// ids returns the distinct message ids EVENTS holds.
func (d *damageStore) ids(t *testing.T) map[string]bool {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	c, err := d.js.OrderedConsumer(ctx, bus.StreamEvents, jetstream.OrderedConsumerConfig{})
	if err != nil {
		t.Fatal(err)
	}
	st, _ := d.js.Stream(ctx, bus.StreamEvents)
	want := st.CachedInfo().State.Msgs
	out := map[string]bool{}
	for n := uint64(0); n < want; {
		b, err := c.Fetch(5000, jetstream.FetchMaxWait(2*time.Second))
		if err != nil {
			t.Fatal(err)
		}
		for m := range b.Messages() {
			out[m.Headers().Get(bus.HeaderMsgID)] = true
			n++
		}
		if ctx.Err() != nil {
			t.Fatalf("read %d of %d messages", n, want)
		}
	}
	return out
}

// TestStoreDamage damages a message block of EVENTS in each of the ways issue 15 found (part
// of a block truncated, part overwritten), restarts the server and expects CheckStore to
// report the lost events the detector had not acked (Error log, metric, *LostError), then,
// after the documented re-ingest (the same events published again, --accept-lost), every
// event in the stream and no report on the next start.
func TestStoreDamage(t *testing.T) {
	const events, acked = 30000, 5000 // 30000 events of ~400 bytes fill two blocks
	cases := []struct {
		name   string
		damage func(t *testing.T, blks []string)
		// atLeast: the loss is reported from the first sample of the marks inside it (oldest
		// messages lost), a part of it.
		atLeast bool
	}{
		{"first block deleted", func(t *testing.T, blks []string) {
			if err := os.Remove(blks[0]); err != nil {
				t.Fatal(err)
			}
		}, true},
		{"first block truncated", func(t *testing.T, blks []string) {
			fi, err := os.Stat(blks[0])
			if err != nil {
				t.Fatal(err)
			}
			if err := os.Truncate(blks[0], fi.Size()/2); err != nil {
				t.Fatal(err)
			}
		}, false},
		{"first block overwritten", func(t *testing.T, blks []string) { overwrite(t, blks[0], 3<<20, 100<<10) }, false},
		{"last block overwritten", func(t *testing.T, blks []string) { overwrite(t, blks[len(blks)-1], 100<<10, 50<<10) }, false},
		{"last block deleted", func(t *testing.T, blks []string) {
			if err := os.Remove(blks[len(blks)-1]); err != nil {
				t.Fatal(err)
			}
		}, false},
		{"last block truncated", func(t *testing.T, blks []string) {
			fi, err := os.Stat(blks[len(blks)-1])
			if err != nil {
				t.Fatal(err)
			}
			if err := os.Truncate(blks[len(blks)-1], fi.Size()/3); err != nil {
				t.Fatal(err)
			}
		}, false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			dir := t.TempDir()
			d := &damageStore{dir: dir, marks: filepath.Join(dir, "marks.json")}
			d.start(t)
			var logs bytes.Buffer
			if _, err := d.check(t, false, nil, &logs); err != nil { // first start: nothing lost, marks written
				t.Fatalf("check of a new store: %v", err)
			}
			d.publish(t, 0, acked)
			if _, err := d.check(t, false, nil, &logs); err != nil { // as Marks.Run does every few seconds
				t.Fatal(err)
			}
			d.publish(t, acked, events)
			d.ack(t, acked)
			d.stop() // (breachd's Close writes the marks last; here the periodic write stands in)
			d.start(t)
			if _, err := d.check(t, false, nil, &logs); err != nil || logs.Len() != 0 {
				t.Fatalf("check of an undamaged store: %v\n%s", err, logs.String())
			}
			blks := d.blocks(t)
			if len(blks) < 2 {
				t.Fatalf("%d message blocks, want at least 2", len(blks))
			}
			d.stop()
			c.damage(t, blks)
			d.start(t)

			reg := prometheus.NewRegistry()
			losses, err := d.check(t, false, reg, &logs)
			var lost *bus.LostError
			if !errors.As(err, &lost) {
				t.Fatalf("check after damage: err = %v, want a *LostError; losses %+v", err, losses)
			}
			if len(losses) != 1 || losses[0].Stream != bus.StreamEvents {
				t.Fatalf("losses %+v, want one in EVENTS", losses)
			}
			l := losses[0]
			have := uint64(len(d.ids(t)))
			if got, want := l.Lost.Count(), events-have; got != want && !(c.atLeast && got <= want) {
				t.Errorf("reported %d lost (%s), the stream misses %d of %d", got, l.Lost, want, events)
			}
			if l.Floor != acked {
				t.Errorf("detector ack floor %d, want %d", l.Floor, acked)
			}
			if got, want := l.Unprocessed, l.Lost.Count(); got.Count() > want || got.Count() == 0 {
				t.Errorf("unprocessed %s of lost %s", got, l.Lost)
			}
			t.Logf("lost %d events (%s), %d unprocessed", l.Lost.Count(), l.Lost, l.Unprocessed.Count())
			for _, want := range []string{"level=ERROR", "NATS store damaged", "stream=EVENTS", "--accept-lost"} {
				if !strings.Contains(logs.String(), want) {
					t.Errorf("log lacks %q:\n%s", want, logs.String())
				}
			}
			if !strings.Contains(err.Error(), "Re-ingest them") || !strings.Contains(err.Error(), "--accept-lost") {
				t.Errorf("error does not say how to re-ingest: %v", err)
			}
			if got := gaugeValue(t, reg, "breach_bus_lost_unprocessed_messages", "stream", bus.StreamEvents); got != float64(l.Unprocessed.Count()) {
				t.Errorf("breach_bus_lost_unprocessed_messages{stream=EVENTS} = %v, want %d", got, l.Unprocessed.Count())
			}
			if got := gaugeValue(t, reg, "breach_bus_lost_messages", "stream", bus.StreamEvents); got != float64(l.Lost.Count()) {
				t.Errorf("breach_bus_lost_messages{stream=EVENTS} = %v, want %d", got, l.Lost.Count())
			}

			// Refused again until accepted.
			logs.Reset()
			if _, err := d.check(t, false, nil, &logs); !errors.As(err, &lost) {
				t.Fatalf("second check without accepting: err = %v, want a *LostError", err)
			}
			// The documented re-ingest: a start with --accept-lost, then every event again
			// (the stored ones are dropped as duplicates).
			if _, err := d.check(t, true, nil, &logs); err != nil {
				t.Fatalf("check with accept: %v", err)
			}
			d.publish(t, 0, events)
			if got := d.ids(t); len(got) != events {
				t.Errorf("after the re-ingest the stream holds %d distinct events, want %d", len(got), events)
			}
			d.stop()
			d.start(t)
			logs.Reset()
			if losses, err := d.check(t, false, nil, &logs); err != nil || len(losses) != 0 || logs.Len() != 0 {
				t.Errorf("start after the accepted loss: losses %+v, err %v\n%s", losses, err, logs.String())
			}
		})
	}
}

// overwrite writes n zero bytes into file at off.
func overwrite(t *testing.T, file string, off, n int64) {
	t.Helper()
	f, err := os.OpenFile(file, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.WriteAt(make([]byte, n), off); err != nil {
		t.Fatal(err)
	}
}

// gaugeValue returns the value of the gauge name with the label values of labels (pairs) in reg.
func gaugeValue(t *testing.T, reg *prometheus.Registry, name string, labels ...string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
	series:
		for _, m := range mf.GetMetric() {
			for i := 0; i+1 < len(labels); i += 2 {
				if !slices.ContainsFunc(m.GetLabel(), func(l *dto.LabelPair) bool { return l.GetName() == labels[i] && l.GetValue() == labels[i+1] }) {
					continue series
				}
			}
			return m.GetGauge().GetValue()
		}
	}
	t.Fatalf("no series %s%v", name, labels)
	return 0
}

// TestStoreDamageProcessedTail: the last block damaged after the detector had processed
// everything. Nothing unprocessed is lost, so the start goes on (the loss logged at Error);
// the detector's durable, left beyond the stream's new end, is moved back, so the events
// published next (which take the lost sequences) reach it.
func TestStoreDamageProcessedTail(t *testing.T) {
	const events = 30000
	dir := t.TempDir()
	d := &damageStore{dir: dir, marks: filepath.Join(dir, "marks.json")}
	d.start(t)
	d.publish(t, 0, events)
	d.ack(t, events)
	d.stop()
	blks := d.blocks(t)
	overwrite(t, blks[len(blks)-1], 100<<10, 50<<10)
	d.start(t)
	var logs bytes.Buffer
	losses, err := d.check(t, false, nil, &logs)
	if err != nil {
		t.Fatalf("check after damage of processed events: %v", err)
	}
	if len(losses) != 1 || len(losses[0].Unprocessed) != 0 || len(losses[0].Ahead) != 1 || losses[0].Lost.Count() == 0 {
		t.Fatalf("losses %+v, want one in EVENTS, processed, with the detector's durable ahead", losses)
	}
	if !strings.Contains(logs.String(), "level=ERROR") || !strings.Contains(logs.String(), "history has them") {
		t.Errorf("log:\n%s", logs.String())
	}
	lost := losses[0].Lost.Count()
	d.publish(t, events, events+int(lost)+100) // new events, numbered over the lost ones
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	c, err := d.js.Consumer(ctx, bus.StreamEvents, "detect-0-of-1")
	if err != nil {
		t.Fatal(err)
	}
	got := 0
	for got < int(lost)+100 {
		b, err := c.Fetch(1000, jetstream.FetchMaxWait(2*time.Second))
		if err != nil {
			t.Fatal(err)
		}
		n := 0
		for m := range b.Messages() {
			n++
			if err := m.Ack(); err != nil {
				t.Fatal(err)
			}
		}
		if n == 0 {
			t.Fatalf("the detector's durable got %d of the %d events published after the damage", got, int(lost)+100)
		}
		got += n
	}
}

// TestStoreLossReportedOnce: messages missing inside ALERTS (here deleted, as damage leaves
// them) beyond the notifier's ack floor are reported as unprocessed without stopping the
// start; the report is recorded in the stream's metadata, which Ensure keeps, so the next
// start is quiet.
func TestStoreLossReportedOnce(t *testing.T) {
	s := bustest.Start(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for i := range 20 {
		if _, err := s.JS.Publish(ctx, bus.AlertSubject(event.SeverityHigh), []byte("a"), jetstream.WithMsgID(fmt.Sprint(i))); err != nil {
			t.Fatal(err)
		}
	}
	c, err := s.JS.CreateOrUpdateConsumer(ctx, bus.StreamAlerts, jetstream.ConsumerConfig{Durable: "notify", AckPolicy: jetstream.AckAllPolicy})
	if err != nil {
		t.Fatal(err)
	}
	b, err := c.Fetch(5)
	if err != nil {
		t.Fatal(err)
	}
	var last jetstream.Msg
	for m := range b.Messages() {
		last = m
	}
	if err := last.DoubleAck(ctx); err != nil {
		t.Fatal(err)
	}
	st, err := s.JS.Stream(ctx, bus.StreamAlerts)
	if err != nil {
		t.Fatal(err)
	}
	for _, seq := range []uint64{3, 4, 9, 10, 11} {
		if err := st.DeleteMsg(ctx, seq); err != nil {
			t.Fatal(err)
		}
	}
	check := func() ([]bus.Loss, string) {
		t.Helper()
		var logs bytes.Buffer
		losses, err := bus.CheckStore(ctx, s.JS, bus.StoreCheck{Processors: map[string]string{bus.StreamAlerts: "notify"},
			Log: slog.New(slog.NewTextHandler(&logs, nil))})
		if err != nil {
			t.Fatalf("check: %v", err)
		}
		return losses, logs.String()
	}
	losses, logs := check()
	if len(losses) != 1 || losses[0].Lost.String() != "3-4,9-11" || losses[0].Unprocessed.String() != "9-11" || losses[0].Floor != 5 {
		t.Fatalf("losses %+v, want ALERTS 3-4,9-11 lost, 9-11 unprocessed above floor 5", losses)
	}
	if !strings.Contains(logs, "level=ERROR") || !strings.Contains(logs, "no incident was opened") {
		t.Errorf("log:\n%s", logs)
	}
	if err := bus.Ensure(ctx, s.JS, bus.Config{}); err != nil {
		t.Fatal(err)
	}
	if losses, logs := check(); len(losses) != 0 || logs != "" {
		t.Errorf("second start: losses %+v\n%s", losses, logs)
	}
}
