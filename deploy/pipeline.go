package deploy

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"net"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"golang.org/x/sync/errgroup"

	"breachd/api"
	"breachd/bus"
	"breachd/detect"
	"breachd/directory"
	"breachd/event"
	"breachd/ingest"
	"breachd/notify"
	"breachd/output"
	"breachd/promreg"
	"breachd/rules"
)

// Stage names, for PipelineConfig.Stages.
const (
	StageIngest = "ingest"
	StageDetect = "detect"
	StageNotify = "notify"
	StageAPI    = "api" // the HTTP API (APIConfig); in the all-in-one mode only when API.Listen is set
)

// PipelineConfig says which stages run in this process and how.
type PipelineConfig struct {
	// Stages to run; empty means all (the all-in-one mode).
	Stages []string
	// Sources feed the ingest stage. When they are exhausted the other stages keep running
	// until ctx ends (or, with ExitWhenDone, until they have caught up).
	Sources []ingest.Source
	// Rules are rule files or directories; empty means the shipped default pack.
	Rules []string
	// RuleSet, when set, is used instead of loading Rules (tests, embedding).
	RuleSet *rules.Set
	// Console receives one line per opened incident, severity rise, deactivation request and
	// deadline warning (nil: none), through its announcer on INCIDENTS ("announce-console").
	Console io.Writer
	// ExitWhenDone stops the pipeline once the sources are exhausted and the detector, the
	// notifier and the console's announcer have caught up with everything in the streams (the
	// channels' announcers are not waited for; what they have left is delivered by the next run).
	ExitWhenDone bool
	// OnIdle, if set, is called once when the sources are exhausted and the detector and the
	// notifier have caught up (before ExitWhenDone stops the pipeline).
	OnIdle     func(ctx context.Context)
	Clock      func() time.Time
	Registerer prometheus.Registerer
	Logger     *slog.Logger

	// Member and Members place the detector stage in a set of Members detectors sharing the
	// events (detect.Options; default 0 of 1, the whole stream).
	Member, Members int

	// FailoverAfter is how long a standby detector or notifier waits for the active one of its
	// durable to renew its pin before taking over (detect.Options.FailoverAfter,
	// notify.Options.FailoverAfter; 0: their default, 5 s).
	FailoverAfter time.Duration

	// DetectBatch and DetectWait are detect.Options.Batch and FetchWait: the most events in a
	// batch the detector evaluates and writes in one history insert (it may take several
	// fetches), and how long it waits for a batch to fill. 0 takes the detector's defaults.
	DetectBatch int
	DetectWait  time.Duration

	// DirectoryHorizon is how far behind the newest directory event the detector's catalogue
	// keeps older versions of the facts that changed (directory.WithHorizon): 0 takes
	// directory.DefaultHorizon, a negative value keeps none.
	DirectoryHorizon time.Duration

	// AfterEventsWritten is detect.Options.AfterEventsWritten: a fault-injection point for
	// crash tests (nil in production).
	AfterEventsWritten func()

	// Enrich, if set, enriches every valid event before it is published (e.g. GeoIP).
	Enrich ingest.Enricher
	// MaxFutureSkew is how far ahead of Clock an event's time may be; later events are
	// dead-lettered (ingest.Pipeline.WithFutureLimit). 0 means event.DefaultMaxFutureSkew
	// (24 h); a negative value turns the check off. Old events are never rejected for age.
	MaxFutureSkew time.Duration
	// Respond configures deactivation; nil is the dry run (decided, capped, audited, nothing
	// changed).
	Respond *RespondConfig
	// Notifications is the path of the notification channels' configuration
	// (notify/channel); empty: no channels beyond Console. Each channel gets its announcer, a
	// durable consumer "announce-<channel>" on INCIDENTS.
	Notifications string
	// Watch configures the incident watcher (deadline marks, interval, evidence look-back);
	// its stores, clock and logger are filled in here.
	Watch notify.WatchOptions
	// API configures the API stage (StageAPI). It reads and changes with people's rights
	// (Infra.PeopleHistory), and deactivates through Respond.
	API APIConfig
}

// allStages are the stages, in the order they are listed (the all-in-one mode runs them all).
var allStages = []string{StageIngest, StageDetect, StageNotify, StageAPI}

// checkStages trims the names in Stages and refuses one that is no stage: a misspelt stage
// must not leave a process running nothing.
func (c *PipelineConfig) checkStages() error {
	c.Stages = slices.Clone(c.Stages) // the caller's slice stays as given
	for i, s := range c.Stages {
		c.Stages[i] = strings.TrimSpace(s)
		if !slices.Contains(allStages, c.Stages[i]) {
			return fmt.Errorf("unknown stage %q (want %s)", s, output.OrList(allStages))
		}
	}
	return nil
}

func (c *PipelineConfig) runs(stage string) bool {
	if len(c.Stages) == 0 {
		return stage != StageAPI || c.API.Listen != "" || c.API.Listener != nil
	}
	for _, s := range c.Stages {
		if s == stage {
			return true
		}
	}
	return false
}

