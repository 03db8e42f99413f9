package channel

import (
	"crypto/x509"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"time"

	"breachd/event"
	"breachd/secretfile"
	"breachd/yamlx"
)

// fileConfig is the YAML document (see the package documentation for an example).
type fileConfig struct {
	LinkBase string          `yaml:"link_base"`
	Retry    retryConfig     `yaml:"retry"`
	Channels []channelConfig `yaml:"channels"`
	Routes   []routeConfig   `yaml:"routes"`
	Default  *defaultConfig  `yaml:"default"`
}

type retryConfig struct {
	MaxAttempts    int           `yaml:"max_attempts"`
	Initial        time.Duration `yaml:"initial"`
	Max            time.Duration `yaml:"max"`
	MaxElapsed     time.Duration `yaml:"max_elapsed"`
	AttemptTimeout time.Duration `yaml:"attempt_timeout"`
}

// channelConfig has a name and exactly one type block.
type channelConfig struct {
	Name    string         `yaml:"name"`
	Webhook *webhookConfig `yaml:"webhook"`
	Slack   *chatConfig    `yaml:"slack"`
	Teams   *chatConfig    `yaml:"teams"`
	Email   *emailConfig   `yaml:"email"`
	NATS    *natsConfig    `yaml:"nats"`
}

type webhookConfig struct {
	URL        string `yaml:"url"`
	SecretEnv  string `yaml:"secret_env"`
	SecretFile string `yaml:"secret_file"`
}

// chatConfig: the incoming webhook URL holds a token, so it may come from env or a file.
type chatConfig struct {
	URL     string `yaml:"url"`
	URLEnv  string `yaml:"url_env"`
	URLFile string `yaml:"url_file"`
}

type emailConfig struct {
	Host         string   `yaml:"host"`
	Port         int      `yaml:"port"`
	TLS          string   `yaml:"tls"`
	Username     string   `yaml:"username"`
	PasswordEnv  string   `yaml:"password_env"`
	PasswordFile string   `yaml:"password_file"`
	From         string   `yaml:"from"`
	To           []string `yaml:"to"`
	CAFile       string   `yaml:"ca_file"`
	HelloName    string   `yaml:"hello_name"`
}

type natsConfig struct {
	SubjectPrefix string `yaml:"subject_prefix"`
	Core          bool   `yaml:"core"`
}

type routeConfig struct {
	MinSeverity string   `yaml:"min_severity"`
	Orgs        []string `yaml:"orgs"`
	Tags        []string `yaml:"tags"`
	Kinds       []string `yaml:"kinds"`
	Channels    []string `yaml:"channels"`
	Continue    bool     `yaml:"continue"`
}

type defaultConfig struct {
	Channels []string `yaml:"channels"`
}

var nameRE = regexp.MustCompile(`^[A-Za-z0-9_-]{1,64}$`)

// LoadConfig reads the YAML file at path and builds a Dispatcher (see ParseConfig). Relative
// secret_file, url_file and ca_file paths are taken relative to the file's directory.
func LoadConfig(path string, opts Options) (*Dispatcher, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("notification config: %w", err)
	}
	return parse(path, filepath.Dir(path), data, opts)
}

// ParseConfig decodes a YAML configuration strictly (unknown keys are errors), reads the
// secrets it names, builds its channels and returns a Dispatcher over them. Errors are
// *yamlx.Error naming the line and key. Relative file paths are relative to the working
// directory.
func ParseConfig(data []byte, opts Options) (*Dispatcher, error) {
	return parse("config", ".", data, opts)
}

func parse(file, dir string, data []byte, opts Options) (*Dispatcher, error) {
	var fc fileConfig
	doc, err := yamlx.Decode(file, data, &fc)
	if err != nil {
		return nil, err
	}
	if opts.HTTP.Clock == nil {
		opts.HTTP.Clock = opts.Clock
	}
	b := builder{dir: dir, doc: doc, opts: opts}
	return b.build(&fc)
}

// builder turns a decoded config into a Dispatcher; doc places its errors.
type builder struct {
	dir  string
	doc  *yamlx.Doc
	opts Options
}

