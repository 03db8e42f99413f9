package bench

import (
	"context"
	"fmt"
	"io"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"breachd/bus"
	"breachd/deploy"
	"breachd/detect"
	"breachd/ingest"
	"breachd/notify"
)

// PipelineResult is the pipeline phase: the workload file through the whole pipeline as
// `breachd run --exit-when-done FILE` runs it, from the first record handed to ingest until
// the detector, the notifier and the console's announcer have caught up.
type PipelineResult struct {
	Events            int     `json:"events"`            // accepted by ingest and published on EVENTS
	DeadLettered      int     `json:"dead_lettered"`     // records ingest refused (0 for the simulated workload)
	Duplicates        int     `json:"duplicates"`        // events JetStream already held (0: ids are fresh)
	IngestSeconds     float64 `json:"ingest_seconds"`    // until ingest had every record's PubAck
	Seconds           float64 `json:"seconds"`           // until every stage had caught up
	EventsPerSecond   float64 `json:"events_per_second"` // Events / Seconds
	RatioToRaw        float64 `json:"ratio_to_raw"`      // EventsPerSecond / raw's; 0 without the raw phase
	CPUMicrosPerEvent float64 `json:"cpu_us_per_event"`  // process CPU (user + system) / Events
	CPUUserSeconds    float64 `json:"cpu_user_seconds"`
	CPUSystemSeconds  float64 `json:"cpu_system_seconds"`
	PeakRSSBytes      int64   `json:"peak_rss_bytes"` // VmHWM over the phase
	PeakRSSScope      string  `json:"peak_rss_scope"` // "phase", or "process" where the peak could not be reset
	// Alerts and Incidents count the distinct alerts published and incidents opened during the
	// phase: a faster pipeline that detects less shows here.
	Alerts    int `json:"alerts"`
	Incidents int `json:"incidents"`
}

// stages is the one source of the pipeline the pipeline and latency phases run on, one after
// the other (deploy.RunPipeline calls Run once its stages are up: the detector's consumer
// exists). Running both on one pipeline keeps its start-up out of both: the directory rebuilt
// from history and the detector's warm-up replay of the stream (seconds after the pipeline
// phase's events) would otherwise delay the latency phase's first events. Run stops the
// pipeline (stop) when the phases are done.
type stages struct {
	p    *deploy.Process
	cfg  Config
	wl   Workload // the pipeline phase's
	feed func() (*feed, error)
	nc   *nats.Conn          // the bench's
	js   jetstream.JetStream // the bench's
	prog *progress
	stop context.CancelFunc

	pipeline *PipelineResult // set by Run
	latency  *LatencyResult  // set by Run
}

// Run implements ingest.Source.
func (s *stages) Run(ctx context.Context, sink ingest.Sink) (err error) {
	if err := detectorFetching(ctx, s.js, s.prog); err != nil {
		return err
	}
	if s.cfg.runs(PhasePipeline) {
		if s.pipeline, err = s.pipelinePhase(ctx, sink); err != nil {
			return fmt.Errorf("pipeline phase: %w", err)
		}
	}
	if s.cfg.runs(PhaseLatency) {
		f, err := s.feed()
		if err != nil {
			return err
		}
		if s.latency, err = s.latencyPhase(ctx, sink, f); err != nil {
			return fmt.Errorf("latency phase: %w", err)
		}
	}
	s.stop()
	return nil
}

// pipelinePhase hands the workload file to sink as `breachd run FILE` reads it and measures
// from the first record until the stages have caught up.
func (s *stages) pipelinePhase(ctx context.Context, sink ingest.Sink) (*PipelineResult, error) {
	srcs, err := deploy.OpenSources(deploy.SourceConfig{Files: []string{s.wl.Path}}, s.p.NC, s.cfg.Logger, s.p.Registry)
	if err != nil {
		return nil, err
	}
	defer srcs.Close()
	w, err := watch(s.nc)
	if err != nil {
		return nil, err
	}
	defer w.stop()
	s.prog.begin("pipeline", int64(s.wl.Events))
	counted := &countingSink{sink: sink, prog: s.prog}
	m, start := startMeter(), time.Now()
	for _, src := range srcs.Sources {
		if err := src.Run(ctx, counted); err != nil {
			return nil, err
		}
	}
	ingested := time.Since(start)
	s.prog.wait("pipeline: catching up", detectorLag(ctx, s.js))
	if err := caughtUp(ctx, s.js); err != nil {
		return nil, err
	}
	fig := m.stop()
	total := counted.total
	res := &PipelineResult{Events: total.Accepted - total.Duplicates, DeadLettered: total.Rejected, Duplicates: total.Duplicates,
		IngestSeconds: ingested.Seconds(), Seconds: fig.Seconds, CPUUserSeconds: fig.UserCPU, CPUSystemSeconds: fig.SysCPU,
		PeakRSSBytes: fig.PeakRSS, PeakRSSScope: fig.PeakScope}
	res.EventsPerSecond = rate(res.Events, res.Seconds)
	res.CPUMicrosPerEvent = fig.CPUMicrosPer(int64(res.Events))
	if res.Alerts, res.Incidents, err = w.distinct(); err != nil {
		return nil, err
	}
	return res, nil
}

