package ingest

import "github.com/prometheus/client_golang/prometheus"

type metrics struct {
	accepted, rejected, duplicates, skipped *prometheus.CounterVec
	failures                                prometheus.Counter
}

func newMetrics(reg prometheus.Registerer) *metrics {
	m := &metrics{
		accepted: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "breach_ingest_events_accepted_total", Help: "Valid events published to JetStream, by source.",
		}, []string{"source"}),
		rejected: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "breach_ingest_events_rejected_total", Help: "Records sent to the dead-letter stream, by source.",
		}, []string{"source"}),
		duplicates: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "breach_ingest_events_duplicate_total", Help: "Events JetStream had already stored (same id), by source.",
		}, []string{"source"}),
		skipped: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "breach_ingest_records_skipped_total", Help: "Records a parser recognised as not being events (e.g. debug lines), by source.",
		}, []string{"source"}),
		failures: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "breach_ingest_submit_failures_total", Help: "Batches not durably published (the source retries).",
		}),
	}
	if reg != nil {
		reg.MustRegister(m.accepted, m.rejected, m.duplicates, m.skipped, m.failures)
	}
	return m
}
