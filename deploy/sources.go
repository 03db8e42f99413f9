package deploy

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"path/filepath"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/prometheus/client_golang/prometheus"

	"breachd/ingest"
	"breachd/ingest/file"
	"breachd/ingest/format"
	"breachd/ingest/geoip"
	"breachd/simulate"
)

// SourceConfig describes the inputs of an ingest process (the input flags of `breachd run`,
// named beside each field). OpenSources builds them; each source reads its records with its own
// format, canonical JSON unless a field below names another.
type SourceConfig struct {
	// Files are JSON Lines files read to their end, in order; "-" is standard input
	// (arguments of `breachd run`).
	Files []string
	// Demo, if set, feeds the simulator of a school day with this configuration (--demo),
	// DemoRate events per second (--demo-rate; 0: as fast as the pipeline takes them).
	Demo     *simulate.Config
	DemoRate int
	// InputFormat is the log format of Files and Follow, a format.Names name (--input-format;
	// empty: canonical).
	InputFormat string
	// Mapping is a YAML mapping of a service's JSON log for Files and Follow, instead of
	// InputFormat (--mapping).
	Mapping string
	// Follow are files followed like tail -F, through rotation (--follow).
	Follow []string
	// StateDir keeps the positions of followed files (--state-dir; default
	// DataDir/ingest-state).
	StateDir string
	DataDir  string
	// HTTP is the HTTP ingest endpoint, POST /v1/events (canonical JSON).
	HTTP HTTPSourceConfig
	// Kafka is a Kafka consumer group.
	Kafka KafkaSourceConfig
	// GeoIP is a MaxMind/DB-IP country database (.mmdb) for Inputs.Enrich (--geoip; empty:
	// none).
	GeoIP string
	// Console receives a line naming the HTTP endpoint once it listens (nil: none).
	Console io.Writer
}

// HTTPSourceConfig configures the HTTP ingest endpoint (package ingest/httpin).
type HTTPSourceConfig struct {
	Listen    string // --http-listen; empty: no HTTP endpoint
	TokenFile string // --http-token-file: "name secret" lines, mode 0600
	Insecure  bool   // --http-insecure: accept requests without a token
	// BodyTimeout (--http-body-timeout) must be positive and MinBodyRate (--http-min-body-rate)
	// non-zero (negative: no rate bound); httpin.DefaultBodyTimeout and
	// httpin.DefaultMinBodyRate are the defaults of the flags.
	BodyTimeout time.Duration
	MinBodyRate int64
}

// KafkaSourceConfig configures the Kafka input (package ingest/kafka). Brokers and Topics are
// comma-separated.
type KafkaSourceConfig struct {
	Brokers, Topics    string // --kafka-brokers (empty: no Kafka input), --kafka-topics
	Group, StartOffset string // --kafka-group, --kafka-start-offset
	Format             string // --kafka-format: a format.Names name; empty: canonical
	Batch              int    // --kafka-batch
	BatchWait          time.Duration
	MaxBytes           int
	// TLS connects with TLS; so do TLSCA, TLSCert, TLSKey and TLSInsecureSkipVerify.
	TLS, TLSInsecureSkipVerify  bool
	TLSCA, TLSCert, TLSKey      string
	SASLMechanism, SASLUsername string
	SASLPasswordFile            string // mode 0600; else env BREACHD_KAFKA_SASL_PASSWORD
}

// Finite reports whether some input ends on its own (files, standard input, the demo).
func (c *SourceConfig) Finite() bool { return len(c.Files) > 0 || c.Demo != nil }

// Endless reports whether some input never ends on its own (it runs until breachd stops).
func (c *SourceConfig) Endless() bool {
	return len(c.Follow) > 0 || c.HTTP.Listen != "" || c.Kafka.Brokers != ""
}

