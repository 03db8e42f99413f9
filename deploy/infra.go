package deploy

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"sync"

	"github.com/prometheus/client_golang/prometheus"

	"breachd/auth"
	"breachd/bus"
	"breachd/history"
	"breachd/history/chdb"
	"breachd/notify"
	"breachd/notify/channel"
	"breachd/respond"
	"breachd/secretfile"
)

// InfraConfig says where NATS and ClickHouse are.
type InfraConfig struct {
	// DataDir holds the embedded engines' data and the endpoint file (default ./data).
	DataDir string
	// NATSURL of a NATS server or cluster (comma-separated); empty starts the embedded server.
	NATSURL string
	// NATSCreds is a .creds file (user JWT and nkey seed) to log in to NATSURL with; a user and
	// password can instead be given in NATSURL. Unused for the embedded server.
	NATSCreds string
	// ClickHouseDSN of a ClickHouse server (clickhouse://user:pass@host:9000/db); empty starts
	// the embedded engine.
	ClickHouseDSN string
	// ChDBLib is the path of libchdb.so for the embedded engine (default chdb.DefaultLibPath()).
	ChDBLib string
	// Bus sets stream replicas and retention.
	Bus bus.Config
	// RetentionDays is the TTL of event rows (default history.DefaultEventRetentionDays).
	RetentionDays int
	// People bounds people's statements on the embedded endpoint (time, memory, rows).
	People chdb.PeopleLimits
	// AcceptLost starts the pipeline although events the detectors had not processed were
	// lost from the NATS store (bus.CheckStore), recording the loss as accepted: for the run
	// that re-ingests them (--accept-lost).
	AcceptLost bool
	// Registerer gets the store check's metrics (nil: none).
	Registerer prometheus.Registerer
	Logger     *slog.Logger
}

// Infra is the running infrastructure: NATS connection and JetStream, the history store, and
// the embedded engines when they were started here.
type Infra struct {
	Stores
	// Endpoint is the embedded ClickHouse HTTP endpoint (nil with an external ClickHouse).
	Endpoint *chdb.Server
	// EndpointDSN is the DSN of the embedded endpoint with the writer's credential (append to
	// every table, read; no DDL), for stages started against this endpoint. It is never
	// written to disk.
	EndpointDSN string

	operatorDSN  string
	natsSrv      *bus.Embedded
	natsUsers    NATSUsers    // of natsSrv
	lock         *DataDirLock // of DataDir, when an embedded engine uses it
	engine       *chdb.Engine
	stopEndpoint context.CancelFunc
	endpointDone chan error
	stopChecks   context.CancelFunc // the store's watchers: bus.Marks.Run (embedded), bus.EndsWatch.Run (external)
	checksDone   sync.WaitGroup
	cfg          InfraConfig
	log          *slog.Logger
}

// NATSDir is where the embedded nats-server keeps its data under dataDir.
func NATSDir(dataDir string) string { return filepath.Join(dataDir, "nats") }

// MarksFile is the file in NATSDir where the pipeline records the last sequence of each stream
// of the embedded server (bus.Marks), so that a start sees a stream whose tail was lost.
const MarksFile = "breachd-marks.json"

// processors are the durables processing breachd's streams, by the start of their names: the
// detectors (detect.DurableName), the notifier and the announcers (notify.AnnouncerName).
var processors = map[string]string{bus.StreamEvents: "detect-", bus.StreamAlerts: notify.DefaultDurable,
	bus.StreamIncidents: notify.AnnouncerName("")}

// otherStreams are the streams of the buckets and streams other packages create, which the
// store check covers besides bus's own (bus.CheckedStreams).
var otherStreams = []string{"KV_" + auth.BucketSessions, "KV_" + auth.BucketPrefs, "KV_" + respond.Bucket,
	"KV_" + channel.BucketNotifications, channel.StreamNotifications}

// EndpointFile is written into DataDir while the embedded ClickHouse endpoint runs, so that
// `breachd history sql` and people with curl can reach the history of a running instance.
const EndpointFile = "clickhouse-endpoint.json"

