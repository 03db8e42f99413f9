package bench

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"slices"
	"strings"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"breachd/bus"
	"breachd/deploy"
	"breachd/output"
	"breachd/simulate"
)

// The phases, in the order they run.
const (
	PhaseRaw      = "raw"
	PhasePipeline = "pipeline"
	PhaseLatency  = "latency"
)

// Phases are every phase, in the order they run.
var Phases = []string{PhaseRaw, PhasePipeline, PhaseLatency}

// Config is one bench run.
type Config struct {
	// Infra says where NATS and ClickHouse are: the embedded engines on Infra.DataDir, or the
	// servers it names (then the bench writes events, alerts and incidents there).
	Infra deploy.InfraConfig
	// Rules are rule files or directories; empty: the shipped pack.
	Rules []string
	// Phases to run (Phases' names); empty: all.
	Phases []string
	// Sim sizes and seeds the workload of the raw and pipeline phases; the latency phase's is
	// the same size of world with seed Sim.Seed+1. Run dates both (Start is ignored): the
	// latency workload ends on the last weekday before today, the other whole weeks earlier,
	// before the latency workload begins, so that events move forward in time.
	Sim simulate.Config
	// MaxEvents caps the workload of the raw and pipeline phases (0: all Sim gives).
	MaxEvents int
	// Rate is the latency phase's offered events per second, for Duration; Probes the probe
	// breaches per second among them.
	Rate     int
	Duration time.Duration
	Probes   float64
	// WorkDir receives the workload file; empty: a temporary directory, removed afterwards.
	WorkDir string
	// PprofAddr serves Go's runtime profiles while the bench runs (deploy.ServePprof); empty:
	// none.
	PprofAddr string
	// Progress receives progress lines (stderr); nil: none.
	Progress io.Writer
	Logger   *slog.Logger
	// Version is the breachd version, for the report.
	Version string
}

// Validate reports what is wrong in c, naming the flag of `breachd bench`.
func (c Config) Validate() error {
	var errs []error
	for _, p := range c.Phases {
		if !slices.Contains(Phases, p) {
			errs = append(errs, fmt.Errorf("--phases: unknown phase %q (want %s)", p, output.OrList(Phases)))
		}
	}
	if err := c.Sim.Validate(); err != nil {
		errs = append(errs, fmt.Errorf("workload (--orgs, --days): %w", err))
	}
	if c.MaxEvents < 0 {
		errs = append(errs, fmt.Errorf("--events: %d is negative (0: no cap)", c.MaxEvents))
	}
	if c.Rate <= 0 {
		errs = append(errs, fmt.Errorf("--rate: %d events/s, want a positive rate", c.Rate))
	}
	if c.Duration < time.Second {
		errs = append(errs, fmt.Errorf("--duration: %s, want at least 1s", c.Duration))
	}
	if c.Probes < 0 || c.Rate > 0 && c.Probes*21 > float64(c.Rate) {
		errs = append(errs, fmt.Errorf("--probes: %g/s, want 0 to %g/s (a probe is up to 21 events of the --rate)", c.Probes, float64(c.Rate)/21))
	}
	return errors.Join(errs...)
}

func (c Config) runs(phase string) bool {
	return len(c.Phases) == 0 || slices.Contains(c.Phases, phase)
}

// Report is the result of a run; its JSON field names are stable (see doc.go).
type Report struct {
	Version    string          `json:"version"`
	Started    time.Time       `json:"started"`
	CPUs       int             `json:"cpus"`
	GOMAXPROCS int             `json:"gomaxprocs"`
	NATS       string          `json:"nats"`       // "embedded" or "external"
	ClickHouse string          `json:"clickhouse"` // "embedded" or "external"
	Workload   WorkloadInfo    `json:"workload"`
	Raw        *RawResult      `json:"raw,omitempty"`
	Pipeline   *PipelineResult `json:"pipeline,omitempty"`
	Latency    *LatencyResult  `json:"latency,omitempty"`
}

// WorkloadInfo is the workload of the raw and pipeline phases.
type WorkloadInfo struct {
	Orgs   int   `json:"orgs"`
	Days   int   `json:"days"`
	Seed   int64 `json:"seed"`
	Events int   `json:"events"`
	Bytes  int64 `json:"bytes"`
}

