package deploy

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net"
	"os"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"breachd/bus"
	"breachd/event"
	"breachd/history"
	"breachd/notify"
	"breachd/respond"
)

// Stores are the connections every operation works on: NATS with JetStream (the streams and
// the incidents and responses buckets) and the history. The stages (StartInfra) and people's
// commands (Attach) both open them through connectNATS and openHistory, and nothing else in
// breachd connects to NATS or opens the history.
type Stores struct {
	NC      *nats.Conn
	JS      jetstream.JetStream
	History *history.Store
}

// storeOpened, when set (tests), is called by connectNATS and openHistory with "nats" or
// "history" and the client name or redacted DSN.
var storeOpened func(kind, target string)

// Incidents is the incidents service over s (notify.Incidents: every change stored, mirrored
// into the history and published on INCIDENTS): the one constructor of the notifier stage and
// of people's commands.
func (s Stores) Incidents(ctx context.Context, clock func() time.Time) (*notify.Incidents, error) {
	return notify.NewIncidents(ctx, s.JS, notify.IncidentsOptions{Mirror: s.History, Clock: clock})
}

// connectNATS connects s to the NATS at url as client name, logging in with login.
func (s *Stores) connectNATS(url, name string, login []nats.Option, log *slog.Logger) error {
	if storeOpened != nil {
		storeOpened("nats", name)
	}
	nc, _, err := bus.Connect(url, name, log, login...)
	if err != nil {
		return err
	}
	js, err := bus.NewJetStream(nc, bus.DefaultWindow, log)
	if err != nil {
		nc.Close()
		return fmt.Errorf("jetstream: %w", err)
	}
	s.NC, s.JS = nc, js
	return nil
}

// openHistory opens the history at dsn, over connections made by dial (nil: TCP).
func openHistory(ctx context.Context, dsn string, dial func(context.Context, string) (net.Conn, error), log *slog.Logger) (*history.Store, error) {
	if storeOpened != nil {
		storeOpened("history", history.RedactDSN(dsn))
	}
	return history.OpenDialer(ctx, dsn, dial, log)
}

// Close closes the history and, after flushing what is buffered (acks and naks are buffered
// writes: unflushed, the messages they settle wait out their AckWait on the next start), NATS.
func (s *Stores) Close(log *slog.Logger) {
	if s.History != nil {
		_ = s.History.Close()
		s.History = nil
	}
	if s.NC != nil {
		if err := s.NC.FlushTimeout(5 * time.Second); err != nil && !errors.Is(err, nats.ErrConnectionClosed) {
			log.Warn("flush nats before close", "err", err)
		}
		s.NC.Close()
		s.NC, s.JS = nil, nil
	}
}

// AttachConfig says where a person's command finds the instance it works on, and what it needs.
type AttachConfig struct {
	InfraConfig
	// NATS is the role the command logs in to an embedded nats-server as (NATSOperator,
	// NATSReplay); empty when it needs no NATS.
	NATS string
	// History is set when the command needs the history.
	History bool
	// Owner opens the history with the owner's rights (schema changes) when the engine is
	// opened here; through a running instance the command has the operator's.
	Owner bool
}

// Attached is what Attach reached. Close releases it.
type Attached struct {
	Stores        // what the command works with
	own    Stores // what Attach connected to itself (given targets, a running instance)
	infra  *Infra // the engines opened here, if any
	people func() // closes the people's history of infra
	log    *slog.Logger
}

