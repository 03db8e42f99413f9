package channel

import (
	"context"
	"log/slog"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"breachd/bus/bustest"
	"breachd/event"
)

var t0 = time.Date(2026, 11, 5, 8, 0, 0, 0, time.UTC)

// fakeTime is an injected clock whose Sleep returns at once and advances the clock, so
// backoff is exercised without waiting.
type fakeTime struct {
	mu     sync.Mutex
	now    time.Time
	sleeps []time.Duration
}

func newFakeTime() *fakeTime { return &fakeTime{now: t0} }

func (f *fakeTime) Now() time.Time {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.now
}

func (f *fakeTime) Advance(d time.Duration) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.now = f.now.Add(d)
}

func (f *fakeTime) Sleep(ctx context.Context, d time.Duration) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.sleeps = append(f.sleeps, d)
	f.now = f.now.Add(d)
	return nil
}

func (f *fakeTime) Sleeps() []time.Duration {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]time.Duration(nil), f.sleeps...)
}

func quietLogger() *slog.Logger { return slog.New(slog.DiscardHandler) }

// testIncident is an incident with Norwegian letters in its facts.
func testIncident() *event.Incident {
	return &event.Incident{
		ID: "INC-20261105-1a2b3c4d", Org: "baerum.kommune.no", Account: "ødegård@bærum.no",
		State: event.StateDetected, Severity: event.SeverityHigh,
		Opened: t0, Aware: t0, Deadline: t0.Add(event.ReportWindow), Updated: t0,
		FirstSeen: t0.Add(-2 * time.Hour), LastSeen: t0.Add(-time.Hour),
		AlertCount: 3, Rules: map[string]int64{"teacher-own-child": 2, "pupil-as-teacher": 1},
		Summary: "Lærer så eget barns trivselsdata", Version: 1,
	}
}

func testMessage() Message {
	inc := testIncident()
	return Message{
		Key: inc.ID + "/opened/v1", Kind: KindOpened, Severity: inc.Severity, Org: inc.Org,
		Tags: []string{"guardian"}, Title: inc.Summary, Text: "Kontaktlærer på Østerås skole åpnet data.",
		Incident: inc,
	}
}

// startKV starts an embedded JetStream and returns it with the dedup bucket.
func startKV(t *testing.T) (*bustest.Server, jetstream.KeyValue) {
	t.Helper()
	s := bustest.StartServer(t)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	kv, err := EnsureBucket(ctx, s.JS, 0, 1)
	if err != nil {
		t.Fatal(err)
	}
	return s, kv
}

func ctxT(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// counter reads a counter's value.
func counter(t *testing.T, c prometheus.Counter) float64 {
	t.Helper()
	var m dto.Metric
	if err := c.Write(&m); err != nil {
		t.Fatal(err)
	}
	return m.GetCounter().GetValue()
}

func itoa(i int) string { return strconv.Itoa(i) }

func bustestStart(tb testing.TB) *bustest.Server { return bustest.StartServer(tb) }