// Endpoint describes the embedded ClickHouse endpoint of a running instance, for people and the
// breachd CLI on the same machine (the file is 0600).
type Endpoint struct {
	URL string `json:"url"`
	// User and Password are the reader's: read-only, breachd's tables only (curl,
	// clickhouse-client, dashboards).
	User     string `json:"user"`
	Password string `json:"password"`
	// DSN is the operator's, for the breachd CLI: read, and append to audit, incidents and
	// evidence (its audited lookups and incident changes); nothing else.
	DSN string `json:"dsn"`
	PID int    `json:"pid"`
	// NATS is the client URL of the embedded nats-server of the same process (loopback),
	// empty when that process uses an external NATS.
	NATS string `json:"nats,omitempty"`
	// NATSUser and NATSPassword log in to NATS as NATSOperator (breachd dlq, breachd incidents).
	NATSUser     string `json:"nats_user,omitempty"`
	NATSPassword string `json:"nats_password,omitempty"`
	// NATSReplayUser and NATSReplayPassword log in as NATSReplay (breachd dlq replay).
	NATSReplayUser     string `json:"nats_replay_user,omitempty"`
	NATSReplayPassword string `json:"nats_replay_password,omitempty"`
	// NATSAPIUser and NATSAPIPassword log in as NATSAPI (breachd serve).
	NATSAPIUser     string `json:"nats_api_user,omitempty"`
	NATSAPIPassword string `json:"nats_api_password,omitempty"`
}

// StartInfra connects to (or starts) NATS and ClickHouse, creates the streams and applies the
// schema migrations. Close releases everything, after the stages using it have returned.
func StartInfra(ctx context.Context, cfg InfraConfig) (*Infra, error) {
	return startInfra(ctx, cfg, NATSPipeline, true)
}

// StartHistoryOnly opens only the history (for commands that query it), with the embedded
// engine when cfg.ClickHouseDSN is empty.
func StartHistoryOnly(ctx context.Context, cfg InfraConfig) (*Infra, error) {
	return startInfra(ctx, cfg, "", true)
}