func (b *builder) build(fc *fileConfig) (*Dispatcher, error) {
	opts := b.opts
	if fc.LinkBase != "" {
		opts.LinkBase = fc.LinkBase
	}
	r := fc.Retry
	for _, f := range []struct {
		v   int64
		key string
	}{{int64(r.MaxAttempts), "max_attempts"}, {int64(r.Initial), "initial"}, {int64(r.Max), "max"},
		{int64(r.MaxElapsed), "max_elapsed"}, {int64(r.AttemptTimeout), "attempt_timeout"}} {
		if f.v < 0 {
			return nil, b.doc.At(errors.New("must not be negative"), "retry", f.key)
		}
	}
	opts.Retry = RetryPolicy{
		MaxAttempts: pick(r.MaxAttempts, opts.Retry.MaxAttempts), Initial: pick(r.Initial, opts.Retry.Initial),
		Max: pick(r.Max, opts.Retry.Max), MaxElapsed: pick(r.MaxElapsed, opts.Retry.MaxElapsed),
		AttemptTimeout: pick(r.AttemptTimeout, opts.Retry.AttemptTimeout),
	}

	var chans []Channel
	seen := map[string]bool{}
	for i := range fc.Channels {
		c := &fc.Channels[i]
		if !nameRE.MatchString(c.Name) {
			return nil, b.doc.At(fmt.Errorf("name %q: want 1-64 of [A-Za-z0-9_-]", c.Name), "channels", i, "name")
		}
		if seen[c.Name] {
			return nil, b.doc.At(fmt.Errorf("channel %q defined twice", c.Name), "channels", i, "name")
		}
		seen[c.Name] = true
		ch, err := b.channel(i, c)
		if err != nil {
			return nil, err
		}
		chans = append(chans, ch)
	}

	var router Router
	for i, rc := range fc.Routes {
		rt := Route{
			Match:    Match{MinSeverity: event.Severity(rc.MinSeverity), Orgs: rc.Orgs, Tags: rc.Tags, Kinds: rc.Kinds},
			Channels: rc.Channels, Continue: rc.Continue,
		}
		if err := rt.Match.validate(); err != nil {
			return nil, b.doc.At(err, "routes", i)
		}
		if err := b.refs(seen, rc.Channels, "routes", i, "channels"); err != nil {
			return nil, err
		}
		router.Routes = append(router.Routes, rt)
	}
	if fc.Default == nil {
		return nil, b.doc.At(errors.New("missing: every message needs somewhere to go when no route matches"), "default")
	}
	if err := b.refs(seen, fc.Default.Channels, "default", "channels"); err != nil {
		return nil, err
	}
	router.Default = fc.Default.Channels
	d, err := New(router, chans, opts)
	if err != nil {
		return nil, b.doc.At(err)
	}
	return d, nil
}

func pick[T comparable](v, fallback T) T {
	var zero T
	if v != zero {
		return v
	}
	return fallback
}

// refs checks a list of channel names: not empty, each defined.
func (b *builder) refs(defined map[string]bool, names []string, path ...any) error {
	if len(names) == 0 {
		return b.doc.At(errors.New("at least one channel required"), path...)
	}
	for j, n := range names {
		if !defined[n] {
			return b.doc.At(fmt.Errorf("unknown channel %q", n), append(path, j)...)
		}
	}
	return nil
}

