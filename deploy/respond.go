package deploy

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"

	"breachd/history"
	"breachd/respond"
	"breachd/respond/ldap"
	"breachd/respond/scim"
	"breachd/respond/webhook"
	"breachd/secretfile"
	"breachd/yamlx"
)

// RespondConfig is the deactivation configuration (`breachd run --respond FILE`, YAML). Without
// one, deactivation is a dry run: requests are decided, capped and audited, and nothing is
// changed.
//
//	adapter: scim                  # default adapter: dryrun (default), scim, ldap or webhook
//	scim:    {base_url: https://idp.example/scim/v2, token_file: /etc/breachd/scim.token}
//	ldap:    {url: ldaps://ldap.example:636, bind_dn: "cn=breachd,dc=example", password_file: …,
//	          base_dn: "ou=people,dc=example", filter: "(eduPersonPrincipalName=%s)",
//	          attribute: pwdAccountLockedTime, value: "000001010000Z", start_tls: false}
//	webhook: {url: https://soar.example/deactivate, secret_file: /etc/breachd/webhook.secret}
//	orgs:                          # another adapter for some organisations
//	  bergen.kommune.no: {adapter: ldap, ldap: {…}}
//	allow_list: ["breakglass@*", "*-admin@*"]   # never deactivated
//	max_per_hour: 5                # per organisation, sliding 60 min; beyond: approval
//
// Secrets are read from files (token_file, password_file, secret_file) or from the environment
// variable named by *_env (token_env, …), never written inline.
type RespondConfig struct {
	adapterConfig `yaml:",inline"`
	Orgs          map[string]adapterConfig `yaml:"orgs"`
	AllowList     []string                 `yaml:"allow_list"`
	MaxPerHour    int                      `yaml:"max_per_hour"`
	dir           string                   // of the file, for relative secret paths
}

type adapterConfig struct {
	Adapter string      `yaml:"adapter"`
	SCIM    *scimConfig `yaml:"scim"`
	LDAP    *ldapConfig `yaml:"ldap"`
	Webhook *hookConfig `yaml:"webhook"`
}

type scimConfig struct {
	BaseURL   string `yaml:"base_url"`
	TokenFile string `yaml:"token_file"`
	TokenEnv  string `yaml:"token_env"`
}

type ldapConfig struct {
	URL          string `yaml:"url"`
	StartTLS     bool   `yaml:"start_tls"`
	AllowPlain   bool   `yaml:"allow_plain"`
	BindDN       string `yaml:"bind_dn"`
	PasswordFile string `yaml:"password_file"`
	PasswordEnv  string `yaml:"password_env"`
	BaseDN       string `yaml:"base_dn"`
	Filter       string `yaml:"filter"`
	Attribute    string `yaml:"attribute"`
	Value        string `yaml:"value"`
}

type hookConfig struct {
	URL        string `yaml:"url"`
	SecretFile string `yaml:"secret_file"`
	SecretEnv  string `yaml:"secret_env"`
}

// LoadRespondConfig reads and checks a deactivation configuration file; every adapter it names
// is built, so a mistake shows at start.
func LoadRespondConfig(path string) (*RespondConfig, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("deactivation config: %w", err)
	}
	var c RespondConfig
	if _, err := yamlx.Decode(path, data, &c); err != nil {
		return nil, fmt.Errorf("deactivation config: %w", err)
	}
	c.dir = filepath.Dir(path)
	if _, err := c.Options(); err != nil {
		return nil, fmt.Errorf("deactivation config %s: %w", path, err)
	}
	return &c, nil
}

// Options builds the responder options (adapters and policy) the configuration describes; a
// nil configuration is the dry run.
func (c *RespondConfig) Options() (respond.Options, error) {
	if c == nil {
		return respond.Options{Adapter: &respond.DryRun{}}, nil
	}
	def, err := c.adapterConfig.build(c.dir)
	if err != nil {
		return respond.Options{}, err
	}
	opts := respond.Options{Adapter: def, OrgAdapters: map[string]respond.Adapter{},
		Policy: respond.Policy{AllowList: c.AllowList, MaxPerHour: c.MaxPerHour}}
	for org, ac := range c.Orgs {
		a, err := ac.build(c.dir)
		if err != nil {
			return respond.Options{}, fmt.Errorf("orgs: %s: %w", org, err)
		}
		opts.OrgAdapters[org] = a
	}
	if c.MaxPerHour < 0 {
		return respond.Options{}, errors.New("max_per_hour must not be negative")
	}
	return opts, nil
}