// RunPipeline runs the configured stages on in until ctx ends (then every stage finishes the
// work in hand and RunPipeline returns nil) or a stage fails. The infrastructure (including the
// embedded ClickHouse endpoint) stays up until the caller closes it, after RunPipeline returned.
func RunPipeline(ctx context.Context, in *Infra, cfg PipelineConfig) error {
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.Clock == nil {
		cfg.Clock = time.Now
	}
	log := cfg.Logger.With("component", "deploy")
	if err := cfg.checkStages(); err != nil {
		return err
	}

	stageCtx, stopStages := context.WithCancel(ctx)
	defer stopStages()
	g, gctx := errgroup.WithContext(stageCtx)
	layout, err := bus.ReadLayout(ctx, in.JS)
	if err != nil {
		return err
	}
	var consumers = map[string]string{}
	var detReady <-chan struct{}                                  // nil: no detector here, nothing to wait for
	var ruleFigures func(context.Context) (api.RulesStatus, bool) // nil: no detector here
	if cfg.runs(StageDetect) {
		reloader, err := newRuleReloader(cfg)
		if err != nil {
			return err
		}
		det, eng, err := newDetector(gctx, in, cfg, reloader)
		if err != nil {
			return err
		}
		ruleFigures = rulesStatus(eng, reloader)
		consumers[det.Durable()] = bus.StreamEvents
		detReady = det.Ready()
		g.Go(func() error { return det.Run(gctx) })
		g.Go(func() error { return reloader.Run(gctx) })
	}
	var watcher *notify.Watcher
	if cfg.runs(StageNotify) {
		var started map[string]string
		watcher, started, err = startNotifier(gctx, g, in, cfg)
		if err != nil {
			stopStages() // the detector may already run: stop it and wait, no goroutine left behind
			return startFailed(ctx, g.Wait(), err)
		}
		maps.Copy(consumers, started)
	}
	if cfg.runs(StageAPI) {
		stage, closePeople, err := startAPI(gctx, in, cfg, ruleFigures)
		if err != nil {
			stopStages() // as above: no stage left running
			return startFailed(ctx, g.Wait(), err)
		}
		defer closePeople() // after g.Wait: the API has stopped
		g.Go(func() error { return stage.Run(gctx) })
	}
	sourcesDone := make(chan struct{})
	if cfg.runs(StageIngest) {
		// Each source's batches carry its format (canonical JSON unless it was given another).
		skew := cfg.MaxFutureSkew
		if skew == 0 {
			skew = event.DefaultMaxFutureSkew
		}
		pipe, err := ingest.NewPipeline(bus.NewPublisher(in.JS), layout, cfg.Logger, cfg.Registerer)
		if err != nil {
			return err
		}
		sink := pipe.WithFutureLimit(cfg.Clock, skew)
		if cfg.Enrich != nil {
			sink = sink.WithEnricher(cfg.Enrich)
		}
		// Sources run side by side: a file or the demo ends, an HTTP endpoint, a followed file
		// or a Kafka consumer runs until the pipeline stops. A source that fails stops the
		// others and, through g, the pipeline.
		sg, sctx := errgroup.WithContext(gctx)
		if detReady != nil { // the detector's consumer is in place before the first event
			select {
			case <-detReady:
			case <-gctx.Done():
			}
		}
		for _, src := range cfg.Sources {
			sg.Go(func() error {
				if err := src.Run(sctx, sink); err != nil {
					return fmt.Errorf("ingest: %w", err)
				}
				return nil
			})
		}
		g.Go(func() error {
			defer close(sourcesDone)
			return sg.Wait()
		})
	} else {
		close(sourcesDone)
	}
	if cfg.ExitWhenDone || cfg.OnIdle != nil {
		g.Go(func() error {
			select {
			case <-gctx.Done():
				return nil
			case <-sourcesDone:
			}
			if err := WaitIdle(gctx, in.JS, 200*time.Millisecond, consumers); err != nil && gctx.Err() == nil {
				return err
			}
			// The consumers are polled one after the other, not atomically: a detector batch
			// finishing between two polls can leave fresh alerts behind an idle-looking
			// notifier. A second full round settles it (the detector acks only after its
			// alerts are in the stream).
			if err := WaitIdle(gctx, in.JS, 200*time.Millisecond, consumers); err != nil && gctx.Err() == nil {
				return err
			}
			if watcher != nil {
				// Settle what the watcher does for new incidents (evidence, deactivation)
				// before reporting idle, instead of waiting for its next pass.
				if err := watcher.Pass(gctx); err != nil && gctx.Err() == nil {
					log.Warn("incident watch pass failed", "err", err)
				}
				// ... and announce what it changed.
				if err := WaitIdle(gctx, in.JS, 200*time.Millisecond, consumers); err != nil && gctx.Err() == nil {
					return err
				}
			}
			if cfg.OnIdle != nil {
				cfg.OnIdle(gctx)
			}
			if cfg.ExitWhenDone {
				log.Info("all input processed, stopping")
				stopStages()
			}
			return nil
		})
	}
	return g.Wait()
}

