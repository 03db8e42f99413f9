package deploy

import (
	"context"
	"fmt"
	"time"

	"golang.org/x/sync/errgroup"

	"breachd/bus"
	"breachd/notify"
	"breachd/notify/channel"
)

// respondCallTimeout stays below the notifier's per-alert bound (20 s): the first deactivation
// call is made while the alert is handled.
const respondCallTimeout = 10 * time.Second

// startNotifier starts the notifier stage in g: the deactivation engine, the Incidents service,
// the notifier, the incident watcher and one announcer per sink (the console and each
// notification channel), each a durable consumer of INCIDENTS. It returns the watcher and the
// durable consumers that idle detection waits for (the notifier's, the console's), by stream.
func startNotifier(ctx context.Context, g *errgroup.Group, in *Infra, cfg PipelineConfig) (*notify.Watcher, map[string]string, error) {
	replicas := in.cfg.Bus.Replicas
	engine, err := in.Stores.Engine(ctx, EngineConfig{Respond: cfg.Respond, Replicas: replicas, CallTimeout: respondCallTimeout,
		Clock: cfg.Clock, Logger: cfg.Logger, Registerer: cfg.Registerer})
	if err != nil {
		return nil, nil, err
	}
	incidents, err := in.Stores.Incidents(ctx, cfg.Clock)
	if err != nil {
		return nil, nil, err
	}

	var sinks []notify.Sink
	if cfg.Console != nil {
		sinks = append(sinks, notify.NewConsoleSink(cfg.Console))
	}
	if cfg.Notifications != "" {
		kv, err := channel.EnsureBucket(ctx, in.JS, 0, replicas)
		if err != nil {
			return nil, nil, err
		}
		if err := channel.EnsureStream(ctx, in.JS, replicas); err != nil {
			return nil, nil, err
		}
		d, err := channel.LoadConfig(cfg.Notifications, channel.Options{KV: kv, JS: in.JS, Clock: cfg.Clock,
			Logger: cfg.Logger, Registerer: cfg.Registerer})
		if err != nil {
			return nil, nil, fmt.Errorf("notifications: %w", err)
		}
		sinks = append(sinks, notify.ChannelSinks(d)...)
	}
	// The announcers' consumers exist before the first change is made, so none is missed.
	consumers := map[string]string{notify.DefaultDurable: bus.StreamAlerts}
	var announcers []*notify.Announcer
	for _, s := range sinks {
		a, err := notify.NewAnnouncer(ctx, in.JS, s, notify.AnnounceOptions{Logger: cfg.Logger, Registerer: cfg.Registerer})
		if err != nil {
			return nil, nil, err
		}
		announcers = append(announcers, a)
		// Idle waits for the console, not for the channels: a channel that is down must not
		// keep a batch run from ending; its consumer keeps what is left for the next run.
		if _, console := s.(*notify.ConsoleSink); console {
			consumers[a.Durable()] = bus.StreamIncidents
		}
	}

	n, err := notify.New(in.JS, notify.Options{Incidents: incidents, Responder: engine, FailoverAfter: cfg.FailoverAfter, Clock: cfg.Clock,
		Logger: cfg.Logger, Registerer: cfg.Registerer})
	if err != nil {
		return nil, nil, fmt.Errorf("notifier: %w", err)
	}
	wopts := cfg.Watch
	wopts.Evidence, wopts.Responder, wopts.Clock, wopts.Logger = in.History, engine, cfg.Clock, cfg.Logger
	w, err := notify.NewWatcher(ctx, incidents, wopts)
	if err != nil {
		return nil, nil, err
	}
	g.Go(func() error { return engine.Run(ctx) })
	g.Go(func() error { return n.Run(ctx) })
	g.Go(func() error { return w.Run(ctx) })
	for _, a := range announcers {
		g.Go(func() error { return a.Run(ctx) })
	}
	return w, consumers, nil
}
