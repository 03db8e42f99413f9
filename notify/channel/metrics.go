package channel

import (
	"errors"

	"github.com/prometheus/client_golang/prometheus"
)

// Results of delivering one message to one channel (label result of
// breach_notify_channel_sends_total).
const (
	resultDelivered = "delivered" // the channel accepted it
	resultDuplicate = "duplicate" // already delivered (or being delivered) for this Key
	resultPermanent = "permanent" // a permanent error: not retried
	resultExhausted = "exhausted" // transient errors until attempts or time ran out
	resultCanceled  = "canceled"  // the caller's context ended first
	resultDedupErr  = "dedup_error"
)

// metrics of the dispatcher. The channel label is bounded by the configuration.
type metrics struct {
	sends   *prometheus.CounterVec
	retries *prometheus.CounterVec
	latency *prometheus.HistogramVec
}

func newMetrics(reg prometheus.Registerer) (*metrics, error) {
	m := &metrics{
		sends: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "breach_notify_channel_sends_total",
			Help: "Messages handled per channel, by result (delivered, duplicate, permanent, exhausted, canceled, dedup_error).",
		}, []string{"channel", "result"}),
		retries: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "breach_notify_channel_retries_total",
			Help: "Attempts after the first, per channel.",
		}, []string{"channel"}),
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "breach_notify_channel_attempt_seconds",
			Help:    "Duration of one send attempt, per channel.",
			Buckets: []float64{.01, .05, .1, .25, .5, 1, 2.5, 5, 10, 30},
		}, []string{"channel"}),
	}
	if reg == nil {
		return m, nil
	}
	var err error
	if m.sends, err = register(reg, m.sends); err != nil {
		return nil, err
	}
	if m.retries, err = register(reg, m.retries); err != nil {
		return nil, err
	}
	if m.latency, err = register(reg, m.latency); err != nil {
		return nil, err
	}
	return m, nil
}

// register registers c, or returns the identical collector registered before (a reloaded
// configuration builds a new Dispatcher on the same registry).
func register[C prometheus.Collector](reg prometheus.Registerer, c C) (C, error) {
	err := reg.Register(c)
	var are prometheus.AlreadyRegisteredError
	if errors.As(err, &are) {
		if existing, ok := are.ExistingCollector.(C); ok {
			return existing, nil
		}
	}
	if err != nil {
		var zero C
		return zero, err
	}
	return c, nil
}
