package deploy

import (
	"cmp"
	"context"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"maps"
	"os"
	"os/signal"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"breachd/api"
	"breachd/promreg"
	"breachd/rules"
)

// Swapper is what the reloader swaps rule sets into: a rules.Engine. Swap must be atomic and
// must not block for long.
type Swapper interface {
	Swap(set *rules.Set)
}

// RuleReloader reloads the configured rule files into the detector's engines on SIGHUP and
// whenever a rule file changes (polled: modification time and size of every *.yaml/*.yml file
// under the paths, every Interval). A reload compiles the whole set again; only when every
// file compiles is the new set swapped into every watched engine, atomically per engine (see
// rules.Engine.Swap: window and suppression state of rules that persist is kept). A set that
// does not compile is logged at Error, one line per compile error with its file:line:col, and
// the engines keep the set they had. Reloads are counted in breach_rules_reloads_total{result};
// the last one (or the load at start) is in Status and in the gauges
// breach_rules_last_reload_success and breach_rules_last_reload_timestamp_seconds.
//
// With no paths (the shipped default pack, which is compiled into the binary) there is nothing
// to watch or reload; SIGHUP is then logged and ignored.
//
// A file caught half-written by an editor may fail to compile once; the next poll sees it
// finished and reloads. Polls and reloads run on Run's goroutine only (a reload compiles the
// set there, off the detector's path); Watch and Trigger may be called from any goroutine.
type RuleReloader struct {
	paths    []string
	interval time.Duration
	log      *slog.Logger
	reloads  *prometheus.CounterVec
	success  prometheus.Gauge
	stamp    prometheus.Gauge
	trigger  chan struct{}

	mu      sync.Mutex
	engines []Swapper
	last    api.RulesReload

	// The files as of the last reload (or start), and the error stamping them; only Run's
	// goroutine touches them after New.
	seen    map[string]fileStamp
	seenErr string
}

// fileStamp is what the poller compares.
type fileStamp struct {
	size    int64
	modTime time.Time
}

// ReloaderOptions configures a RuleReloader.
type ReloaderOptions struct {
	Interval   time.Duration // between polls of the files (default 2 s)
	Logger     *slog.Logger
	Registerer prometheus.Registerer
}

// NewRuleReloader returns a reloader for paths, the rule files or directories the detector
// loaded (empty: the default pack). It takes the files' stamps now, so call it before loading
// the set the engines start with: a change in between is then seen and reloaded. It fails only
// when its counter cannot be registered.
func NewRuleReloader(paths []string, opts ReloaderOptions) (*RuleReloader, error) {
	if opts.Interval <= 0 {
		opts.Interval = 2 * time.Second
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	r := &RuleReloader{paths: paths, interval: opts.Interval, log: opts.Logger.With("component", "rules"),
		trigger: make(chan struct{}, 1)}
	if err := r.metrics(opts.Registerer); err != nil {
		return nil, err
	}
	r.seen, r.seenErr = stampFiles(paths)
	return r, nil
}

// newRuleReloader is the reloader of a pipeline's detect stage. A set given in code
// (PipelineConfig.RuleSet) has no files to reload.
func newRuleReloader(cfg PipelineConfig) (*RuleReloader, error) {
	paths := cfg.Rules
	if cfg.RuleSet != nil {
		paths = nil
	}
	return NewRuleReloader(paths, ReloaderOptions{Logger: cfg.Logger, Registerer: cfg.Registerer})
}

// metrics registers the reloader's counter and gauges; several detectors in one process share
// them.
func (r *RuleReloader) metrics(reg prometheus.Registerer) error {
	r.reloads = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "breach_rules_reloads_total",
		Help: "Rule reloads (SIGHUP or a changed rule file), by result: ok (swapped in) or error (old set kept)."}, []string{"result"})
	r.reloads.WithLabelValues("ok")
	r.reloads.WithLabelValues("error")
	r.success = prometheus.NewGauge(prometheus.GaugeOpts{Name: "breach_rules_last_reload_success",
		Help: "1 when the last load of the rule files (at start or a reload) compiled and was swapped in, 0 when it failed and the previous set was kept."})
	r.stamp = prometheus.NewGauge(prometheus.GaugeOpts{Name: "breach_rules_last_reload_timestamp_seconds",
		Help: "Unix time of the last load of the rule files (at start or a reload), whatever its result."})
	if err := promreg.All(reg, promreg.Of(&r.reloads), promreg.Of(&r.success), promreg.Of(&r.stamp)); err != nil {
		return fmt.Errorf("rule reloader: metrics: %w", err)
	}
	return nil
}