// Run runs the phases of cfg in one process: the infrastructure is started once
// (deploy.StartProcess), the raw phase measures JetStream alone on it, then the pipeline and
// latency phases run one after the other on one pipeline (deploy.RunPipeline) on it.
func Run(ctx context.Context, cfg Config) (*Report, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	tag, err := runTag()
	if err != nil {
		return nil, err
	}
	if cfg.WorkDir == "" {
		if cfg.WorkDir, err = os.MkdirTemp("", "breachd-bench-"); err != nil {
			return nil, err
		}
		defer os.RemoveAll(cfg.WorkDir)
	}
	prog := newProgress(cfg.Progress)
	pctx, stopProgress := context.WithCancel(ctx)
	progressDone := make(chan struct{})
	go func() { defer close(progressDone); prog.run(pctx) }()
	defer func() { stopProgress(); <-progressDone }()

	rep := &Report{Version: cfg.Version, Started: time.Now().UTC(), CPUs: runtime.NumCPU(), GOMAXPROCS: runtime.GOMAXPROCS(0),
		NATS: engine(cfg.Infra.NATSURL), ClickHouse: engine(cfg.Infra.ClickHouseDSN)}
	sim, latSim := timeline(cfg.Sim, cfg.Rate, cfg.Duration, time.Now())
	rep.Workload = WorkloadInfo{Orgs: sim.Orgs, Days: sim.Days, Seed: sim.Seed}
	var wl Workload
	if cfg.runs(PhaseRaw) || cfg.runs(PhasePipeline) {
		prog.note("generating the workload (%d orgs, %d days)", sim.Orgs, sim.Days)
		if wl, err = writeWorkload(ctx, sim, tag+"-p-", cfg.MaxEvents, filepath.Join(cfg.WorkDir, "workload.jsonl")); err != nil {
			return nil, err
		}
		if wl.Events == 0 {
			return nil, errors.New("the workload is empty: give more --orgs or --days, or --events 0 (no cap)")
		}
		rep.Workload.Events, rep.Workload.Bytes = wl.Events, wl.Bytes
	}

	prog.note("starting NATS and ClickHouse")
	p, err := deploy.StartProcess(ctx, cfg.Infra, "", cfg.PprofAddr)
	if err != nil {
		return nil, err
	}
	defer p.Close()
	nc, js, err := connect(p, cfg)
	if err != nil {
		return nil, err
	}
	defer nc.Close()

	if cfg.runs(PhaseRaw) {
		payloads, err := readPayloads(wl)
		if err != nil {
			return nil, err
		}
		rep.Raw, err = runRaw(ctx, js, nc, ScratchPrefix+strings.ToUpper(tag), cfg.Infra.Bus.Replicas, payloads, prog)
		if err != nil {
			return nil, err
		}
	}
	if cfg.runs(PhasePipeline) || cfg.runs(PhaseLatency) {
		feed := func() (*feed, error) {
			prog.note("generating the latency workload (%d events at %d/s, %g probes/s)", int(float64(cfg.Rate)*cfg.Duration.Seconds()), cfg.Rate, cfg.Probes)
			f, err := buildFeed(ctx, latSim, tag, cfg.Rate, cfg.Duration, cfg.Probes, time.Now())
			debug.FreeOSMemory() // what building the feed left behind
			return f, err
		}
		if rep.Pipeline, rep.Latency, err = runStages(ctx, p, cfg, wl, feed, nc, js, prog); err != nil {
			return nil, err
		}
		if rep.Pipeline != nil && rep.Raw != nil && rep.Raw.EventsPerSecond > 0 {
			rep.Pipeline.RatioToRaw = rep.Pipeline.EventsPerSecond / rep.Raw.EventsPerSecond
		}
	}
	prog.note("done")
	return rep, nil
}

// connect opens the bench's own connection: to the embedded server as its admin (the
// pipeline's user may neither create the scratch stream nor watch the alerts), else to
// Infra.NATSURL with Infra.NATSCreds.
func connect(p *deploy.Process, cfg Config) (*nats.Conn, jetstream.JetStream, error) {
	if cfg.Infra.NATSURL != "" {
		login, err := bus.CredsLogin(cfg.Infra.NATSCreds, cfg.Logger.Warn)
		if err != nil {
			return nil, nil, err
		}
		return bus.Connect(cfg.Infra.NATSURL, "breachd-bench", cfg.Logger, login...)
	}
	users, err := deploy.ReadNATSUsers(cfg.Infra.DataDir)
	if err != nil {
		return nil, nil, err
	}
	return bus.Connect(p.NC.ConnectedUrl(), "breachd-bench", cfg.Logger, users.Admin.Options()...)
}

// runTag is a fresh tag of this run: a prefix of its event ids and the name of its scratch
// stream, so that no two runs share an event id (JetStream would drop the second as a
// duplicate) or a stream.
func runTag() (string, error) {
	b := make([]byte, 4)
	if _, err := rand.Read(b); err != nil {
		return "", fmt.Errorf("no randomness for the run's tag: %w", err)
	}
	return hex.EncodeToString(b), nil
}

func engine(external string) string {
	if external != "" {
		return "external"
	}
	return "embedded"
}
