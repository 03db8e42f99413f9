package deploy

import (
	"cmp"
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"golang.org/x/sync/errgroup"

	"breachd/api"
	"breachd/auth"
	"breachd/console"
	"breachd/respond"
	"breachd/simulate"
)

// DefaultAPIAddr is where `breachd run` serves the HTTP API unless --listen says otherwise:
// loopback only; a reverse proxy or --listen opens it to others.
const DefaultAPIAddr = "127.0.0.1:8080"

// UsersFile is the local users file under a data directory (APIConfig.UsersFile's default).
const UsersFile = "users.json"

// APIConfig configures the API stage (StageAPI): the HTTP API of package api behind the
// sign-in of package auth.
type APIConfig struct {
	// Listen is the address served (host:port; port 0 picks a free one). In the all-in-one
	// mode (PipelineConfig.Stages empty) an empty Listen runs no API; with StageAPI named it
	// is DefaultAPIAddr.
	Listen string
	// Listener, if set, is served instead of listening on Listen (RunProcess opens it before
	// the banner, so the banner names the port actually taken). The stage closes it.
	Listener net.Listener
	// TLSCert and TLSKey serve HTTPS (PEM files); empty: plain HTTP, for loopback or behind a
	// reverse proxy that terminates TLS.
	TLSCert, TLSKey string
	// UsersFile holds the local users and API tokens (default <data dir>/users.json).
	UsersFile string
	// OIDCFile configures sign-in through an OpenID Connect provider (empty: local users only).
	OIDCFile string
	// PublicURL is the URL people reach the API at (OIDC redirects, Secure cookies under
	// https); default the URL of the listener.
	PublicURL string
	// AdminPassword is the first start's admin password (BREACHD_ADMIN_PASSWORD); empty: a
	// random one, printed once in the banner.
	AdminPassword string
}

// url is the URL the API serves on at ln: https when TLS is configured.
func (c APIConfig) url(ln net.Listener) string {
	scheme := "http"
	if c.TLSCert != "" {
		scheme = "https"
	}
	return scheme + "://" + ln.Addr().String()
}

// Check refuses half a TLS configuration and a certificate and key that do not load (before
// anything starts: the server loads them again when it starts serving).
func (c APIConfig) Check() error {
	if (c.TLSCert == "") != (c.TLSKey == "") {
		return fmt.Errorf("--tls-cert and --tls-key go together (give both, or neither to serve plain HTTP)")
	}
	if c.TLSCert != "" {
		if _, err := tls.LoadX509KeyPair(c.TLSCert, c.TLSKey); err != nil {
			return fmt.Errorf("--tls-cert %s, --tls-key %s: %w", c.TLSCert, c.TLSKey, err)
		}
	}
	return nil
}

// listen opens c.Listener on c.Listen unless it is open.
func (c *APIConfig) listen() error {
	if c.Listener != nil {
		return nil
	}
	ln, err := net.Listen("tcp", cmp.Or(c.Listen, DefaultAPIAddr))
	if err != nil {
		return fmt.Errorf("--listen %s: %w (choose another address; port 0 picks a free one)", c.Listen, err)
	}
	c.Listener = ln
	return nil
}

// apiDeps is what the API stage serves from: NATS (incidents, deactivation requests, dead
// letters, sessions) and the history with people's rights (on the embedded engine the
// operator's credential through the endpoint's checks and limits, never the pipeline's owner
// connection).
type apiDeps struct {
	Stores
	DataDir  string
	Replicas int
	Respond  *RespondConfig // the deactivation configuration of the API's desk (nil: dry run)
	Rules    []string
	Registry *prometheus.Registry
	Stages   []string // of this process, for Status
	Embedded bool     // the history is the embedded engine, for Status
	// RulesStatus is the detector's figures when it runs in this process (nil: it does not).
	RulesStatus func(context.Context) (api.RulesStatus, bool)
	Log         *slog.Logger
}

// apiStage is the API server of one process, ready to serve.
type apiStage struct {
	cfg     APIConfig
	handler *api.Server
	auth    *auth.Service
	log     *slog.Logger
}