// newDetector loads the rules, rebuilds the directory from history and builds the detector
// and its engine, which it adds to the reloader and to the rule events metric.
func newDetector(ctx context.Context, in *Infra, cfg PipelineConfig, reloader *RuleReloader) (*detect.Detector, *rules.Engine, error) {
	set, err := cfg.RuleSet, error(nil)
	if set == nil {
		set, err = rules.LoadPack(cfg.Rules)
	}
	if err != nil {
		return nil, nil, err
	}
	// The set's lowest ack floor before the rebuild: history holds every directory event up to
	// it (each member stores those of its accounts), and the detector applies the directory
	// events above it from the stream (detect.Options.CatalogueAt).
	catalogueAt, err := detect.CatalogueFloor(ctx, in.JS, max(cfg.Members, 1))
	if err != nil {
		return nil, nil, err
	}
	dir := directory.New(directory.WithHorizon(cmp.Or(cfg.DirectoryHorizon, directory.DefaultHorizon)))
	start := time.Now()
	n, err := dir.Load(func(apply func(*event.Event) error) (int, error) { return in.History.ReplayDirectory(ctx, apply) })
	if err != nil {
		return nil, nil, fmt.Errorf("rebuild directory from history: %w", err)
	}
	st, took := dir.Stats(), time.Since(start)
	cfg.Logger.Info("directory rebuilt from history", "component", "detect", "events", n, "persons", st.Persons, "memberships", st.Memberships,
		"guardianships", st.Guardianships, "versioned", st.Versioned, "seconds", took.Seconds(), "events_per_second", float64(n)/max(took.Seconds(), 1e-9))
	eng, err := rules.NewEngine(set, dir, cfg.Clock, rules.WithLogger(cfg.Logger.With("component", "rules")), rules.WithLookup(in.History, rules.LookupConfig{Registerer: cfg.Registerer}))
	if err != nil {
		return nil, nil, err
	}
	if err := watchRuleEvents(cfg.Registerer, eng); err != nil {
		return nil, nil, fmt.Errorf("detector: metrics: %w", err)
	}
	reloader.Watch(eng)
	reloader.started(set.Len())
	det, err := detect.New(in.JS, eng, dir, in.History, detect.Options{Member: cfg.Member, Members: cfg.Members,
		Batch: cfg.DetectBatch, FetchWait: cfg.DetectWait, FailoverAfter: cfg.FailoverAfter, CatalogueAt: catalogueAt, Clock: cfg.Clock, Logger: cfg.Logger, Registerer: cfg.Registerer, AfterEventsWritten: cfg.AfterEventsWritten})
	return det, eng, err
}

// NewRegistry returns the metrics registry of a process running stages, with the Go runtime's
// and the process's collectors.
func NewRegistry() (*prometheus.Registry, error) {
	reg := prometheus.NewRegistry()
	if _, err := promreg.Register(reg, collectors.NewGoCollector()); err != nil {
		return nil, err
	}
	if _, err := promreg.Register(reg, collectors.NewProcessCollector(collectors.ProcessCollectorOpts{})); err != nil {
		return nil, err
	}
	return reg, nil
}

// ServeMetrics serves GET /metrics (reg) and /healthz on addr until stop; an empty addr serves
// nothing. url is that of /metrics.
func ServeMetrics(addr string, reg *prometheus.Registry, log *slog.Logger) (stop func(), url string, err error) {
	if addr == "" {
		return func() {}, "", nil
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, "", fmt.Errorf("--metrics-addr %s: %w (choose another address, or empty to disable)", addr, err)
	}
	mux := http.NewServeMux()
	mux.Handle("/metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{Registry: reg}))
	mux.HandleFunc("/healthz", func(w http.ResponseWriter, _ *http.Request) { fmt.Fprintln(w, "ok") })
	return serve(ln, mux, "metrics", log), "http://" + ln.Addr().String() + "/metrics", nil
}

// serve serves h on ln until the returned stop, which shuts the server down (waiting up to
// 2 s for requests in flight); what names the endpoint in the log.
func serve(ln net.Listener, h http.Handler, what string, log *slog.Logger) (stop func()) {
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 5 * time.Second}
	go func() { // owned by stop, which shuts it down and waits
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			log.Error(what+" endpoint failed", "err", err)
		}
	}()
	return func() {
		sctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		_ = srv.Shutdown(sctx)
	}
}

// startFailed is what RunPipeline returns when a stage could not start (starting): the error
// of a stage that had already failed (running, its group's), which cancelled the start — the
// cause, not its echo "context canceled"; nil when the process was being stopped (ctx ended)
// while the stage started; else starting.
func startFailed(ctx context.Context, running, starting error) error {
	switch {
	case running != nil && !errors.Is(running, context.Canceled):
		return running
	case ctx.Err() != nil && errors.Is(starting, context.Canceled):
		return nil // stopped while starting, as a stage stopped while running
	}
	return starting
}
