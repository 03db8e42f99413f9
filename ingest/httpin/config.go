package httpin

import (
	"bufio"
	"cmp"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"regexp"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"breachd/ingest"
)

// Defaults of Config.
const (
	DefaultMaxBody       = 10 << 20 // bytes of a request body, before and after gzip decoding
	DefaultMaxRecords    = 10000    // records in one request
	DefaultMaxRecord     = 512 << 10
	DefaultBatch         = 1000 // records per Sink.Submit
	DefaultMaxInFlight   = 8
	DefaultSubmitTimeout = 10 * time.Second
	DefaultRetryAfter    = 5 * time.Second
	DefaultMaxErrors     = 100 // per-record reasons in one response
	DefaultBodyTimeout   = 60 * time.Second
	DefaultMinBodyRate   = 1024 // bytes per second, after DefaultBodyRateGrace
	DefaultBodyRateGrace = 5 * time.Second
	MinTokenLen          = 16
)

// Token is one client credential. Name identifies the client: records it sends are submitted
// under the source "http:<name>", so metrics and dead letters say who sent them.
type Token struct {
	Name   string
	Secret string
}

// Config configures a Server. The zero value of every limit means its default.
type Config struct {
	// Listen is the address Run listens on, e.g. "127.0.0.1:8088".
	Listen string
	// Tokens accepted in "Authorization: Bearer <secret>". At least one is required unless
	// Insecure is set.
	Tokens []Token
	// Insecure accepts requests without a token (source "http"). New logs a warning.
	Insecure bool

	MaxBody     int64 // 413 beyond it (compressed or decompressed)
	MaxRecords  int   // 413 beyond it; nothing of the request is submitted
	MaxRecord   int   // a longer record is cut to this size and dead-lettered
	Batch       int   // records per Submit
	MaxInFlight int   // concurrent POSTs being read or submitted; 429 beyond
	MaxErrors   int   // per-record reasons listed in a response

	// SubmitTimeout bounds the durable hand-off of one request; beyond it the answer is 503.
	SubmitTimeout time.Duration
	// RetryAfter is sent with 503 and 429 (rounded up to whole seconds).
	RetryAfter time.Duration

	// BodyTimeout bounds reading one POST body, counted from the moment its in-flight slot is
	// taken; beyond it the answer is 408 and the connection is closed. Default 60s.
	BodyTimeout time.Duration
	// MinBodyRate is the slowest a POST body may arrive, in bytes per second on average once
	// BodyRateGrace has passed: a body that has delivered n bytes must deliver more within
	// BodyRateGrace + n/MinBodyRate of the start, else 408 and the connection is closed.
	// Default 1024; negative disables the rate bound (BodyTimeout still applies).
	MinBodyRate int64
	// BodyRateGrace is how long a body may take before MinBodyRate applies. Default 5s.
	BodyRateGrace time.Duration

	ReadHeaderTimeout time.Duration // default 10s
	// ReadTimeout bounds reading a whole request on the other routes; POST bodies are bounded
	// by BodyTimeout and MinBodyRate instead. Default 60s.
	ReadTimeout time.Duration
	IdleTimeout time.Duration // default 120s

	// Ready reports whether the event stream can be written (e.g. the NATS connection is up).
	// nil means always ready. POSTs are answered 503 while it fails, before the body is read.
	Ready func() error
	// Format reads the records (nil: canonical JSON, the format of this endpoint).
	Format ingest.Format
	// OnListen, if set, is called by Run with the bound address before serving.
	OnListen func(addr string)

	Logger     *slog.Logger
	Registerer prometheus.Registerer // may be nil
}

var tokenName = regexp.MustCompile(`^[A-Za-z0-9_-]{1,64}$`)

func (c Config) withDefaults() Config {
	// A field not above zero takes its default.
	c.MaxBody = cmp.Or(max(c.MaxBody, 0), DefaultMaxBody)
	c.MaxRecords = cmp.Or(max(c.MaxRecords, 0), DefaultMaxRecords)
	c.MaxRecord = cmp.Or(max(c.MaxRecord, 0), DefaultMaxRecord)
	c.Batch = cmp.Or(max(c.Batch, 0), DefaultBatch)
	c.MaxInFlight = cmp.Or(max(c.MaxInFlight, 0), DefaultMaxInFlight)
	c.MaxErrors = cmp.Or(max(c.MaxErrors, 0), DefaultMaxErrors)
	c.SubmitTimeout = cmp.Or(max(c.SubmitTimeout, 0), DefaultSubmitTimeout)
	c.RetryAfter = cmp.Or(max(c.RetryAfter, 0), DefaultRetryAfter)
	c.BodyTimeout = cmp.Or(max(c.BodyTimeout, 0), DefaultBodyTimeout)
	c.MinBodyRate = cmp.Or(c.MinBodyRate, DefaultMinBodyRate)
	c.BodyRateGrace = cmp.Or(max(c.BodyRateGrace, 0), DefaultBodyRateGrace)
	c.ReadHeaderTimeout = cmp.Or(max(c.ReadHeaderTimeout, 0), 10*time.Second)
	c.ReadTimeout = cmp.Or(max(c.ReadTimeout, 0), 60*time.Second)
	c.IdleTimeout = cmp.Or(max(c.IdleTimeout, 0), 120*time.Second)
	c.Logger = cmp.Or(c.Logger, slog.Default())
	return c
}

// validate checks the tokens. Messages name the token by its name or position, never by its
// secret.
func (c Config) validate() error {
	if len(c.Tokens) == 0 && !c.Insecure {
		return errors.New("http ingest: no tokens configured (configure tokens, or explicitly allow unauthenticated requests)")
	}
	names := map[string]bool{}
	secrets := map[[32]byte]string{}
	for i, t := range c.Tokens {
		if !tokenName.MatchString(t.Name) {
			return fmt.Errorf("http ingest: token %d: name %q must be 1-64 of A-Z a-z 0-9 _ -", i+1, t.Name)
		}
		if names[t.Name] {
			return fmt.Errorf("http ingest: token %q: name used twice", t.Name)
		}
		names[t.Name] = true
		if len(t.Secret) < MinTokenLen {
			return fmt.Errorf("http ingest: token %q: secret shorter than %d bytes", t.Name, MinTokenLen)
		}
		if strings.TrimSpace(t.Secret) != t.Secret || strings.ContainsAny(t.Secret, " \t\r\n") {
			return fmt.Errorf("http ingest: token %q: secret contains whitespace", t.Name)
		}
		h := sha256.Sum256([]byte(t.Secret))
		if other, dup := secrets[h]; dup {
			return fmt.Errorf("http ingest: tokens %q and %q have the same secret", other, t.Name)
		}
		secrets[h] = t.Name
	}
	return nil
}

// ParseTokens reads a token file: one "name secret" pair per line, separated by spaces or a
// tab; blank lines and lines starting with # are ignored. Errors name the line, not the secret.
// The tokens are checked when the Server is built.
func ParseTokens(r io.Reader) ([]Token, error) {
	var out []Token
	sc := bufio.NewScanner(r)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		f := strings.Fields(line)
		if len(f) != 2 {
			return nil, fmt.Errorf("token file line %d: want \"name secret\", got %d fields", n, len(f))
		}
		out = append(out, Token{Name: f[0], Secret: f[1]})
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("token file: %w", err)
	}
	return out, nil
}