// channel builds channels[i] from its one type block.
func (b *builder) channel(i int, c *channelConfig) (Channel, error) {
	var kinds []string
	for k, set := range map[string]bool{"webhook": c.Webhook != nil, "slack": c.Slack != nil,
		"teams": c.Teams != nil, "email": c.Email != nil, "nats": c.NATS != nil} {
		if set {
			kinds = append(kinds, k)
		}
	}
	if len(kinds) != 1 {
		return nil, b.doc.At(fmt.Errorf("channel %q needs exactly one of webhook, slack, teams, email, nats (has %d)", c.Name, len(kinds)), "channels", i)
	}
	at := func(err error, key ...any) error {
		return b.doc.At(err, append([]any{"channels", i, kinds[0]}, key...)...)
	}
	atKey := func(err error, key string) error { // key "" names the block
		if key == "" {
			return at(err)
		}
		return at(err, key)
	}
	var ch Channel
	var err error
	switch {
	case c.Webhook != nil:
		w := c.Webhook
		if w.URL == "" {
			return nil, at(errors.New("url required"), "url")
		}
		secret, key, serr := b.secret(w.SecretEnv, w.SecretFile, "secret")
		if serr != nil {
			return nil, atKey(serr, key)
		}
		ch, err = NewWebhook(c.Name, w.URL, []byte(secret), b.opts.HTTP)
	case c.Slack != nil || c.Teams != nil:
		flavour, cc := FlavourSlack, c.Slack
		if c.Teams != nil {
			flavour, cc = FlavourTeams, c.Teams
		}
		u := cc.URL
		if cc.URL != "" && (cc.URLEnv != "" || cc.URLFile != "") {
			return nil, at(errors.New("set one of url, url_env, url_file"), "url")
		}
		if u == "" {
			var key string
			if u, key, err = b.secret(cc.URLEnv, cc.URLFile, "url"); err != nil {
				return nil, atKey(err, key)
			}
		}
		ch, err = NewChat(c.Name, flavour, u, b.opts.HTTP)
	case c.Email != nil:
		e := c.Email
		o := EmailOptions{Host: e.Host, Port: e.Port, TLS: e.TLS, Username: e.Username, From: e.From, To: e.To,
			HelloName: e.HelloName, Clock: b.opts.Clock}
		if e.Username != "" {
			var key string
			if o.Password, key, err = b.secret(e.PasswordEnv, e.PasswordFile, "password"); err != nil {
				return nil, atKey(err, key)
			}
		} else if e.PasswordEnv != "" || e.PasswordFile != "" {
			return nil, at(errors.New("password given without username"), "username")
		}
		if e.CAFile != "" {
			pem, rerr := os.ReadFile(b.path(e.CAFile))
			if rerr != nil {
				return nil, at(rerr, "ca_file")
			}
			o.RootCAs = x509.NewCertPool()
			if !o.RootCAs.AppendCertsFromPEM(pem) {
				return nil, at(fmt.Errorf("%s holds no PEM certificate", e.CAFile), "ca_file")
			}
		}
		ch, err = NewEmail(c.Name, o)
	case c.NATS != nil:
		if p := c.NATS.SubjectPrefix; p != "" && (strings.ContainsAny(p, "*> \t") || strings.HasPrefix(p, ".") || strings.HasSuffix(p, ".")) {
			return nil, at(fmt.Errorf("subject_prefix %q: want a literal subject without wildcards", p), "subject_prefix")
		}
		ch, err = NewNATS(c.Name, b.opts.JS, c.NATS.SubjectPrefix, c.NATS.Core)
	}
	if err != nil {
		return nil, at(err)
	}
	return ch, nil
}

func (b *builder) path(p string) string {
	if filepath.IsAbs(p) {
		return p
	}
	return filepath.Join(b.dir, p)
}

// secret reads a secret from exactly one of an environment variable or a file (trailing
// newlines trimmed). Errors name the variable or file, never the value.
// The key returned names the offending setting for the error's line.
func (b *builder) secret(env, file, what string) (v, key string, err error) {
	switch {
	case env != "" && file != "":
		return "", what + "_file", fmt.Errorf("set %s_env or %s_file, not both", what, what)
	case env != "":
		if v = os.Getenv(env); v == "" {
			return "", what + "_env", fmt.Errorf("environment variable %s is unset or empty", env)
		}
		return v, "", nil
	case file != "":
		data, err := secretfile.Read(b.path(file))
		if err != nil {
			return "", what + "_file", err
		}
		if v = strings.TrimRight(string(data), "\r\n"); v == "" {
			return "", what + "_file", fmt.Errorf("%s is empty", file)
		}
		return v, "", nil
	}
	return "", "", fmt.Errorf("%s required: set %s_env or %s_file", what, what, what)
}
