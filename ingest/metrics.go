package ingest

import (
	"sync"

	"github.com/prometheus/client_golang/prometheus"
)

// MaxSourceLabels bounds the values of the source label. A source name is a configured input
// ("file", "http:<token name>", a Kafka source's name), a small set; sources beyond the first
// MaxSourceLabels distinct names are counted under OtherSource, so that a caller passing
// something else (a name taken from stored data, say) cannot grow the series without bound.
const MaxSourceLabels = 64

// OtherSource is the source label of the sources beyond MaxSourceLabels.
const OtherSource = "other"

type metrics struct {
	accepted, rejected, duplicates, skipped *prometheus.CounterVec
	failures                                prometheus.Counter

	mu      sync.Mutex
	sources map[string]bool // label values in use
}

// sourceLabel returns the label value under which source is counted.
func (m *metrics) sourceLabel(source string) string {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.sources[source] {
		return source
	}
	if len(m.sources) >= MaxSourceLabels {
		return OtherSource
	}
	m.sources[source] = true
	return source
}

func newMetrics(reg prometheus.Registerer) *metrics {
	m := &metrics{
		sources: map[string]bool{},
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