// newAPIStage builds the API over d: the session and preferences buckets, the sign-in service, the incidents
// service and package api's server. It listens on cfg.Listen unless cfg.Listener is set; on an
// error the listener is closed.
func newAPIStage(ctx context.Context, d apiDeps, cfg APIConfig) (_ *apiStage, err error) {
	defer func() {
		if err != nil && cfg.Listener != nil {
			_ = cfg.Listener.Close()
		}
	}()
	if err := listenAPI(&cfg); err != nil {
		return nil, err
	}
	log := d.Log.With("component", "api")
	cfg.UsersFile = cmp.Or(cfg.UsersFile, filepath.Join(d.DataDir, UsersFile))
	cfg.PublicURL = cmp.Or(cfg.PublicURL, cfg.url(cfg.Listener))
	sessions, err := auth.SessionBucket(ctx, d.JS, d.Replicas)
	if err != nil {
		return nil, fmt.Errorf("sessions bucket: %w", err)
	}
	prefs, err := auth.PrefsBucket(ctx, d.JS, d.Replicas)
	if err != nil {
		return nil, fmt.Errorf("preferences bucket: %w", err)
	}
	svc, err := auth.New(ctx, auth.Config{UsersFile: cfg.UsersFile, OIDCFile: cfg.OIDCFile, Sessions: sessions, Prefs: prefs,
		PublicURL: cfg.PublicURL, Registry: d.Registry, Log: log})
	if err != nil {
		return nil, err
	}
	incs, err := d.Incidents(ctx, time.Now)
	if err != nil {
		return nil, err
	}
	st := d.Stores
	con, err := console.New()
	if err != nil {
		return nil, err
	}
	srv, err := api.New(api.Config{Auth: svc, Console: con, Incidents: incs, History: d.History, JS: d.JS, Rules: d.Rules,
		Registry: d.Registry, Status: d.status(svc, cfg.PublicURL), RulesStatus: d.RulesStatus, Users: svc.Users(), Log: log,
		Respond: func(ctx context.Context) (*respond.Engine, error) {
			return st.Engine(ctx, EngineConfig{Respond: d.Respond, Replicas: -1, Logger: log})
		}})
	if err != nil {
		return nil, err
	}
	return &apiStage{cfg: cfg, handler: srv, auth: svc, log: log}, nil
}

// startAPI builds the API stage of a process running stages on in: people's history
// (Infra.PeopleHistory; closePeople closes it once the stage has stopped) over the process's
// NATS connection; ruleFigures are the figures of the detector of this process (nil: none).
func startAPI(ctx context.Context, in *Infra, cfg PipelineConfig, ruleFigures func(context.Context) (api.RulesStatus, bool)) (_ *apiStage, closePeople func(), err error) {
	people, closePeople, err := in.PeopleHistory(ctx)
	if err != nil {
		return nil, nil, err
	}
	reg, ok := cfg.Registerer.(*prometheus.Registry)
	if !ok || reg == nil { // no process registry (tests): the API's own metrics only
		reg = prometheus.NewRegistry()
	}
	stages := cfg.Stages
	if len(stages) == 0 {
		stages = allStages
	}
	stage, err := newAPIStage(ctx, apiDeps{Stores: Stores{NC: in.NC, JS: in.JS, History: people}, DataDir: in.cfg.DataDir,
		Replicas: in.cfg.Bus.Replicas, Respond: cfg.Respond, Rules: cfg.Rules, Registry: reg, Stages: stages,
		Embedded: in.Endpoint != nil, RulesStatus: ruleFigures, Log: cfg.Logger}, cfg.API)
	if err != nil {
		closePeople()
		return nil, nil, err
	}
	return stage, closePeople, nil
}

// URL is where the stage serves.
func (s *apiStage) URL() string { return s.cfg.url(s.cfg.Listener) }

// Run serves, with the server's live incident stream (api.Server.Run), until ctx ends, then
// shuts down gracefully (the streams end, requests in flight finish).
func (s *apiStage) Run(ctx context.Context) error {
	s.log.Info("serving the API", "url", s.URL(), "public_url", s.cfg.PublicURL, "sign_in", s.auth.Methods())
	g, gctx := errgroup.WithContext(ctx)
	g.Go(func() error { return s.handler.Run(gctx) })
	g.Go(func() error {
		return api.Serve(gctx, s.handler.Handler(), s.cfg.Listener, s.cfg.TLSCert, s.cfg.TLSKey, s.log) // its errors say "api: "
	})
	return g.Wait()
}

// Status is the configuration status of a process serving the API, for admins (GET
// /api/status).
type Status struct {
	Stages     []string `json:"stages"`
	SignIn     []string `json:"sign_in"`
	PublicURL  string   `json:"public_url"`
	NATS       string   `json:"nats"`       // the server connected to, credentials redacted
	ClickHouse string   `json:"clickhouse"` // "embedded" or "server"
	Rules      []string `json:"rules"`      // the rule pack paths; empty: the shipped default pack
	Deactivate string   `json:"deactivate"` // "dry run" or "configured"
}

// status is the Status func of the API served over d with svc at publicURL.
func (d apiDeps) status(svc *auth.Service, publicURL string) func(context.Context) any {
	return func(context.Context) any {
		st := Status{Stages: slices.Clone(d.Stages), SignIn: svc.Methods(), PublicURL: publicURL, Rules: slices.Clone(d.Rules),
			ClickHouse: "server", Deactivate: "dry run"}
		if d.NC != nil {
			st.NATS = d.NC.ConnectedUrlRedacted()
		}
		if d.Embedded {
			st.ClickHouse = "embedded"
		}
		if d.Respond != nil {
			st.Deactivate = "configured"
		}
		return st
	}
}

// APIBanner is what the banner says about the API: where it is and, on the first start, the
// admin created (EnsureAdmin).
type APIBanner struct {
	URL       string
	UsersFile string
	Created   bool   // the admin was created now
	Roles     string // the admin's roles, for people
	// Password is set only when it was generated here: it is printed once. A password taken
	// from BREACHD_ADMIN_PASSWORD is never printed.
	Password string
}

