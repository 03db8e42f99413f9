package deploy

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"
	"unicode"

	"github.com/nats-io/nats.go"
	"github.com/prometheus/client_golang/prometheus"

	"breachd/ingest/httpin"
	"breachd/ingest/kafka"
	"breachd/secretfile"
)

// The network inputs of SourceConfig: the HTTP endpoint and the Kafka consumer.

func (h HTTPSourceConfig) open(nc *nats.Conn, console io.Writer, log *slog.Logger, reg prometheus.Registerer) (*httpin.Server, error) {
	var toks []httpin.Token
	if h.TokenFile != "" {
		b, err := secretfile.Read(h.TokenFile)
		if err != nil {
			return nil, fmt.Errorf("--http-token-file: %w", err)
		}
		if toks, err = httpin.ParseTokens(bytes.NewReader(b)); err != nil {
			return nil, fmt.Errorf("--http-token-file %s: %w", h.TokenFile, err)
		}
	}
	hc := httpin.Config{Listen: h.Listen, Tokens: toks, Insecure: h.Insecure, Logger: log, Registerer: reg,
		BodyTimeout: h.BodyTimeout, MinBodyRate: h.MinBodyRate}
	if nc != nil {
		hc.Ready = func() error {
			if !nc.IsConnected() {
				return errors.New("nats: not connected")
			}
			return nil
		}
	}
	if console != nil {
		hc.OnListen = func(addr string) { fmt.Fprintf(console, "  HTTP ingest      POST http://%s/v1/events\n", addr) }
	}
	return httpin.New(hc)
}

func (k KafkaSourceConfig) open(log *slog.Logger, reg prometheus.Registerer) (*kafka.Source, error) {
	f, err := lookupFormat("--kafka-format", k.Format)
	if err != nil {
		return nil, err
	}
	list := func(s string) []string {
		return strings.FieldsFunc(s, func(r rune) bool { return r == ',' || unicode.IsSpace(r) })
	}
	cfg := kafka.Config{Brokers: list(k.Brokers), Topics: list(k.Topics), GroupID: k.Group, StartOffset: k.StartOffset,
		Format: f, Batch: k.Batch, BatchWait: k.BatchWait, MaxBytes: k.MaxBytes, Logger: log, Registerer: reg}
	if k.TLS || k.TLSCA != "" || k.TLSCert != "" || k.TLSKey != "" || k.TLSInsecureSkipVerify {
		t, err := kafka.TLSConfig(k.TLSCA, k.TLSCert, k.TLSKey, k.TLSInsecureSkipVerify)
		if err != nil {
			return nil, fmt.Errorf("kafka TLS: %w", err)
		}
		cfg.TLS = t
	}
	if k.SASLMechanism != "" {
		pw := os.Getenv("BREACHD_KAFKA_SASL_PASSWORD")
		if k.SASLPasswordFile != "" {
			b, err := secretfile.Read(k.SASLPasswordFile)
			if err != nil {
				return nil, fmt.Errorf("--kafka-sasl-password-file: %w", err)
			}
			pw = strings.TrimSpace(string(b))
		}
		cfg.SASL = kafka.SASL{Mechanism: k.SASLMechanism, Username: k.SASLUsername, Password: pw}
	}
	return kafka.New(cfg)
}
