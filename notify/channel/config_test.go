package channel

import (
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"breachd/yamlx"
)

func TestParseConfigErrorsNameTheLine(t *testing.T) {
	t.Setenv("TEST_HOOK_SECRET", "s")
	t.Setenv("TEST_EMPTY", "")
	_, kv := startKV(t)
	cases := []struct {
		name, yaml, want string
	}{
		{"unknown key", `
channels:
  - name: hook
    webhook: {url: "http://127.0.0.1:1", secret_env: TEST_HOOK_SECRET, sekret: x}
default: {channels: [hook]}`, `config:4: field sekret not found`},
		{"unknown route channel", `
channels:
  - name: hook
    webhook: {url: "http://127.0.0.1:1", secret_env: TEST_HOOK_SECRET}
routes:
  - min_severity: high
    channels: [hook,
               pager]
default: {channels: [hook]}`, `config:8: routes[0].channels[1]: unknown channel "pager"`},
		{"bad severity", `
channels:
  - name: hook
    webhook: {url: "http://127.0.0.1:1", secret_env: TEST_HOOK_SECRET}
routes:
  - {min_severity: urgent, channels: [hook]}
default: {channels: [hook]}`, `config:6: routes[0]: min_severity "urgent"`},
		{"bad glob", `
channels:
  - name: hook
    webhook: {url: "http://127.0.0.1:1", secret_env: TEST_HOOK_SECRET}
routes:
  - {orgs: ["[oslo"], channels: [hook]}
default: {channels: [hook]}`, `config:6: routes[0]: pattern "[oslo"`},
		{"no default", `
channels:
  - name: hook
    webhook: {url: "http://127.0.0.1:1", secret_env: TEST_HOOK_SECRET}`, `config: default: missing`},
		{"secret env unset", `
channels:
  - name: hook
    webhook:
      url: "http://127.0.0.1:1"
      secret_env: TEST_EMPTY
default: {channels: [hook]}`, `config:6: channels[0].webhook.secret_env: environment variable TEST_EMPTY is unset or empty`},
		{"no secret", `
channels:
  - name: hook
    webhook: {url: "http://127.0.0.1:1"}
default: {channels: [hook]}`, `config:4: channels[0].webhook: secret required: set secret_env or secret_file`},
		{"two types", `
channels:
  - name: hook
    slack: {url: "http://127.0.0.1:1"}
    teams: {url: "http://127.0.0.1:1"}
default: {channels: [hook]}`, `config:3: channels[0]: channel "hook" needs exactly one of`},
		{"duplicate name", `
channels:
  - name: hook
    slack: {url: "http://127.0.0.1:1"}
  - name: hook
    teams: {url: "http://127.0.0.1:1"}
default: {channels: [hook]}`, `config:5: channels[1].name: channel "hook" defined twice`},
		{"bad name", `
channels:
  - name: "soc mail"
    slack: {url: "http://127.0.0.1:1"}
default: {channels: [hook]}`, `config:3: channels[0].name: name "soc mail"`},
		{"bad email address", `
channels:
  - name: mail
    email: {host: smtp.example.org, from: "not an address", to: [soc@example.org]}
default: {channels: [mail]}`, `config:4: channels[0].email: email mail: from "not an address"`},
		{"nats wildcard", `
channels:
  - name: bus
    nats: {subject_prefix: "breachd.>"}
default: {channels: [bus]}`, `config:4: channels[0].nats.subject_prefix`},
		{"negative retry", `
retry: {max_attempts: 3,
        initial: -1s}
channels:
  - name: hook
    slack: {url: "http://127.0.0.1:1"}
default: {channels: [hook]}`, `config:3: retry.initial: must not be negative`},
		{"empty", ``, `config: empty document`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := ParseConfig([]byte(c.yaml), Options{KV: kv, JS: nil, Logger: quietLogger()})
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("err = %v\nwant it to contain %q", err, c.want)
			}
			t.Log(err)
			var ce *yamlx.Error
			if !errors.As(err, &ce) {
				t.Fatalf("err is %T, want *yamlx.Error", err)
			}
			if strings.Contains(err.Error(), "=s") {
				t.Fatalf("error leaks a secret: %v", err)
			}
		})
	}
}

func TestLoadConfigFull(t *testing.T) {
	s, kv := startKV(t)
	dir := t.TempDir()
	write := func(name, content string) {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	write("slack-url", "http://127.0.0.1:1/services/x\n")
	t.Setenv("TEST_TEAMS_URL", "http://127.0.0.1:1/workflows/x")
	t.Setenv("TEST_HOOK_SECRET", "s3cret")
	write("notify.yaml", `
link_base: https://breachd.example.org
retry: {max_attempts: 4, initial: 2s, max: 30s, max_elapsed: 2m, attempt_timeout: 5s}
channels:
  - name: hook
    webhook: {url: "http://127.0.0.1:1/hook", secret_env: TEST_HOOK_SECRET}
  - name: slack
    slack: {url_file: slack-url}
  - name: teams
    teams: {url_env: TEST_TEAMS_URL}
  - name: bus
    nats: {}
routes:
  - {kinds: ["*"], channels: [bus], continue: true}
  - {min_severity: critical, channels: [teams, hook]}
  - {orgs: ["*.kommune.no"], tags: [guardian], channels: [slack]}
default: {channels: [hook]}
`)
	d, err := LoadConfig(filepath.Join(dir, "notify.yaml"), Options{KV: kv, JS: s.JS, Logger: quietLogger()})
	if err != nil {
		t.Fatal(err)
	}
	want := RetryPolicy{MaxAttempts: 4, Initial: 2e9, Max: 30e9, MaxElapsed: 120e9, AttemptTimeout: 5e9}
	if d.retry != want {
		t.Fatalf("retry = %+v, want %+v", d.retry, want)
	}
	if d.linkBase != "https://breachd.example.org" {
		t.Fatalf("link base = %q", d.linkBase)
	}
	m := testMessage()
	if got := d.Route(&m); !slices.Equal(got, []string{"bus", "slack"}) {
		t.Fatalf("route = %v", got)
	}
	if c, ok := d.channels["slack"].ch.(*Chat); !ok || c.url != "http://127.0.0.1:1/services/x" || c.flavour != FlavourSlack {
		t.Fatalf("slack channel = %#v", d.channels["slack"].ch)
	}
	if c, ok := d.channels["teams"].ch.(*Chat); !ok || c.flavour != FlavourTeams || c.url != "http://127.0.0.1:1/workflows/x" {
		t.Fatalf("teams channel = %#v", d.channels["teams"].ch)
	}
	if _, err := LoadConfig(filepath.Join(dir, "missing.yaml"), Options{KV: kv}); err == nil || !strings.Contains(err.Error(), "missing.yaml") {
		t.Fatalf("err = %v", err)
	}
	// A secret file others can read is refused, naming the setting and the fix.
	slackURL := filepath.Join(dir, "slack-url")
	if err := os.Chmod(slackURL, 0o644); err != nil {
		t.Fatal(err)
	}
	_, err = LoadConfig(filepath.Join(dir, "notify.yaml"), Options{KV: kv, JS: s.JS, Logger: quietLogger()})
	var ce *yamlx.Error
	if !errors.As(err, &ce) || ce.Key == "" || !strings.Contains(ce.Key, "url_file") || !strings.Contains(err.Error(), "chmod 600 "+slackURL) {
		t.Fatalf("url_file readable by others: %v; want a yamlx.Error at url_file saying chmod 600 %s", err, slackURL)
	}
	if strings.Contains(err.Error(), "services/x") {
		t.Fatalf("the error leaks the secret URL: %v", err)
	}
}