// listenAPI readies the API stage of `breachd run` before anything else that can fail: it
// checks cfg and opens the listener, so the banner names the port taken.
func listenAPI(cfg *APIConfig) error {
	if err := cfg.Check(); err != nil {
		return err
	}
	return cfg.listen()
}

// ensureAdmin creates the admin on the first start (no users in cfg's users file, by default
// under dataDir; auth.EnsureAdmin) and returns the API's banner. In the demo (demo not nil)
// the admin also gets the roles soc, and dpo of the demo's organisations, so that whoever
// starts the demo can work an incident through the console from detection to the report.
// RunProcess calls it last before the banner, once everything that can fail before the banner
// has succeeded, so a generated password is always shown.
func ensureAdmin(cfg *APIConfig, dataDir string, demo *simulate.Config) (*APIBanner, error) {
	cfg.UsersFile = cmp.Or(cfg.UsersFile, filepath.Join(dataDir, UsersFile))
	if err := os.MkdirAll(filepath.Dir(cfg.UsersFile), 0o700); err != nil {
		return nil, fmt.Errorf("users file: %w", err)
	}
	var also []auth.Role
	var orgs []string
	if demo != nil {
		also, orgs = []auth.Role{auth.RoleSOC, auth.RoleDPO}, demo.Realms()
	}
	created, pw, err := auth.EnsureAdmin(cfg.UsersFile, cfg.AdminPassword, also, orgs)
	if err != nil {
		return nil, fmt.Errorf("first start: create the admin in %s: %w", cfg.UsersFile, err)
	}
	b := &APIBanner{UsersFile: cfg.UsersFile, Created: created, URL: cfg.url(cfg.Listener), Roles: "admin"}
	if demo != nil {
		b.Roles = "admin, soc, and dpo of " + strings.Join(orgs, ", ") + ": the demo's"
	}
	if created && cfg.AdminPassword == "" {
		b.Password = pw
	}
	return b, nil
}

// write tells the person who started the process where the API is and how to sign in; on
// the first start, the admin's one-time password (when it was generated here).
func (b *APIBanner) write(w io.Writer) {
	fmt.Fprintf(w, "  Console          %s/  (open it in a browser and sign in)\n", b.URL)
	fmt.Fprintf(w, "  API              %s  (sign in: POST %s/auth/login; OpenAPI %s/api/openapi.json)\n", b.URL, b.URL, b.URL)
	fmt.Fprintf(w, "  CLI via the API  breachd incidents list --server %s  (token in BREACHD_TOKEN or --token-file)\n", b.URL)
	switch {
	case b.Created && b.Password != "":
		fmt.Fprintf(w, "  First start      user admin (roles %s), one-time password %s  (shown only now; change it with breachd users passwd)\n", b.Roles, b.Password)
	case b.Created:
		fmt.Fprintf(w, "  First start      user admin (roles %s), password from BREACHD_ADMIN_PASSWORD\n", b.Roles)
	}
	fmt.Fprintf(w, "  Users            in %s; add people: breachd users add ...; API tokens: breachd users token ... (see breachd users --help)\n", b.UsersFile)
}

// ServeConfig is a process serving only the API (`breachd serve`, stateless: any number of
// them behind a load balancer share sessions through NATS).
type ServeConfig struct {
	// Attach says where NATS and the history are: --nats and --clickhouse, or the running
	// `breachd run` of the data directory (Attach; NATS as NATSAPI, the history with the
	// operator's rights).
	Attach  AttachConfig
	API     APIConfig
	Respond *RespondConfig // deactivation configuration (nil: dry run)
	Rules   []string       // rule pack paths (empty: the shipped default pack)
	// Banner, if set, gets where the API serves.
	Banner io.Writer
}

// Serve runs the API stage alone until ctx ends.
func Serve(ctx context.Context, cfg ServeConfig) error {
	if err := cfg.API.Check(); err != nil {
		return err
	}
	ac := cfg.Attach
	ac.NATS, ac.History, ac.Owner = NATSAPI, true, false
	a, err := Attach(ctx, ac)
	if err != nil {
		return err
	}
	defer a.Close()
	reg, err := NewRegistry()
	if err != nil {
		return err
	}
	log := cmp.Or(ac.Logger, slog.Default())
	stage, err := newAPIStage(ctx, apiDeps{Stores: a.Stores, DataDir: cmp.Or(ac.DataDir, "data"), Replicas: ac.Bus.Replicas,
		Respond: cfg.Respond, Rules: cfg.Rules, Registry: reg, Stages: []string{StageAPI}, Embedded: ac.ClickHouseDSN == "", Log: log}, cfg.API)
	if err != nil {
		return err
	}
	if cfg.Banner != nil {
		fmt.Fprintln(cfg.Banner, "breachd serve is running.")
		(&APIBanner{URL: stage.URL(), UsersFile: stage.cfg.UsersFile}).write(cfg.Banner)
		fmt.Fprintln(cfg.Banner)
	}
	return stage.Run(ctx)
}