// startInfra starts what StartInfra does: NATS unless role is empty (as NATSPipeline: set up
// the streams; as another role, an embedded server's client of that role) and the history
// when withHistory.
func startInfra(ctx context.Context, cfg InfraConfig, role string, withHistory bool) (_ *Infra, err error) {
	if cfg.DataDir == "" {
		cfg.DataDir = "data"
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	in := &Infra{cfg: cfg, log: cfg.Logger.With("component", "deploy")}
	defer func() {
		if err != nil {
			in.Close()
		}
	}()
	if (role != "" && cfg.NATSURL == "") || (withHistory && cfg.ClickHouseDSN == "") { // only the embedded engines keep data here
		if err := os.MkdirAll(cfg.DataDir, 0o700); err != nil {
			return nil, fmt.Errorf("data dir: %w", err)
		}
		if in.lock, err = LockDataDir(cfg.DataDir); err != nil { // before any engine opens it
			return nil, err
		}
	}
	if role != "" {
		if err := in.startNATS(ctx, role); err != nil {
			return nil, err
		}
	}
	if !withHistory {
		return in, nil
	}
	dsn := cfg.ClickHouseDSN
	if dsn == "" {
		if dsn, err = in.startEmbeddedClickHouse(); err != nil {
			return nil, err
		}
	}
	var dial func(context.Context, string) (net.Conn, error)
	if in.Endpoint != nil {
		dial = in.Endpoint.DialInProcess
	}
	if in.History, err = openHistory(ctx, dsn, dial, cfg.Logger); err != nil {
		return nil, err
	}
	if _, err := in.History.Migrate(ctx, cfg.RetentionDays); err != nil {
		return nil, err
	}
	return in, nil
}

// startNATS connects to NATS as role: the pipeline to cfg.NATSURL or the embedded server it
// starts here, setting up the streams; another role to the embedded server it starts here.
func (in *Infra) startNATS(ctx context.Context, role string) (err error) {
	natsURL, login, err := in.natsTarget(role)
	if err != nil {
		return err
	}
	name := "breachd"
	if role != NATSPipeline {
		name = "breachd-cli"
	}
	if err := in.connectNATS(natsURL, name, login, in.cfg.Logger); err != nil {
		return err
	}
	if role != NATSPipeline {
		return nil
	}
	if err := bus.Ensure(ctx, in.JS, in.cfg.Bus); err != nil {
		return err
	}
	return in.checkStore(ctx)
}

// checkStore looks for messages lost from the NATS store (bus.CheckStore: an error when
// unprocessed events are lost, unless AcceptLost) and, until Close, keeps the marks of the
// embedded server's streams' last sequences, or with an external NATS watches for processors'
// consumers left beyond the end of a stream that lost its tail while this process runs
// (bus.EndsWatch; only logged and counted).
func (in *Infra) checkStore(ctx context.Context) error {
	check := bus.StoreCheck{Others: otherStreams, Processors: processors, Accept: in.cfg.AcceptLost, Log: in.log, Registerer: in.cfg.Registerer}
	if in.natsSrv != nil {
		check.Marks = filepath.Join(NATSDir(in.cfg.DataDir), MarksFile)
	}
	if _, err := bus.CheckStore(ctx, in.JS, check); err != nil {
		return err
	}
	wctx, stop := context.WithCancel(context.Background())
	in.stopChecks = stop
	if in.natsSrv != nil {
		marks := bus.Marks{File: check.Marks, Streams: slices.Concat(bus.CheckedStreams, otherStreams)}
		in.checksDone.Go(func() { _ = marks.Run(wctx, in.JS, in.log) }) // owned by Infra: Close stops and waits for it
		return nil
	}
	ends := bus.EndsWatch{Streams: slices.Sorted(maps.Keys(processors)), Log: in.log, Registerer: in.cfg.Registerer}
	in.checksDone.Go(func() {
		if err := ends.Run(wctx, in.JS); err != nil {
			in.log.Warn("watch for consumers beyond their stream's end", "err", err)
		}
	})
	return nil
}

// The users of the embedded ClickHouse endpoint (see chdb.User and the threat model in
// deploy/README.md). Only the reader's and the operator's credentials are written to the endpoint
// file; the writer's exists in this process's memory (Infra.EndpointDSN, for stages started
// against this endpoint), the owner's is accepted in-process only.
const (
	ownerUser    = "owner"
	writerUser   = "writer"
	operatorUser = "operator"
	readerUser   = "reader"
)

// operatorTables are what the breachd CLI on the box appends to: its audited lookups, the
// incident changes it makes and the evidence it collects.
var operatorTables = []string{"audit", "incidents", "evidence"}

// startEmbeddedClickHouse opens the engine, serves it on loopback and returns the owner's
// in-process DSN for the pipeline's own history store.
func (in *Infra) startEmbeddedClickHouse() (string, error) {
	lib := in.cfg.ChDBLib
	if lib == "" {
		lib = chdb.DefaultLibPath()
	}
	var err error
	in.engine, err = chdb.Open(lib, filepath.Join(in.cfg.DataDir, "clickhouse"))
	if err != nil {
		return "", err
	}
	pw := map[string]string{}
	for _, u := range []string{ownerUser, writerUser, operatorUser, readerUser} {
		if pw[u], err = randomToken(); err != nil {
			return "", err
		}
	}
	in.Endpoint, err = chdb.NewServer(in.engine, chdb.Options{Addr: "127.0.0.1:0", Logger: in.cfg.Logger,
		People: in.cfg.People,
		Users: []chdb.User{
			{Name: ownerUser, Password: pw[ownerUser], Owner: true},
			{Name: writerUser, Password: pw[writerUser], Insert: []string{"*"}},
			{Name: operatorUser, Password: pw[operatorUser], Insert: operatorTables, Interactive: true},
			{Name: readerUser, Password: pw[readerUser], Interactive: true},
		}})
	if err != nil {
		return "", err
	}
	if err := in.Endpoint.Listen(); err != nil {
		return "", err
	}
	// The endpoint serves until Close, after every stage has stopped using it.
	ectx, stop := context.WithCancel(context.Background())
	in.stopEndpoint, in.endpointDone = stop, make(chan error, 1)
	go func() { in.endpointDone <- in.Endpoint.Run(ectx) }()
	dsn := func(user string) string {
		u := url.URL{Scheme: "http", User: url.UserPassword(user, pw[user]), Host: in.Endpoint.Addr(), Path: "/default"}
		return u.String()
	}
	in.EndpointDSN, in.operatorDSN = dsn(writerUser), dsn(operatorUser)
	ep := Endpoint{URL: "http://" + in.Endpoint.Addr() + "/", User: readerUser, Password: pw[readerUser],
		DSN: in.operatorDSN, PID: os.Getpid()}
	if in.natsSrv != nil {
		ep.NATS = in.natsSrv.ClientURL()
		ep.setNATSLogins(in.natsUsers)
	}
	b, _ := json.MarshalIndent(ep, "", "  ")
	if err := writePrivate(filepath.Join(in.cfg.DataDir, EndpointFile), b, true); err != nil {
		return "", fmt.Errorf("write endpoint file: %w", err)
	}
	in.log.Info("embedded clickhouse engine serving", "url", ep.URL, "credentials", filepath.Join(in.cfg.DataDir, EndpointFile))
	return dsn(ownerUser), nil
}

// PeopleHistory returns the history for a person's command. On the embedded engine it connects
// over the endpoint with the operator's credential, so that people's statements pass the
// endpoint's checks and limits also when the CLI opened the engine itself; otherwise it is
// History. The close func closes only what PeopleHistory opened.
func (in *Infra) PeopleHistory(ctx context.Context) (*history.Store, func(), error) {
	if in.Endpoint == nil {
		return in.History, func() {}, nil
	}
	s, err := openHistory(ctx, in.operatorDSN, nil, in.cfg.Logger)
	if err != nil {
		return nil, nil, err
	}
	return s, func() { _ = s.Close() }, nil
}

// WriteBanner tells the person who started `breachd run` where to look: NATS, ClickHouse (and
// where the endpoint file with its credentials is), the metrics endpoint (metricsURL, if any),
// the API and how to sign in (api, if served here) and whether there is input here.
func (in *Infra) WriteBanner(w io.Writer, metricsURL string, haveInput bool, api *APIBanner) {
	dataDir := in.cfg.DataDir
	fmt.Fprintln(w, "breachd is running. Where to look:")
	fmt.Fprintf(w, "  NATS JetStream   %s  (streams EVENTS, ALERTS, DEADLETTER, INCIDENTS; KV bucket incidents)\n", in.NC.ConnectedUrlRedacted())
	if in.Endpoint != nil {
		fmt.Fprintf(w, "  ClickHouse       http://%s/  (embedded engine; user and password in %s/%s)\n", in.Endpoint.Addr(), dataDir, EndpointFile)
	} else {
		fmt.Fprintln(w, "  ClickHouse       the server given by --clickhouse")
	}
	if metricsURL != "" {
		fmt.Fprintf(w, "  Metrics          %s\n", metricsURL)
	}
	if api != nil {
		api.write(w)
	}
	fmt.Fprintf(w, "  Incidents        printed below, and: breachd history sql --data %s \"SELECT id, account, severity, alert_count, summary FROM incidents FINAL\"\n", dataDir)
	if !haveInput {
		fmt.Fprintln(w, "  Input            none here: waiting for events published by other ingest processes")
	}
	fmt.Fprintln(w)
}

// ReadEndpoint reads the endpoint file of a running all-in-one instance in dataDir.
func ReadEndpoint(dataDir string) (*Endpoint, error) {
	b, err := secretfile.Read(filepath.Join(dataDir, EndpointFile))
	if err != nil {
		return nil, err
	}
	var ep Endpoint
	if err := json.Unmarshal(b, &ep); err != nil {
		return nil, fmt.Errorf("endpoint file %s: %w", filepath.Join(dataDir, EndpointFile), err)
	}
	return &ep, nil
}

// Close stops everything StartInfra started, in reverse order. Call it after every stage
// using the infrastructure has returned.
func (in *Infra) Close() {
	if in.stopChecks != nil {
		in.stopChecks()
		in.checksDone.Wait()
	}
	in.Stores.Close(in.log)
	if in.stopEndpoint != nil {
		in.stopEndpoint()
		if err := <-in.endpointDone; err != nil {
			in.log.Warn("embedded clickhouse endpoint", "err", err)
		}
	}
	if in.engine != nil {
		_ = os.Remove(filepath.Join(in.cfg.DataDir, EndpointFile))
		if err := in.engine.Close(); err != nil {
			in.log.Warn("close embedded clickhouse", "err", err)
		}
	}
	if in.natsSrv != nil {
		in.natsSrv.Shutdown()
	}
	in.lock.Release()
}

func randomToken() (string, error) {
	b := make([]byte, 18)
	if _, err := rand.Read(b); err != nil {
		return "", errors.New("no randomness for the endpoint password")
	}
	return hex.EncodeToString(b), nil
}
