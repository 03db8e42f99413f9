package channel

import (
	"github.com/prometheus/client_golang/prometheus"

	"breachd/promreg"
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
		sends: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "breach_notify_channel_sends_total",
			Help: "Messages handled per channel, by result (delivered, duplicate, permanent, exhausted, canceled, dedup_error)."},
			[]string{"channel", "result"}),
		retries: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "breach_notify_channel_retries_total",
			Help: "Attempts after the first, per channel."}, []string{"channel"}),
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "breach_notify_channel_attempt_seconds",
			Help: "Duration of one send attempt, per channel.", Buckets: []float64{.01, .05, .1, .25, .5, 1, 2.5, 5, 10, 30}},
			[]string{"channel"}),
	}
	if err := promreg.All(reg, promreg.Of(&m.sends), promreg.Of(&m.retries), promreg.Of(&m.latency)); err != nil {
		return nil, err
	}
	return m, nil
}
