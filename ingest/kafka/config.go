package kafka

import (
	"cmp"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	kafkago "github.com/segmentio/kafka-go"
	"github.com/segmentio/kafka-go/sasl"
	"github.com/segmentio/kafka-go/sasl/plain"
	fsasl "github.com/twmb/franz-go/pkg/sasl"
	"github.com/twmb/franz-go/pkg/sasl/scram"

	"breachd/ingest"
	"breachd/retry"
	"breachd/secretfile"
)

// Defaults.
const (
	DefaultName      = "kafka"
	DefaultBatch     = 1000
	DefaultBatchWait = 200 * time.Millisecond
	DefaultMaxBytes  = 10 << 20
	DefaultRetryMin  = 500 * time.Millisecond
	DefaultRetryMax  = 30 * time.Second
	// MaxBatch bounds the records held in memory for one Submit.
	MaxBatch = 100_000
)

// Where a new consumer group starts on a partition it has no committed offset for.
const (
	StartFirst = "first" // the oldest retained message (the default)
	StartLast  = "last"  // only messages produced after the group first joined
)

// SASL mechanisms.
const (
	SASLPlain       = "plain"
	SASLScramSHA256 = "scram-sha-256"
	SASLScramSHA512 = "scram-sha-512"
)

// SASL holds credentials for SASL authentication. The zero value means no SASL.
type SASL struct {
	Mechanism string // SASLPlain, SASLScramSHA256 or SASLScramSHA512; "" for none
	Username  string
	Password  string
}

// Config configures a Source. Brokers, Topics and GroupID are required; everything else has a
// default.
type Config struct {
	Brokers []string // host:port of at least one broker
	Topics  []string // topics the group consumes
	GroupID string   // consumer group; its committed offsets are the source's position
	// Name is the source name given to the Sink: the label on ingest metrics and the subject
	// token of dead letters (default "kafka").
	Name string
	// Format reads the message values (nil: canonical JSON).
	Format ingest.Format

	Batch     int           // records per Submit (default 1000, at most MaxBatch)
	BatchWait time.Duration // a partial batch is submitted this long after its first record (default 200 ms)
	MinBytes  int           // the broker answers a fetch once it has this many bytes (default 1)
	MaxBytes  int           // most bytes per fetch response; bounds the largest message (default 10 MiB)
	// StartOffset is StartFirst (default) or StartLast: where the group starts on a partition
	// it has never committed.
	StartOffset string

	TLS  *tls.Config // nil: plaintext (see TLSConfig)
	SASL SASL

	// HeartbeatInterval and SessionTimeout tune group membership (kafka-go defaults 3 s and
	// 30 s when zero). A dead consumer's partitions move after SessionTimeout.
	HeartbeatInterval time.Duration
	SessionTimeout    time.Duration

	// RetryMin and RetryMax bound the backoff between attempts to submit a batch the Sink
	// refused (defaults 0.5 s and 30 s).
	RetryMin, RetryMax time.Duration

	Logger     *slog.Logger
	Registerer prometheus.Registerer // may be nil
}

// withDefaults returns c with every zero optional field defaulted.
func (c Config) withDefaults() Config {
	c.Name = cmp.Or(c.Name, DefaultName)
	c.Batch = cmp.Or(c.Batch, DefaultBatch)
	c.BatchWait = cmp.Or(c.BatchWait, DefaultBatchWait)
	c.MinBytes = cmp.Or(c.MinBytes, 1)
	c.MaxBytes = cmp.Or(c.MaxBytes, DefaultMaxBytes)
	c.StartOffset = cmp.Or(c.StartOffset, StartFirst)
	c.RetryMin = cmp.Or(c.RetryMin, DefaultRetryMin)
	c.RetryMax = cmp.Or(c.RetryMax, DefaultRetryMax)
	c.Logger = cmp.Or(c.Logger, slog.Default())
	return c
}

// backoff paces every retry of the source: RetryMin doubling to RetryMax.
func (c Config) backoff() retry.Backoff {
	return retry.Backoff{Initial: c.RetryMin, Max: c.RetryMax}
}

