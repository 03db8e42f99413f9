package detect

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"breachd/event"
)

func alertJSON(a *event.Alert) ([]byte, error) {
	b, err := json.Marshal(a)
	if err != nil {
		return nil, fmt.Errorf("marshal alert %s: %w", a.ID, err)
	}
	return b, nil
}

// retry calls f until it succeeds or ctx ends, backing off from 100 ms to 5 s.
func retry(ctx context.Context, f func() error) error {
	wait := 100 * time.Millisecond
	for {
		err := f()
		if err == nil {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%w (gave up: %v)", err, ctx.Err())
		case <-time.After(wait):
		}
		wait = min(2*wait, 5*time.Second)
	}
}

func sleep(ctx context.Context, d time.Duration) {
	select {
	case <-ctx.Done():
	case <-time.After(d):
	}
}

type metrics struct {
	events, alerts, invalid, batchFailures prometheus.Counter
	batchSeconds                           prometheus.Histogram
}

func newMetrics(reg prometheus.Registerer) *metrics {
	m := &metrics{
		events:        prometheus.NewCounter(prometheus.CounterOpts{Name: "breach_detect_events_total", Help: "Events evaluated and written to history."}),
		alerts:        prometheus.NewCounter(prometheus.CounterOpts{Name: "breach_detect_alerts_total", Help: "Alerts published."}),
		invalid:       prometheus.NewCounter(prometheus.CounterOpts{Name: "breach_detect_invalid_messages_total", Help: "Undecodable messages terminated."}),
		batchFailures: prometheus.NewCounter(prometheus.CounterOpts{Name: "breach_detect_batch_failures_total", Help: "Batches left for redelivery."}),
		batchSeconds: prometheus.NewHistogram(prometheus.HistogramOpts{Name: "breach_detect_batch_seconds", Help: "Time to make one batch durable.",
			Buckets: prometheus.ExponentialBuckets(0.001, 4, 8)}),
	}
	if reg != nil {
		reg.MustRegister(m.events, m.alerts, m.invalid, m.batchFailures, m.batchSeconds)
	}
	return m
}
