package deploy

import (
	"context"
	"fmt"
	"time"

	"golang.org/x/sync/errgroup"

	"breachd/notify"
	"breachd/notify/channel"
	"breachd/respond"
)

// Bounds of the notification channels' background delivery.
const (
	channelWorkers = 4
	channelQueue   = 1024
	channelTimeout = 6 * time.Minute // covers the dispatcher's default retries (5 min)
	channelDrain   = 5 * time.Second // at shutdown
	// respondCallTimeout stays below the notifier's per-alert bound (20 s): the first
	// deactivation call is made while the alert is handled.
	respondCallTimeout = 10 * time.Second
)

// startNotifier starts the notifier stage in g: the deactivation engine, the notification
// channels, the notifier and the incident watcher. closeChannels drains the channels after g
// has finished.
func startNotifier(ctx context.Context, g *errgroup.Group, in *Infra, cfg PipelineConfig) (*notify.Watcher, func(), error) {
	noop := func() {}
	replicas := in.cfg.Bus.Replicas
	ropts, err := cfg.Respond.Options()
	if err != nil {
		return nil, noop, fmt.Errorf("deactivation: %w", err)
	}
	ropts.Auditor, ropts.Clock, ropts.Logger, ropts.Registerer = HistoryAuditor(in.History), cfg.Clock, cfg.Logger, cfg.Registerer
	ropts.CallTimeout = respondCallTimeout
	if err := respond.EnsureBucket(ctx, in.JS, replicas, 0); err != nil {
		return nil, noop, err
	}
	engine, err := respond.New(ctx, in.JS, ropts)
	if err != nil {
		return nil, noop, fmt.Errorf("deactivation: %w", err)
	}

	var sinks []notify.Sink
	if cfg.Console != nil {
		sinks = append(sinks, notify.NewConsoleSink(cfg.Console))
	}
	wopts := cfg.Watch
	closeChannels := noop
	if cfg.Notifications != "" {
		kv, err := channel.EnsureBucket(ctx, in.JS, 0, replicas)
		if err != nil {
			return nil, noop, err
		}
		if err := channel.EnsureStream(ctx, in.JS, replicas); err != nil {
			return nil, noop, err
		}
		d, err := channel.LoadConfig(cfg.Notifications, channel.Options{KV: kv, JS: in.JS, Clock: cfg.Clock,
			Logger: cfg.Logger, Registerer: cfg.Registerer})
		if err != nil {
			return nil, noop, fmt.Errorf("notifications: %w", err)
		}
		cs := notify.NewChannelSink(d, channelWorkers, channelQueue, channelTimeout, cfg.Logger)
		sinks = append(sinks, cs)
		wopts.Dispatcher = cs
		closeChannels = func() { cs.Close(channelDrain) }
	}

	n, err := notify.New(in.JS, notify.Options{Mirror: in.History, Sinks: sinks, Responder: engine, Clock: cfg.Clock,
		Logger: cfg.Logger, Registerer: cfg.Registerer})
	if err != nil {
		closeChannels()
		return nil, noop, fmt.Errorf("notifier: %w", err)
	}
	wopts.Evidence, wopts.Responder, wopts.Mirror, wopts.Clock, wopts.Logger = in.History, engine, in.History, cfg.Clock, cfg.Logger
	w, err := notify.NewWatcher(ctx, in.JS, wopts)
	if err != nil {
		closeChannels()
		return nil, noop, err
	}
	g.Go(func() error { return engine.Run(ctx) })
	g.Go(func() error { return n.Run(ctx) })
	g.Go(func() error { return w.Run(ctx) })
	return w, closeChannels, nil
}