// validate reports every problem of a defaulted config at once.
func (c Config) validate() error {
	var errs []error
	bad := func(format string, a ...any) { errs = append(errs, fmt.Errorf(format, a...)) }
	if len(c.Brokers) == 0 {
		bad("brokers: at least one host:port is required")
	}
	for i, b := range c.Brokers {
		if host, port, ok := strings.Cut(b, ":"); !ok || host == "" || port == "" {
			bad("brokers[%d] %q: want host:port", i, b)
		}
	}
	if len(c.Topics) == 0 {
		bad("topics: at least one topic is required")
	}
	seen := map[string]bool{}
	for i, t := range c.Topics {
		switch {
		case t == "":
			bad("topics[%d]: empty topic name", i)
		case seen[t]:
			bad("topics[%d] %q: listed twice", i, t)
		}
		seen[t] = true
	}
	if strings.TrimSpace(c.GroupID) == "" {
		bad("group: a consumer group id is required (offsets are committed to it)")
	}
	if c.Batch < 1 || c.Batch > MaxBatch {
		bad("batch %d: must be between 1 and %d", c.Batch, MaxBatch)
	}
	if c.BatchWait < 0 {
		bad("batch wait %v: must not be negative", c.BatchWait)
	}
	if c.MinBytes < 1 || c.MaxBytes < c.MinBytes {
		bad("min bytes %d, max bytes %d: want 1 <= min <= max", c.MinBytes, c.MaxBytes)
	}
	if c.StartOffset != StartFirst && c.StartOffset != StartLast {
		bad("start offset %q: want %q or %q", c.StartOffset, StartFirst, StartLast)
	}
	if c.HeartbeatInterval < 0 || c.SessionTimeout < 0 {
		bad("heartbeat interval %v, session timeout %v: must not be negative", c.HeartbeatInterval, c.SessionTimeout)
	}
	if c.RetryMin <= 0 || c.RetryMax < c.RetryMin {
		bad("retry min %v, max %v: want 0 < min <= max", c.RetryMin, c.RetryMax)
	}
	if _, err := c.SASL.mechanism(); err != nil {
		errs = append(errs, err)
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("kafka source config: %w", err)
	}
	return nil
}

// mechanism returns the kafka-go SASL mechanism, or nil when none is configured. Errors never
// contain the password.
func (s SASL) mechanism() (sasl.Mechanism, error) {
	if s.Mechanism == "" {
		if s.Username != "" || s.Password != "" {
			return nil, errors.New("sasl: username or password given without a mechanism (plain, scram-sha-256, scram-sha-512)")
		}
		return nil, nil
	}
	if s.Username == "" || s.Password == "" {
		return nil, fmt.Errorf("sasl %s: username and password are required", s.Mechanism)
	}
	auth := scram.Auth{User: s.Username, Pass: s.Password}
	switch strings.ToLower(s.Mechanism) {
	case SASLPlain:
		return plain.Mechanism{Username: s.Username, Password: s.Password}, nil
	case SASLScramSHA256:
		return scramMechanism{auth.AsSha256Mechanism()}, nil
	case SASLScramSHA512:
		return scramMechanism{auth.AsSha512Mechanism()}, nil
	}
	return nil, fmt.Errorf("sasl mechanism %q: want %s, %s or %s", s.Mechanism, SASLPlain, SASLScramSHA256, SASLScramSHA512)
}

// scramMechanism adapts franz-go's SCRAM client (RFC 5802/7677, standard library only) to
// kafka-go's SASL interface. kafka-go's own sasl/scram needs github.com/xdg-go/scram, which
// this module does not carry.
type scramMechanism struct{ m fsasl.Mechanism }

func (s scramMechanism) Name() string { return s.m.Name() }

func (s scramMechanism) Start(ctx context.Context) (sasl.StateMachine, []byte, error) {
	host := ""
	if md := sasl.MetadataFromContext(ctx); md != nil {
		host = fmt.Sprintf("%s:%d", md.Host, md.Port)
	}
	sess, first, err := s.m.Authenticate(ctx, host)
	if err != nil {
		return nil, nil, err
	}
	return scramSession{sess}, first, nil
}

type scramSession struct{ s fsasl.Session }

