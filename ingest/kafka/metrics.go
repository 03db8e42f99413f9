package kafka

import (
	"fmt"

	"github.com/prometheus/client_golang/prometheus"

	"breachd/promreg"
)

type metrics struct {
	fetched, batches, retries, commitErrors, fetchErrors, rebalances prometheus.Counter
	// lag is per topic and partition (bounded by the topics' partition counts).
	lag *prometheus.GaugeVec
}

// newMetrics registers the source's metrics on reg (which may be nil), labelled with the
// source name so that several Kafka sources can share a registry.
func newMetrics(reg prometheus.Registerer, source string) (*metrics, error) {
	labels := prometheus.Labels{"source": source}
	counter := func(name, help string) prometheus.Counter {
		return prometheus.NewCounter(prometheus.CounterOpts{Name: name, Help: help, ConstLabels: labels})
	}
	m := &metrics{
		fetched:      counter("breach_ingest_kafka_records_fetched_total", "Kafka records fetched and handed to the Sink (redeliveries included)."),
		batches:      counter("breach_ingest_kafka_batches_submitted_total", "Batches the Sink made durable."),
		retries:      counter("breach_ingest_kafka_submit_retries_total", "Submits of a batch the Sink had refused (NATS unavailable)."),
		commitErrors: counter("breach_ingest_kafka_commit_errors_total", "Offset commits that failed after a durable Submit (the records are delivered again)."),
		fetchErrors:  counter("breach_ingest_kafka_fetch_errors_total", "Fetches that failed with an error other than shutdown."),
		rebalances:   counter("breach_ingest_kafka_rebalances_total", "Consumer group generations this source joined."),
		lag: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name:        "breach_ingest_kafka_lag_messages",
			Help:        "Messages behind the partition's high watermark, as of the last record fetched from it.",
			ConstLabels: labels,
		}, []string{"topic", "partition"}),
	}
	err := promreg.All(reg, promreg.Of(&m.fetched), promreg.Of(&m.batches), promreg.Of(&m.retries), promreg.Of(&m.commitErrors),
		promreg.Of(&m.fetchErrors), promreg.Of(&m.rebalances), promreg.Of(&m.lag))
	if err != nil {
		return nil, fmt.Errorf("kafka source %s: metrics: %w", source, err)
	}
	return m, nil
}