// Validate reports what is wrong in c without opening anything: inputs that exclude each
// other, unknown format names, out-of-range values. OpenSources validates too; a command line
// calls it first, to refuse a mistake before starting anything.
func (c *SourceConfig) Validate() error {
	switch {
	case c.Demo != nil && len(c.Files) > 0:
		return errors.New("--demo and input files exclude each other")
	case c.HTTP.Listen != "" && (c.HTTP.BodyTimeout <= 0 || c.HTTP.MinBodyRate == 0):
		return errors.New("--http-body-timeout must be positive and --http-min-body-rate non-zero (negative disables the rate bound)")
	}
	if c.Demo != nil {
		if err := c.Demo.Validate(); err != nil {
			return fmt.Errorf("simulator: %w", err)
		}
	}
	if _, err := c.filesFormat(true); err != nil {
		return err
	}
	_, err := lookupFormat("--kafka-format", c.Kafka.Format)
	return err
}

// filesFormat is the format of Files and Follow (format.Select); with check set the mapping
// file is not read.
func (c *SourceConfig) filesFormat(check bool) (ingest.Format, error) {
	f, err := format.Select(c.InputFormat, c.Mapping, check)
	switch {
	case errors.Is(err, format.ErrTwoFormats):
		return nil, errors.New("--mapping and --input-format exclude each other")
	case err != nil && c.Mapping == "":
		return nil, fmt.Errorf("--input-format: %w", err)
	}
	return f, err
}

// lookupFormat returns the built-in format called name (empty: canonical) for setting.
func lookupFormat(setting, name string) (ingest.Format, error) {
	f, err := format.Select(name, "", false)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", setting, err)
	}
	return f, nil
}

// Inputs are the open sources of a SourceConfig.
type Inputs struct {
	// Sources are those that end on their own (Files or Demo) first, then the endless ones.
	Sources []ingest.Source
	// Enrich is the GeoIP enricher for PipelineConfig.Enrich (nil without GeoIP).
	Enrich  ingest.Enricher
	closers []func()
}

// Close releases what the sources hold (the GeoIP database), after the pipeline stopped.
func (in *Inputs) Close() {
	for _, c := range in.closers {
		c()
	}
	in.closers = nil
}

// OpenSources builds the sources cfg describes, each with its format; nothing is read before
// a source runs. nc is the NATS connection the pipeline publishes on: the HTTP endpoint is
// ready while it is connected (nil: always). On error, whatever was opened is released.
func OpenSources(cfg SourceConfig, nc *nats.Conn, log *slog.Logger, reg prometheus.Registerer) (_ *Inputs, err error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if log == nil {
		log = slog.Default()
	}
	in := &Inputs{}
	defer func() {
		if err != nil {
			in.Close()
		}
	}()
	if cfg.GeoIP != "" {
		db, err := geoip.Open(cfg.GeoIP)
		if err != nil {
			return nil, err
		}
		in.closers = append(in.closers, func() { _ = db.Close() })
		if err := db.Register(reg); err != nil {
			return nil, err
		}
		in.Enrich = db.Enrich
	}
	files, err := cfg.filesFormat(false)
	if err != nil {
		return nil, err
	}
	switch {
	case cfg.Demo != nil:
		gen, err := simulate.New(*cfg.Demo)
		if err != nil {
			return nil, fmt.Errorf("simulator: %w", err)
		}
		in.Sources = append(in.Sources, NewDemoSource(gen, cfg.DemoRate))
	case len(cfg.Files) > 0:
		in.Sources = append(in.Sources, file.New(cfg.Files, file.Options{Format: files, Logger: log}))
	}
	stateDir := cfg.StateDir
	if stateDir == "" {
		stateDir = filepath.Join(cfg.DataDir, "ingest-state")
	}
	for _, p := range cfg.Follow {
		fl, err := file.NewFollow(p, file.FollowOptions{StateDir: stateDir, Format: files, Logger: log, Registerer: reg})
		if err != nil {
			return nil, err
		}
		in.Sources = append(in.Sources, fl)
	}
	if cfg.HTTP.Listen != "" {
		srv, err := cfg.HTTP.open(nc, cfg.Console, log, reg)
		if err != nil {
			return nil, err
		}
		in.Sources = append(in.Sources, srv)
	}
	if cfg.Kafka.Brokers != "" {
		src, err := cfg.Kafka.open(log, reg)
		if err != nil {
			return nil, err
		}
		in.Sources = append(in.Sources, src)
	}
	return in, nil
}
