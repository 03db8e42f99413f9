package ingest

import (
	"fmt"
	"sync"

	"github.com/prometheus/client_golang/prometheus"

	"breachd/promreg"
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

func newMetrics(reg prometheus.Registerer) (*metrics, error) {
	bySource := func(name, help string) *prometheus.CounterVec {
		return prometheus.NewCounterVec(prometheus.CounterOpts{Name: name, Help: help}, []string{"source"})
	}
	m := &metrics{
		sources:    map[string]bool{},
		accepted:   bySource("breach_ingest_events_accepted_total", "Valid events published to JetStream, by source."),
		rejected:   bySource("breach_ingest_events_rejected_total", "Records sent to the dead-letter stream, by source."),
		duplicates: bySource("breach_ingest_events_duplicate_total", "Events JetStream had already stored (same id), by source."),
		skipped:    bySource("breach_ingest_records_skipped_total", "Records a parser recognised as not being events (e.g. debug lines), by source."),
		failures: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "breach_ingest_submit_failures_total", Help: "Batches not durably published (the source retries).",
		}),
	}
	err := promreg.All(reg, promreg.Of(&m.accepted), promreg.Of(&m.rejected), promreg.Of(&m.duplicates),
		promreg.Of(&m.skipped), promreg.Of(&m.failures))
	if err != nil {
		return nil, fmt.Errorf("ingest: metrics: %w", err)
	}
	return m, nil
}
