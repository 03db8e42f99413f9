package deploy

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"

	"github.com/prometheus/client_golang/prometheus"

	"breachd/simulate"
)

// Process is a process running stages (`breachd run`, `breachd detect`): its infrastructure,
// its metrics registry and the endpoint serving it. Close releases all three.
type Process struct {
	*Infra
	Registry   *prometheus.Registry
	MetricsURL string // that of /metrics; empty when none is served
	stop       func()
}

// StartProcess starts the infrastructure of cfg (StartInfra), serves the metrics of a new
// registry (NewRegistry) on metricsAddr (ServeMetrics; empty: none) and the runtime profiles on
// pprofAddr (ServePprof; empty: none).
func StartProcess(ctx context.Context, cfg InfraConfig, metricsAddr, pprofAddr string) (*Process, error) {
	reg, err := NewRegistry()
	if err != nil {
		return nil, err
	}
	cfg.Registerer = reg // the store check's metrics
	in, err := StartInfra(ctx, cfg)
	if err != nil {
		return nil, err
	}
	stop, url, err := ServeMetrics(metricsAddr, reg, in.cfg.Logger)
	if err != nil {
		in.Close()
		return nil, err
	}
	stopPprof, purl, err := ServePprof(pprofAddr, in.cfg.Logger)
	if err != nil {
		stop()
		in.Close()
		return nil, err
	}
	if purl != "" {
		in.cfg.Logger.Info("serving runtime profiles", "url", purl)
	}
	return &Process{Infra: in, Registry: reg, MetricsURL: url, stop: func() { stopPprof(); stop() }}, nil
}

// Close stops the metrics and profile endpoints, then the infrastructure.
func (p *Process) Close() {
	p.stop()
	p.Infra.Close()
}

// WriteSummary tells the person who started `breachd run` that its finite input is processed
// and what the history holds; unless exiting, that it keeps running.
func (in *Infra) WriteSummary(ctx context.Context, w io.Writer, exiting bool) {
	c, err := in.History.Count(ctx)
	if err != nil {
		in.log.Error("summary", "err", err)
		return
	}
	fmt.Fprintf(w, "\nInput processed. History holds %d auth, %d access and %d directory events, %d alerts, %d incidents.\n",
		c.Auth, c.Access, c.Directory, c.Alerts, c.Incidents)
	if !exiting {
		fmt.Fprintln(w, "Still running: query the history from another terminal, stop with Ctrl-C.")
	}
}

// ProcessConfig is a process running stages as a command line asks for it.
type ProcessConfig struct {
	Infra       InfraConfig
	MetricsAddr string        // the metrics endpoint; empty: none
	PprofAddr   string        // the runtime profiles' endpoint (loopback); empty: none
	Inputs      *SourceConfig // the ingest inputs (OpenSources); nil: none
	// Pipeline is what runs; RunProcess sets its Sources, Enrich and Registerer, and for the
	// API stage creates the first admin (EnsureAdmin) and opens API.Listener.
	Pipeline PipelineConfig
	// Banner, if set, gets the banner (WriteBanner) and, once finite inputs are processed, the
	// summary (WriteSummary).
	Banner io.Writer
}

// RunProcess starts the process (StartProcess), opens its inputs and runs the pipeline until
// ctx ends or, with ExitWhenDone, the work is done; then it releases everything.
func RunProcess(ctx context.Context, cfg ProcessConfig) error {
	pc := cfg.Pipeline
	if err := pc.checkStages(); err != nil {
		return err
	}
	p, err := StartProcess(ctx, cfg.Infra, cfg.MetricsAddr, cfg.PprofAddr)
	if err != nil {
		return err
	}
	defer p.Close()
	pc.Registerer = p.Registry
	if pc.runs(StageAPI) {
		if err := listenAPI(&pc.API); err != nil {
			return err
		}
		defer pc.API.Listener.Close() // when the pipeline fails before the API stage serves (and closes) it
	}
	if cfg.Inputs != nil {
		srcs, err := OpenSources(*cfg.Inputs, p.NC, cfg.Infra.Logger, p.Registry)
		if err != nil {
			return err
		}
		defer srcs.Close()
		pc.Sources, pc.Enrich = srcs.Sources, srcs.Enrich
		if cfg.Banner != nil && cfg.Inputs.Finite() {
			pc.OnIdle = func(ctx context.Context) { p.WriteSummary(ctx, cfg.Banner, pc.ExitWhenDone) }
		}
	}
	var api *APIBanner // the first admin is created last, so its generated password is shown
	if pc.runs(StageAPI) {
		if api, err = ensureAdmin(&pc.API, p.cfg.DataDir, demoOf(cfg.Inputs)); err != nil {
			return err
		}
		if cfg.Banner == nil && api.Password != "" {
			fmt.Fprintf(os.Stderr, "breachd: first start: user admin, one-time password %s (shown only now)\n", api.Password)
		}
	}
	if cfg.Banner != nil {
		p.WriteBanner(cfg.Banner, p.MetricsURL, len(pc.Sources) > 0, api)
	}
	return RunPipeline(ctx, p.Infra, pc)
}

// NewLogger is the logger of a process running stages, writing to w at level (debug, info,
// warn, error) in format (text or json).
func NewLogger(w io.Writer, level, format string) (*slog.Logger, error) {
	var lv slog.Level
	if err := lv.UnmarshalText([]byte(level)); err != nil {
		return nil, fmt.Errorf("log level: %w", err)
	}
	opts := &slog.HandlerOptions{Level: lv}
	switch format {
	case "text":
		return slog.New(slog.NewTextHandler(w, opts)), nil
	case "json":
		return slog.New(slog.NewJSONHandler(w, opts)), nil
	}
	return nil, fmt.Errorf("log format %q is not text or json", format)
}

// demoOf is the demo's configuration of inputs, or nil when they are not the demo.
func demoOf(in *SourceConfig) *simulate.Config {
	if in == nil {
		return nil
	}
	return in.Demo
}