func (a adapterConfig) build(dir string) (respond.Adapter, error) {
	switch a.Adapter {
	case "", "dryrun":
		return &respond.DryRun{}, nil
	case "scim":
		if a.SCIM == nil {
			return nil, errors.New("adapter scim needs a scim: section")
		}
		tok, err := readSecret(dir, "scim token", a.SCIM.TokenFile, a.SCIM.TokenEnv)
		if err != nil {
			return nil, err
		}
		return scim.New(scim.Config{BaseURL: a.SCIM.BaseURL, Token: tok})
	case "ldap":
		l := a.LDAP
		if l == nil {
			return nil, errors.New("adapter ldap needs an ldap: section")
		}
		pw, err := readSecret(dir, "ldap password", l.PasswordFile, l.PasswordEnv)
		if err != nil {
			return nil, err
		}
		return ldap.New(ldap.Config{URL: l.URL, StartTLS: l.StartTLS, AllowPlain: l.AllowPlain, BindDN: l.BindDN, BindPassword: pw,
			BaseDN: l.BaseDN, Filter: l.Filter, Attribute: l.Attribute, Value: l.Value})
	case "webhook":
		if a.Webhook == nil {
			return nil, errors.New("adapter webhook needs a webhook: section")
		}
		sec, err := readSecret(dir, "webhook secret", a.Webhook.SecretFile, a.Webhook.SecretEnv)
		if err != nil {
			return nil, err
		}
		return webhook.New(webhook.Config{URL: a.Webhook.URL, Secret: []byte(sec)})
	}
	return nil, fmt.Errorf("unknown adapter %q (dryrun, scim, ldap or webhook)", a.Adapter)
}

// readSecret reads a secret from a file (relative to dir) or an environment variable.
func readSecret(dir, what, file, env string) (string, error) {
	switch {
	case file != "" && env != "":
		return "", fmt.Errorf("%s: give a file or an env variable, not both", what)
	case file != "":
		if !filepath.IsAbs(file) {
			file = filepath.Join(dir, file)
		}
		b, err := secretfile.Read(file)
		if err != nil {
			return "", fmt.Errorf("%s: %w", what, err)
		}
		if s := strings.TrimSpace(string(b)); s != "" {
			return s, nil
		}
		return "", fmt.Errorf("%s: %s is empty", what, file)
	case env != "":
		if s := strings.TrimSpace(os.Getenv(env)); s != "" {
			return s, nil
		}
		return "", fmt.Errorf("%s: environment variable %s is empty", what, env)
	}
	return "", fmt.Errorf("%s: set a file or an env variable", what)
}

// HistoryAuditor writes the responder's audit entries into the history audit log.
func HistoryAuditor(s *history.Store) respond.Auditor { return historyAuditor{s} }

type historyAuditor struct{ s *history.Store }

func (a historyAuditor) Audit(ctx context.Context, e respond.Entry) error {
	detail := fmt.Sprintf("org=%s incident=%s request=%s adapter=%s result=%s", e.Org, e.Incident, e.Request, e.Adapter, e.Result)
	return a.s.Audit(ctx, history.AuditEntry{Time: e.Time, Actor: e.Actor, Action: e.Action, Target: e.Account, Org: e.Org, Reason: e.Detail, Detail: detail})
}

// EngineConfig is how a process runs the deactivation engine beside its Stores.
type EngineConfig struct {
	Respond *RespondConfig // nil: the dry run
	// Replicas, when the process runs stages, makes sure the responses bucket exists with
	// them (respond.EnsureBucket); people's commands (Replicas < 0) only bind the bucket and
	// create it (single replica) only where no notifier has: an operator may use it, not make it.
	Replicas    int
	CallTimeout time.Duration // per adapter call; 0: respond's default
	Clock       func() time.Time
	Logger      *slog.Logger
	Registerer  prometheus.Registerer
}

// Engine builds the deactivation engine over the responses bucket of s, auditing into its
// history: the one constructor of the notifier stage and of people's commands (`breachd
// incidents deactivate|approve|reactivate`).
func (s Stores) Engine(ctx context.Context, cfg EngineConfig) (*respond.Engine, error) {
	opts, err := cfg.Respond.Options()
	if err != nil {
		return nil, fmt.Errorf("deactivation: %w", err)
	}
	opts.Auditor, opts.Clock, opts.Logger, opts.Registerer = HistoryAuditor(s.History), cfg.Clock, cfg.Logger, cfg.Registerer
	opts.CallTimeout = cfg.CallTimeout
	if err := ensureResponses(ctx, s.JS, cfg.Replicas); err != nil {
		return nil, err
	}
	e, err := respond.New(ctx, s.JS, opts)
	if err != nil {
		return nil, fmt.Errorf("deactivation: %w", err)
	}
	return e, nil
}

// ensureResponses makes sure the responses bucket exists: with replicas where stages run
// (replicas >= 0), else binding it and creating it only where it is missing.
func ensureResponses(ctx context.Context, js jetstream.JetStream, replicas int) error {
	if replicas >= 0 {
		return respond.EnsureBucket(ctx, js, replicas, 0)
	}
	_, err := js.KeyValue(ctx, respond.Bucket)
	switch {
	case errors.Is(err, jetstream.ErrBucketNotFound):
		return respond.EnsureBucket(ctx, js, 0, 0)
	case err != nil:
		return fmt.Errorf("bucket %s: %w", respond.Bucket, err)
	}
	return nil
}

// PeopleEngine builds the deactivation engine of a person's command configured by file
// (empty: the dry run) through Stores.Engine.
func PeopleEngine(ctx context.Context, file string, s Stores, log *slog.Logger) (*respond.Engine, error) {
	cfg := EngineConfig{Replicas: -1, Logger: log}
	if file != "" {
		var err error
		if cfg.Respond, err = LoadRespondConfig(file); err != nil {
			return nil, err
		}
	}
	return s.Engine(ctx, cfg)
}