// Status is the last load of the rule files: the one at start (Cause "start"), then each
// reload's. Before the detector has loaded its set it is the zero value.
func (r *RuleReloader) Status() api.RulesReload {
	r.mu.Lock()
	defer r.mu.Unlock()
	st := r.last
	st.Errors = slices.Clone(st.Errors)
	return st
}

// record makes st the last load (Status and the gauges).
func (r *RuleReloader) record(st api.RulesReload) {
	r.mu.Lock()
	if !st.OK { // the engines keep the set they had
		st.Rules = r.last.Rules
	}
	r.last = st
	r.mu.Unlock()
	r.stamp.Set(float64(st.At.UnixMilli()) / 1000)
	if st.OK {
		r.success.Set(1)
	} else {
		r.success.Set(0)
	}
}

// started records the set the detector started with (rules of them).
func (r *RuleReloader) started(rules int) {
	r.record(api.RulesReload{At: time.Now(), Cause: "start", OK: true, Rules: rules})
}

// Watch adds an engine to swap reloaded sets into.
func (r *RuleReloader) Watch(s Swapper) {
	r.mu.Lock()
	r.engines = append(r.engines, s)
	r.mu.Unlock()
}

// Trigger asks Run for a reload, as SIGHUP does. It does not block; triggers that arrive while
// one is pending are merged.
func (r *RuleReloader) Trigger() {
	select {
	case r.trigger <- struct{}{}:
	default:
	}
}

// Run polls and listens for SIGHUP until ctx ends, then returns nil.
func (r *RuleReloader) Run(ctx context.Context) error {
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
	var tick <-chan time.Time
	if len(r.paths) > 0 {
		t := time.NewTicker(r.interval)
		defer t.Stop()
		tick = t.C
		r.log.Info("watching rule files for changes", "paths", strings.Join(r.paths, ","), "interval", r.interval)
	}
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-hup:
			r.Trigger()
		case <-r.trigger:
			if len(r.paths) == 0 {
				r.log.Info("reload requested, but the rules were not loaded from files (the built-in default pack): nothing to reload")
				continue
			}
			r.reload("signal")
		case <-tick:
			if stamps, errStr := stampFiles(r.paths); errStr != r.seenErr || !maps.Equal(stamps, r.seen) {
				r.reload("file change")
			}
		}
	}
}

// reload compiles the rule files and swaps the set into every engine when it compiles.
func (r *RuleReloader) reload(cause string) {
	stamps, errStr := stampFiles(r.paths)
	set, err := rules.LoadPack(r.paths)
	r.seen, r.seenErr = stamps, errStr // a bad set is not retried until the files change again
	r.mu.Lock()
	engines := append([]Swapper(nil), r.engines...)
	r.mu.Unlock()
	if err != nil {
		r.reloads.WithLabelValues("error").Inc()
		ces := rules.CompileErrors(err)
		st := api.RulesReload{At: time.Now(), Cause: cause, Errors: sortedErrors(ces)}
		if len(ces) == 0 {
			st.Message = err.Error()
		}
		r.record(st)
		for _, ce := range ces {
			r.log.Error("rule file does not compile", "pos", ce.File+":"+strconv.Itoa(ce.Line)+":"+strconv.Itoa(ce.Column), "rule", ce.Rule, "err", ce.Msg)
		}
		if len(ces) == 0 { // not a compile error: a file or directory could not be read
			r.log.Error("rules not reloaded, keeping the previous set", "cause", cause, "err", err)
		} else {
			r.log.Error("rules not reloaded, keeping the previous set", "cause", cause, "errors", len(ces))
		}
		return
	}
	for _, e := range engines {
		e.Swap(set)
	}
	r.reloads.WithLabelValues("ok").Inc()
	r.record(api.RulesReload{At: time.Now(), Cause: cause, OK: true, Rules: set.Len()})
	r.log.Info("rules reloaded", "cause", cause, "rules", set.Len(), "files", len(stamps), "engines", len(engines))
}

