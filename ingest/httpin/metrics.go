package httpin

import (
	"fmt"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"breachd/promreg"
)

// metrics of the server: requests by code, body timeouts by reason (timeout, too_slow).
type metrics struct {
	requests, bodyTimeouts *prometheus.CounterVec
	records, bytes         prometheus.Counter
	duration               prometheus.Histogram
	inFlight               prometheus.Gauge
}

func newMetrics(reg prometheus.Registerer) (*metrics, error) {
	m := &metrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "breach_httpin_requests_total", Help: "POST /v1/events requests, by response code.",
		}, []string{"code"}),
		bodyTimeouts: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "breach_httpin_body_timeouts_total",
			Help: "POST bodies aborted with 408 because they did not arrive in time, by reason (timeout: not complete within the body timeout; too_slow: below the minimum rate).",
		}, []string{"reason"}),
		records: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "breach_httpin_records_total", Help: "Records received in request bodies (accepted or rejected).",
		}),
		bytes: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "breach_httpin_received_bytes_total", Help: "Request body bytes received, as sent (before gzip decoding).",
		}),
		duration: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "breach_httpin_request_duration_seconds", Help: "Time to answer POST /v1/events, including the durable hand-off.",
			Buckets: []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30},
		}),
		inFlight: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "breach_httpin_in_flight_requests", Help: "POST /v1/events requests being read or submitted.",
		}),
	}
	for _, r := range []string{"timeout", "too_slow"} {
		m.bodyTimeouts.WithLabelValues(r)
	}
	err := promreg.All(reg, promreg.Of(&m.requests), promreg.Of(&m.bodyTimeouts), promreg.Of(&m.records),
		promreg.Of(&m.bytes), promreg.Of(&m.duration), promreg.Of(&m.inFlight))
	if err != nil {
		return nil, fmt.Errorf("http ingest: metrics: %w", err)
	}
	return m, nil
}

func (m *metrics) observe(code int, start time.Time) {
	m.requests.WithLabelValues(strconv.Itoa(code)).Inc()
	m.duration.Observe(time.Since(start).Seconds())
}