// countingSink adds up the results of the batches it passes on (one source at a time).
type countingSink struct {
	sink  ingest.Sink
	prog  *progress
	total ingest.Result
}

func (c *countingSink) Submit(ctx context.Context, b ingest.Batch) (ingest.Result, error) {
	r, err := c.sink.Submit(ctx, b)
	c.total.Add(r)
	c.prog.set(int64(c.total.Accepted + c.total.Rejected + c.total.Skipped))
	return r, err
}

// runStages runs the pipeline and latency phases of cfg on one pipeline on p; nc and js are
// the bench's connection, feed builds the latency phase's input.
func runStages(ctx context.Context, p *deploy.Process, cfg Config, wl Workload, feed func() (*feed, error), nc *nats.Conn, js jetstream.JetStream, prog *progress) (*PipelineResult, *LatencyResult, error) {
	rctx, stop := context.WithCancel(ctx)
	defer stop()
	s := &stages{p: p, cfg: cfg, wl: wl, feed: feed, nc: nc, js: js, prog: prog, stop: stop}
	if err := deploy.RunPipeline(rctx, p.Infra, pipelineConfig(cfg, p, s)); err != nil {
		return nil, nil, err
	}
	if (cfg.runs(PhasePipeline) && s.pipeline == nil) || (cfg.runs(PhaseLatency) && s.latency == nil) {
		return nil, nil, fmt.Errorf("stopped before the pipeline caught up: %w", context.Cause(ctx))
	}
	return s.pipeline, s.latency, nil
}

// detectorLag returns what the detector has yet to process (pending), for progress.
func detectorLag(ctx context.Context, js jetstream.JetStream) func() (uint64, error) {
	return func() (uint64, error) { return pending(ctx, js, bus.StreamEvents, detect.DurableName(0, 1)) }
}

// detectorFetching waits until the detector asks its consumer for events: a pull request
// waiting on the consumer (NumWaiting). The detector fetches only after its warm-up replay
// (detect.Detector.Run), which RunPipeline does not wait for: on a reused data directory or
// external servers the replay would otherwise run inside the timed phases.
func detectorFetching(ctx context.Context, js jetstream.JetStream, prog *progress) error {
	durable := detect.DurableName(0, 1)
	c, err := js.Consumer(ctx, bus.StreamEvents, durable)
	if err != nil {
		return fmt.Errorf("consumer %s on %s: %w", durable, bus.StreamEvents, err)
	}
	prog.begin("waiting for the detector's warm-up", 0)
	t := time.NewTicker(catchUpPoll)
	defer t.Stop()
	for {
		info, err := c.Info(ctx)
		if err != nil {
			return fmt.Errorf("consumer %s on %s: %w", durable, bus.StreamEvents, err)
		}
		if info.NumWaiting > 0 {
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-t.C:
		}
	}
}

// catchUpPoll is how often caughtUp polls the consumers: the phases' end is noticed within it.
const catchUpPoll = 50 * time.Millisecond

// caughtUp waits until the detector, the notifier and the console's announcer have processed
// everything in their streams: two rounds of deploy.WaitIdle, as the pipeline's own
// --exit-when-done check does (the consumers are polled one after the other, so a detector
// batch finishing between two polls can leave fresh alerts behind an idle-looking notifier).
func caughtUp(ctx context.Context, js jetstream.JetStream) error {
	consumers := map[string]string{
		detect.DurableName(0, 1):                                bus.StreamEvents,
		notify.DefaultDurable:                                   bus.StreamAlerts,
		notify.AnnouncerName(notify.NewConsoleSink(nil).Name()): bus.StreamIncidents,
	}
	for range 2 {
		if err := deploy.WaitIdle(ctx, js, catchUpPoll, consumers); err != nil {
			return fmt.Errorf("wait for the pipeline to catch up: %w", err)
		}
	}
	return nil
}

// pipelineConfig is how `breachd run` configures the pipeline (every stage but the API,
// incidents announced to a console), with src as its only source. The bench stops it (cancels
// its context) once the stages have caught up (caughtUp); unlike --exit-when-done it does not
// first run the incident watcher's pass over the new incidents (evidence collection): that
// would time the bench, not the pipeline.
func pipelineConfig(cfg Config, p *deploy.Process, src ingest.Source) deploy.PipelineConfig {
	return deploy.PipelineConfig{Rules: cfg.Rules, Console: io.Discard, Logger: cfg.Logger,
		Registerer: p.Registry, Sources: []ingest.Source{src}}
}