// Attach reaches the instance a person's command (history, migrate, rules backtest, dlq,
// incidents) works on, the one way every such command does:
//
//  1. the NATS of cfg.NATSURL (logging in with cfg.NATSCreds) and the ClickHouse of
//     cfg.ClickHouseDSN, where they are given;
//  2. for what is left, the running `breachd run` of cfg.DataDir through its endpoint file: its
//     embedded nats-server (as the role cfg.NATS) and its ClickHouse endpoint (the operator);
//  3. when there is none, or it does not answer, the embedded engines on cfg.DataDir, opened
//     here under the data directory's lock: NATS only where its store exists (logging in as
//     cfg.NATS), the history migrated and used with the operator's credential (cfg.Owner: the
//     owner's).
func Attach(ctx context.Context, cfg AttachConfig) (_ *Attached, err error) {
	if cfg.DataDir == "" {
		cfg.DataDir = "data"
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	log := cfg.Logger
	a := &Attached{log: log}
	defer func() {
		if err != nil {
			a.Close()
		}
	}()
	wantNATS, wantHistory := cfg.NATS != "", cfg.History
	if wantNATS && cfg.NATSURL != "" {
		login, err := bus.CredsLogin(cfg.NATSCreds, log.Warn)
		if err != nil {
			return nil, err
		}
		if err := a.own.connectNATS(cfg.NATSURL, "breachd-cli", login, log); err != nil {
			return nil, err
		}
		wantNATS = false
	}
	if wantHistory && cfg.ClickHouseDSN != "" {
		if a.own.History, err = openHistory(ctx, cfg.ClickHouseDSN, nil, log); err != nil {
			return nil, err
		}
		wantHistory = false
	}
	if !wantNATS && !wantHistory {
		a.Stores = a.own
		return a, nil
	}
	ep, err := ReadEndpoint(cfg.DataDir)
	switch {
	case err == nil && wantNATS && ep.NATS == "":
		return nil, fmt.Errorf("the breachd running on --data %s uses an external NATS: give its URL with --nats", cfg.DataDir)
	case err == nil:
		var viaEndpoint Stores
		err := func() error {
			if wantNATS {
				if err := viaEndpoint.connectNATS(ep.NATS, "breachd-cli", ep.NATSLogin(cfg.NATS), log); err != nil {
					return err
				}
			}
			if wantHistory {
				var err error
				viaEndpoint.History, err = openHistory(ctx, ep.DSN, nil, log)
				return err
			}
			return nil
		}()
		if err == nil {
			a.own.merge(viaEndpoint)
			a.Stores = a.own
			return a, nil
		}
		viaEndpoint.Close(log)
		log.Warn("endpoint file found but its breachd does not answer; opening the data directory", "err", err)
	case !errors.Is(err, fs.ErrNotExist):
		return nil, err
	}
	role := cfg.NATS
	if !wantNATS {
		role = ""
	}
	if role != "" {
		if _, err := os.Stat(NATSDir(cfg.DataDir)); err != nil {
			return nil, fmt.Errorf("no breachd NATS data at %s (is --data right? for a NATS cluster give --nats): %w", NATSDir(cfg.DataDir), err)
		}
	}
	local := cfg.InfraConfig
	local.NATSURL, local.ClickHouseDSN = "", ""
	if a.infra, err = startInfra(ctx, local, role, wantHistory); err != nil {
		return nil, fmt.Errorf("no running breachd found for --data %s, and opening its engines failed: %w", cfg.DataDir, err)
	}
	a.Stores = a.own
	a.merge(Stores{NC: a.infra.NC, JS: a.infra.JS, History: a.infra.History})
	if wantHistory && !cfg.Owner {
		if a.History, a.people, err = a.infra.PeopleHistory(ctx); err != nil {
			return nil, err
		}
	}
	return a, nil
}

// merge takes the stores of o that s has not.
func (s *Stores) merge(o Stores) {
	if s.NC == nil {
		s.NC, s.JS = o.NC, o.JS
	}
	if s.History == nil {
		s.History = o.History
	}
}

// Close releases what Attach opened.
func (a *Attached) Close() {
	a.own.Close(a.log)
	if a.people != nil {
		a.people()
	}
	if a.infra != nil {
		a.infra.Close()
	}
}

// Desk builds the incidents desk (notify.Desk) of people's commands and the API over the
// attached stores: every change is stored, mirrored into the history and published through
// one notify.Incidents, as the notifier's; deactivations go through the respond engine of
// respondFile (PeopleEngine; empty: the dry run), built when first needed. It needs NATS and
// the history.
func (a *Attached) Desk(ctx context.Context, respondFile string) (*notify.Desk, error) {
	incs, err := a.Incidents(ctx, time.Now)
	if err != nil {
		return nil, err
	}
	return &notify.Desk{Incidents: incs, History: a.History, Scope: event.Everywhere, Respond: func(ctx context.Context) (*respond.Engine, error) {
		return PeopleEngine(ctx, respondFile, a.Stores, a.log)
	}}, nil
}