func (s scramSession) Next(_ context.Context, challenge []byte) (bool, []byte, error) {
	done, resp, err := s.s.Challenge(challenge)
	if err == nil && done && len(resp) > 0 {
		// kafka-go sends nothing after the exchange is done; SCRAM never needs to.
		return false, nil, errors.New("scram: unexpected message after the final server message")
	}
	return done, resp, err
}

// TLSConfig builds a client TLS configuration from PEM files. caFile, if set, replaces the
// system roots; certFile and keyFile, both or neither, give a client certificate for brokers
// that require one. keyFile is a secret file: refused if group or others may access it
// (secretfile.Read). insecureSkipVerify disables verification of the brokers' certificates
// (for tests only: it allows anyone on the path to read and change the stream).
func TLSConfig(caFile, certFile, keyFile string, insecureSkipVerify bool) (*tls.Config, error) {
	c := &tls.Config{MinVersion: tls.VersionTLS12, InsecureSkipVerify: insecureSkipVerify} //nolint:gosec // opt-in, documented
	if caFile != "" {
		pem, err := os.ReadFile(caFile)
		if err != nil {
			return nil, fmt.Errorf("kafka tls ca: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("kafka tls ca %s: no PEM certificate in it", caFile)
		}
		c.RootCAs = pool
	}
	if (certFile == "") != (keyFile == "") {
		return nil, fmt.Errorf("kafka tls: client certificate %q and key %q must be given together", certFile, keyFile)
	}
	if certFile != "" {
		certPEM, err := os.ReadFile(certFile)
		if err != nil {
			return nil, fmt.Errorf("kafka tls client certificate: %w", err)
		}
		keyPEM, err := secretfile.Read(keyFile)
		if err != nil {
			return nil, fmt.Errorf("kafka tls client key: %w", err)
		}
		cert, err := tls.X509KeyPair(certPEM, keyPEM)
		if err != nil {
			return nil, fmt.Errorf("kafka tls client certificate: %w", err)
		}
		c.Certificates = []tls.Certificate{cert}
	}
	return c, nil
}

// readerConfig maps a validated config to kafka-go's. Commits are synchronous and explicit
// (CommitInterval 0; the source never calls ReadMessage, which would auto-commit).
func (c Config) readerConfig(mech sasl.Mechanism, log *slog.Logger) kafkago.ReaderConfig {
	start := kafkago.FirstOffset
	if c.StartOffset == StartLast {
		start = kafkago.LastOffset
	}
	maxWait := c.BatchWait
	if maxWait < 250*time.Millisecond {
		maxWait = 250 * time.Millisecond
	}
	return kafkago.ReaderConfig{
		Brokers:           c.Brokers,
		GroupID:           c.GroupID,
		GroupTopics:       c.Topics,
		Dialer:            c.dialer(mech),
		MinBytes:          c.MinBytes,
		MaxBytes:          c.MaxBytes,
		MaxWait:           maxWait,
		StartOffset:       start,
		HeartbeatInterval: c.HeartbeatInterval,
		SessionTimeout:    c.SessionTimeout,
		CommitInterval:    0,
		// Partitions added to a topic join the group's assignment without a restart.
		WatchPartitionChanges: true,
		// Wait 1 s, not kafka-go's 5 s, before joining again after a failed join, so that the
		// source resumes soon after a broker outage.
		JoinGroupBackoff: time.Second,
		ErrorLogger:      &clientLog{log: log},
	}
}

// dialer connects to brokers with the configured TLS and SASL.
func (c Config) dialer(mech sasl.Mechanism) *kafkago.Dialer {
	return &kafkago.Dialer{ClientID: "breachd", Timeout: 10 * time.Second, DualStack: true, TLS: c.TLS, SASLMechanism: mech}
}

// clientLog passes kafka-go's error log (broker errors it retries: unreachable brokers, group
// joins, leader changes) to slog at Warn, leaving out a line equal to the one before it.
type clientLog struct {
	log  *slog.Logger
	mu   sync.Mutex
	last string
}

func (l *clientLog) Printf(format string, args ...any) {
	msg := fmt.Sprintf(format, args...)
	l.mu.Lock()
	repeat := msg == l.last
	l.last = msg
	l.mu.Unlock()
	if !repeat {
		l.log.Warn("kafka client", "detail", strings.TrimSpace(msg))
	}
}
