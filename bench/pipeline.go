package bench

import (
	"context"
	"fmt"
	"io"
	"sync"
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

// timedSource wraps the sources of the pipeline phase: it starts the phase's meter when
// ingest starts (after the pipeline is up: the detector's consumer exists), counts what the
// pipeline's sink accepts, notes when the sources are done, waits until the stages have caught
// up (caughtUp) and then stops the meter.
type timedSource struct {
	inner []ingest.Source
	js    jetstream.JetStream // the bench's, for caughtUp
	prog  *progress
	stop  context.CancelFunc // stops the pipeline once measured

	mu      sync.Mutex
	total   ingest.Result
	done    bool // the stages caught up
	start   time.Time
	ingest  time.Time // when the sources were done
	figures figures   // the meter's, once the stages caught up
}

// Run implements ingest.Source: the inner sources, one after the other.
func (s *timedSource) Run(ctx context.Context, sink ingest.Sink) error {
	m, start := startMeter(), time.Now()
	counted := countingSink{sink: sink, s: s}
	for _, src := range s.inner {
		if err := src.Run(ctx, counted); err != nil {
			return err
		}
	}
	ingested := time.Now()
	s.prog.wait("pipeline: catching up", detectorLag(ctx, s.js))
	if err := caughtUp(ctx, s.js); err != nil {
		return err
	}
	fig := m.stop()
	s.mu.Lock()
	s.done, s.start, s.ingest, s.figures = true, start, ingested, fig
	s.mu.Unlock()
	s.stop()
	return nil
}

// result is what the sources submitted, how long ingest took and what the meter measured
// until the stages caught up; done is false when they did not get that far.
func (s *timedSource) result() (total ingest.Result, ingest time.Duration, fig figures, done bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.total, s.ingest.Sub(s.start), s.figures, s.done
}

// countingSink adds up the results of the batches it passes on.
type countingSink struct {
	sink ingest.Sink
	s    *timedSource
}

func (c countingSink) Submit(ctx context.Context, b ingest.Batch) (ingest.Result, error) {
	r, err := c.sink.Submit(ctx, b)
	c.s.mu.Lock()
	c.s.total.Add(r)
	n := c.s.total.Accepted + c.s.total.Rejected + c.s.total.Skipped
	c.s.mu.Unlock()
	c.s.prog.set(int64(n))
	return r, err
}

// runPipeline runs the pipeline phase on p: the workload file through every stage but the
// API; nc and js are the bench's connection.
func runPipeline(ctx context.Context, p *deploy.Process, cfg Config, wl Workload, nc *nats.Conn, js jetstream.JetStream, prog *progress) (*PipelineResult, error) {
	srcs, err := deploy.OpenSources(deploy.SourceConfig{Files: []string{wl.Path}}, p.NC, cfg.Logger, p.Registry)
	if err != nil {
		return nil, err
	}
	defer srcs.Close()
	w, err := watch(nc)
	if err != nil {
		return nil, err
	}
	defer w.stop()
	prog.begin("pipeline", int64(wl.Events))
	rctx, stop := context.WithCancel(ctx)
	defer stop()
	ts := &timedSource{inner: srcs.Sources, js: js, prog: prog, stop: stop}
	if err := deploy.RunPipeline(rctx, p.Infra, pipelineConfig(cfg, p, ts)); err != nil {
		return nil, fmt.Errorf("pipeline phase: %w", err)
	}
	total, ingested, fig, done := ts.result()
	if !done {
		return nil, fmt.Errorf("pipeline phase: stopped before the pipeline caught up: %w", context.Cause(ctx))
	}
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

// detectorLag returns what the detector has yet to process (pending), for progress.
func detectorLag(ctx context.Context, js jetstream.JetStream) func() (uint64, error) {
	return func() (uint64, error) { return pending(ctx, js, bus.StreamEvents, detect.DurableName(0, 1)) }
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
// incidents announced to a console), with src as its only source. A phase stops it (cancels
// its context) once the stages have caught up (caughtUp); unlike --exit-when-done it does not
// first run the incident watcher's pass over the new incidents (evidence collection): that
// would time the bench, not the pipeline.
func pipelineConfig(cfg Config, p *deploy.Process, src ingest.Source) deploy.PipelineConfig {
	return deploy.PipelineConfig{Rules: cfg.Rules, Console: io.Discard, Logger: cfg.Logger,
		Registerer: p.Registry, Sources: []ingest.Source{src}}
}
