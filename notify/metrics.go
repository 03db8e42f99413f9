package notify

import (
	"github.com/prometheus/client_golang/prometheus"

	"breachd/promreg"
)

// Results of handling one alert message (the result label of breach_notify_alerts_total).
const (
	resultOpened    = "opened"    // the alert opened an incident
	resultUpdated   = "updated"   // the alert was added to an open incident
	resultDuplicate = "duplicate" // the alert was already part of its incident (redelivery)
	resultInvalid   = "invalid"   // the payload can never be processed; terminated
	resultRetry     = "retry"     // a write or hand-off failed; the alert will be redelivered
)

// metrics of the notifier. Labels are bounded: results only, never accounts or incident ids.
type metrics struct {
	alerts     *prometheus.CounterVec
	opened     prometheus.Counter
	conflicts  prometheus.Counter
	sinkErrors prometheus.Counter
	active     prometheus.Gauge
	takeovers  prometheus.Counter
}

// newMetrics creates the notifier's metrics and registers them with reg, unless reg is nil.
// Metrics already registered by another Notifier on the same registry are shared.
func newMetrics(reg prometheus.Registerer) (*metrics, error) {
	m := &metrics{
		alerts: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "breach_notify_alerts_total",
			Help: "Alert messages handled by the notifier, by result (opened, updated, duplicate, invalid, retry).",
		}, []string{"result"}),
		opened: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "breach_notify_incidents_opened_total",
			Help: "Incidents opened (counted once, when the opened change is first published).",
		}),
		conflicts: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "breach_notify_cas_conflicts_total",
			Help: "Incident writes that lost a compare-and-set race and were retried.",
		}),
		sinkErrors: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "breach_notify_sink_errors_total",
			Help: "Incident changes a sink failed to take (retried unless the failure is permanent).",
		}),
		active: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "breach_notify_active",
			Help: "1 while this notifier holds the pin of the notifiers' durable (active), 0 while it stands by.",
		}),
		takeovers: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "breach_notify_takeovers_total",
			Help: "Times this notifier became active: on start and after another notifier stopped.",
		}),
	}
	if err := promreg.All(reg, promreg.Of(&m.alerts), promreg.Of(&m.opened), promreg.Of(&m.conflicts), promreg.Of(&m.sinkErrors),
		promreg.Of(&m.active), promreg.Of(&m.takeovers)); err != nil {
		return nil, err
	}
	return m, nil
}
