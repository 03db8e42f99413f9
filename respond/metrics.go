package respond

import (
	"github.com/prometheus/client_golang/prometheus"

	"breachd/promreg"
)

type metrics struct {
	states        *prometheus.CounterVec   // state
	calls         *prometheus.CounterVec   // adapter, action, result
	latency       *prometheus.HistogramVec // adapter, action
	auditFailures prometheus.Counter
}

func newMetrics(reg prometheus.Registerer) (*metrics, error) {
	m := &metrics{
		states: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "breach_respond_requests_total",
			Help: "Deactivation requests entering a state, by state."}, []string{"state"}),
		calls: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "breach_respond_adapter_calls_total",
			Help: "Adapter calls, by adapter, action (deactivate, reactivate) and result (ok, transient, permanent)."},
			[]string{"adapter", "action", "result"}),
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "breach_respond_adapter_call_duration_seconds",
			Help: "Duration of adapter calls, by adapter and action.", Buckets: []float64{0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30}},
			[]string{"adapter", "action"}),
		auditFailures: prometheus.NewCounter(prometheus.CounterOpts{Name: "breach_respond_audit_failures_total",
			Help: "Audit entries of outcomes that could not be written (logged at Error)."}),
	}
	// Engines sharing a registry share the collectors.
	if err := promreg.All(reg, promreg.Of(&m.states), promreg.Of(&m.calls), promreg.Of(&m.latency), promreg.Of(&m.auditFailures)); err != nil {
		return nil, err
	}
	return m, nil
}
