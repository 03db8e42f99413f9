package main

import (
	"fmt"
	"log/slog"
	"os"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	flag "github.com/spf13/pflag"

	"breachd/ingest"
	"breachd/ingest/format"
	"breachd/ingest/kafka"
	"breachd/secretfile"
)

// kafkaFlags configure the Kafka input of `breachd run`.
type kafkaFlags struct {
	brokers, topics, group, start, format string
	batch                                 int
	batchWait                             time.Duration
	maxBytes                              int
	tls, tlsInsecure                      bool
	tlsCA, tlsCert, tlsKey                string
	saslMechanism, saslUser, saslPassFile string
}

func (f *kafkaFlags) declare(fs *flag.FlagSet) {
	fs.StringVar(&f.brokers, "kafka-brokers", "", "Kafka brokers host:port, comma-separated; empty: no Kafka input")
	fs.StringVar(&f.topics, "kafka-topics", "", "Kafka topics to consume, comma-separated (they must exist)")
	fs.StringVar(&f.group, "kafka-group", "breachd", "Kafka consumer group; breachd processes in one group share the partitions")
	fs.StringVar(&f.start, "kafka-start-offset", kafka.StartFirst, "where a new group starts on a partition: first or last")
	fs.StringVar(&f.format, "kafka-format", "canonical", "log format of the Kafka messages: "+strings.Join(format.Names(), ", "))
	fs.IntVar(&f.batch, "kafka-batch", kafka.DefaultBatch, "events per JetStream hand-off (offsets are committed after it)")
	fs.DurationVar(&f.batchWait, "kafka-batch-wait", kafka.DefaultBatchWait, "longest a partial batch waits")
	fs.IntVar(&f.maxBytes, "kafka-max-bytes", kafka.DefaultMaxBytes, "largest fetch response, in bytes")
	fs.BoolVar(&f.tls, "kafka-tls", false, "connect with TLS (system roots); implied by --kafka-tls-ca/-cert/-key")
	fs.StringVar(&f.tlsCA, "kafka-tls-ca", "", "PEM file of the CA that signed the brokers' certificates")
	fs.StringVar(&f.tlsCert, "kafka-tls-cert", "", "PEM client certificate for mutual TLS (with --kafka-tls-key)")
	fs.StringVar(&f.tlsKey, "kafka-tls-key", "", "PEM client key for mutual TLS (mode 0600 or 0400: refused if group or others may read it)")
	fs.BoolVar(&f.tlsInsecure, "kafka-tls-insecure-skip-verify", false, "do not verify the brokers' certificates (tests only)")
	fs.StringVar(&f.saslMechanism, "kafka-sasl-mechanism", "", "SASL: plain, scram-sha-256 or scram-sha-512 (plain only over TLS)")
	fs.StringVar(&f.saslUser, "kafka-sasl-username", "", "SASL user name")
	fs.StringVar(&f.saslPassFile, "kafka-sasl-password-file", "", "file holding the SASL password, mode 0600 (or env BREACHD_KAFKA_SASL_PASSWORD); never on the command line")
}

func (f *kafkaFlags) enabled() bool { return f.brokers != "" }

// build returns the Kafka source the flags describe, or none.
func (f *kafkaFlags) build(log *slog.Logger, reg prometheus.Registerer) ([]ingest.Source, error) {
	if !f.enabled() {
		return nil, nil
	}
	cfg := kafka.Config{Brokers: splitList(f.brokers), Topics: splitList(f.topics), GroupID: f.group, StartOffset: f.start,
		Batch: f.batch, BatchWait: f.batchWait, MaxBytes: f.maxBytes, Logger: log, Registerer: reg}
	if f.tls || f.tlsCA != "" || f.tlsCert != "" || f.tlsKey != "" || f.tlsInsecure {
		t, err := kafka.TLSConfig(f.tlsCA, f.tlsCert, f.tlsKey, f.tlsInsecure)
		if err != nil {
			return nil, fmt.Errorf("kafka TLS: %w", err)
		}
		cfg.TLS = t
	}
	if f.saslMechanism != "" {
		pw := os.Getenv("BREACHD_KAFKA_SASL_PASSWORD")
		if f.saslPassFile != "" {
			b, err := secretfile.Read(f.saslPassFile)
			if err != nil {
				return nil, fmt.Errorf("--kafka-sasl-password-file: %w", err)
			}
			pw = strings.TrimSpace(string(b))
		}
		cfg.SASL = kafka.SASL{Mechanism: f.saslMechanism, Username: f.saslUser, Password: pw}
	}
	src, err := kafka.New(cfg)
	if err != nil {
		return nil, err
	}
	if f.format == "canonical" {
		return []ingest.Source{src}, nil
	}
	p, err := format.Lookup(f.format)
	if err != nil {
		return nil, usagef("--kafka-format: %v", err)
	}
	return []ingest.Source{ingest.WithFormat(src, p)}, nil
}