// stampFiles stamps every rule file under paths (files given by name, whatever their
// extension; *.yaml and *.yml in directories, as rules.Load reads them). The error, as text, is
// "" when every path could be read.
func stampFiles(paths []string) (map[string]fileStamp, string) {
	out := map[string]fileStamp{}
	for _, p := range paths {
		err := filepath.WalkDir(p, func(path string, d fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			ext := strings.ToLower(filepath.Ext(path))
			if d.IsDir() || (path != p && ext != ".yaml" && ext != ".yml") {
				return nil
			}
			fi, err := d.Info()
			if err != nil {
				return err
			}
			out[path] = fileStamp{size: fi.Size(), modTime: fi.ModTime()}
			return nil
		})
		if err != nil {
			return out, err.Error()
		}
	}
	return out, ""
}

// LoadRules is rules.LoadPack merged with the default pack when withDefault; files counts the rule
// files read (those stampFiles finds, and the pack's).
func LoadRules(paths []string, withDefault bool) (set *rules.Set, files int, err error) {
	packFiles, err := fs.Glob(rules.DefaultFS(), "*.y*ml")
	if err != nil {
		return nil, 0, err
	}
	if set, err = rules.LoadPack(paths); err != nil {
		return nil, 0, err
	}
	if paths = rules.PackPaths(paths); len(paths) == 0 {
		return set, len(packFiles), nil // the pack itself
	}
	stamps, _ := stampFiles(paths) // every path was read by rules.LoadPack
	if files = len(stamps); !withDefault {
		return set, files, nil
	}
	pack, err := rules.Default()
	if err != nil {
		return nil, 0, err
	}
	set, err = rules.Merge(pack, set)
	return set, files + len(packFiles), err
}

// RulesError is the error of rules that do not compile: every compile error, in file and
// position order.
type RulesError []*rules.CompileError

func (e RulesError) Error() string {
	if len(e) == 1 {
		return "the rules do not compile: 1 error"
	}
	return fmt.Sprintf("the rules do not compile: %d errors", len(e))
}

// WriteText writes every compile error on a line of its own, file:line:col: rule <id>: message.
func (e RulesError) WriteText(w io.Writer) error {
	for _, ce := range e {
		if _, err := fmt.Fprintln(w, ce.Error()); err != nil {
			return err
		}
	}
	return nil
}

// CheckRules loads the rules as LoadRules does, for a person checking them: when they do not
// compile the error is a RulesError with every compile error; any other error (an unreadable
// file) is returned as it is.
func CheckRules(paths []string, withDefault bool) (*rules.Set, int, error) {
	set, files, err := LoadRules(paths, withDefault)
	ces := rules.CompileErrors(err)
	if len(ces) == 0 {
		return set, files, err
	}
	return nil, 0, RulesError(sortedErrors(ces))
}

// sortedErrors sorts ces in file and position order (in place) and returns it.
func sortedErrors(ces []*rules.CompileError) []*rules.CompileError {
	slices.SortStableFunc(ces, func(a, b *rules.CompileError) int {
		return cmp.Or(cmp.Compare(a.File, b.File), cmp.Compare(a.Line, b.Line), cmp.Compare(a.Column, b.Column))
	})
	return ces
}
