package main

import (
	"strings"

	flag "github.com/spf13/pflag"

	"breachd/deploy"
	"breachd/ingest/format"
	"breachd/ingest/kafka"
)

// declareKafkaFlags declares the Kafka input of `breachd run`.
func declareKafkaFlags(fs *flag.FlagSet, f *deploy.KafkaSourceConfig) {
	fs.StringVar(&f.Brokers, "kafka-brokers", "", "Kafka brokers host:port, comma-separated; empty: no Kafka input")
	fs.StringVar(&f.Topics, "kafka-topics", "", "Kafka topics to consume, comma-separated (they must exist)")
	fs.StringVar(&f.Group, "kafka-group", "breachd", "Kafka consumer group; breachd processes in one group share the partitions")
	fs.StringVar(&f.StartOffset, "kafka-start-offset", kafka.StartFirst, "where a new group starts on a partition: first or last")
	fs.StringVar(&f.Format, "kafka-format", "canonical", "log format of the Kafka messages: "+strings.Join(format.Names(), ", "))
	fs.IntVar(&f.Batch, "kafka-batch", kafka.DefaultBatch, "events per JetStream hand-off (offsets are committed after it)")
	fs.DurationVar(&f.BatchWait, "kafka-batch-wait", kafka.DefaultBatchWait, "longest a partial batch waits")
	fs.IntVar(&f.MaxBytes, "kafka-max-bytes", kafka.DefaultMaxBytes, "largest fetch response, in bytes")
	fs.BoolVar(&f.TLS, "kafka-tls", false, "connect with TLS (system roots); implied by --kafka-tls-ca/-cert/-key")
	fs.StringVar(&f.TLSCA, "kafka-tls-ca", "", "PEM file of the CA that signed the brokers' certificates")
	fs.StringVar(&f.TLSCert, "kafka-tls-cert", "", "PEM client certificate for mutual TLS (with --kafka-tls-key)")
	fs.StringVar(&f.TLSKey, "kafka-tls-key", "", "PEM client key for mutual TLS (mode 0600 or 0400: refused if group or others may read it)")
	fs.BoolVar(&f.TLSInsecureSkipVerify, "kafka-tls-insecure-skip-verify", false, "do not verify the brokers' certificates (tests only)")
	fs.StringVar(&f.SASLMechanism, "kafka-sasl-mechanism", "", "SASL: plain, scram-sha-256 or scram-sha-512 (plain only over TLS)")
	fs.StringVar(&f.SASLUsername, "kafka-sasl-username", "", "SASL user name")
	fs.StringVar(&f.SASLPasswordFile, "kafka-sasl-password-file", "", "file holding the SASL password, mode 0600 (or env BREACHD_KAFKA_SASL_PASSWORD); never on the command line")
}
