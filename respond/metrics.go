package respond

import (
	"errors"

	"github.com/prometheus/client_golang/prometheus"
)

type metrics struct {
	states        *prometheus.CounterVec   // state
	calls         *prometheus.CounterVec   // adapter, action, result
	latency       *prometheus.HistogramVec // adapter, action
	auditFailures prometheus.Counter
}

func newMetrics(reg prometheus.Registerer) (*metrics, error) {
	m := &metrics{
		states: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "breach_respond_requests_total",
			Help: "Deactivation requests entering a state, by state.",
		}, []string{"state"}),
		calls: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "breach_respond_adapter_calls_total",
			Help: "Adapter calls, by adapter, action (deactivate, reactivate) and result (ok, transient, permanent).",
		}, []string{"adapter", "action", "result"}),
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "breach_respond_adapter_call_duration_seconds",
			Help:    "Duration of adapter calls, by adapter and action.",
			Buckets: []float64{0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30},
		}, []string{"adapter", "action"}),
		auditFailures: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "breach_respond_audit_failures_total",
			Help: "Audit entries of outcomes that could not be written (logged at Error).",
		}),
	}
	if reg != nil {
		for _, c := range []prometheus.Collector{m.states, m.calls, m.latency, m.auditFailures} {
			if err := reg.Register(c); err != nil {
				var are prometheus.AlreadyRegisteredError
				if !errors.As(err, &are) {
					return nil, err
				}
				switch c.(type) { // share the collectors of an engine registered before
				case *prometheus.CounterVec:
					if c == m.states {
						m.states = are.ExistingCollector.(*prometheus.CounterVec)
					} else {
						m.calls = are.ExistingCollector.(*prometheus.CounterVec)
					}
				case *prometheus.HistogramVec:
					m.latency = are.ExistingCollector.(*prometheus.HistogramVec)
				case prometheus.Counter:
					m.auditFailures = are.ExistingCollector.(prometheus.Counter)
				}
			}
		}
	}
	return m, nil
}
