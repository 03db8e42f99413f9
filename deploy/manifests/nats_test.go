package manifests

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/compose-spec/compose-go/v2/dotenv"
	"github.com/compose-spec/compose-go/v2/types"
	"github.com/nats-io/nats-server/v2/server"
	"sigs.k8s.io/yaml"

	"breachd/deploy"
)

var update = flag.Bool("update", false, "rewrite the generated NATS configurations from deploy.NATSPermissions")

const (
	composeAccounts = "../compose/nats-accounts.conf"
	natsValues      = "../k8s/nats/values.yaml"
	root            = "../.."
)

// natsRoles are the account's users in the order the files list them; admin is unrestricted.
var natsRoles = []string{deploy.NATSAdmin, deploy.NATSPipeline, deploy.NATSOperator, deploy.NATSReplay, deploy.NATSAPI}

// passwordVar is the environment variable holding role's password, in both configurations.
func passwordVar(role string) string { return "NATS_" + strings.ToUpper(role) + "_PASSWORD" }

// externalPermissions are role's permissions on a NATS of one's own: those of the embedded
// server, with replies on the default _INBOX prefix (as deploy/nats-server.conf.example).
func externalPermissions(t *testing.T, role string) (pub, sub []string, deny []string) {
	t.Helper()
	p, s, ok := deploy.NATSPermissions(role)
	if !ok {
		t.Fatalf("no permissions for %s", role)
	}
	return p.Allow, append([]string{"_INBOX.>"}, s.Allow[1:]...), p.Deny
}

// renderComposeAccounts is deploy/compose/nats-accounts.conf.
func renderComposeAccounts(t *testing.T) string {
	var b strings.Builder
	b.WriteString(`# The account BREACHD and its users for the Compose stack's nats-servers, with the permissions
# breachd's embedded server gives each (deploy/natsperm.go; deploy/README.md, "NATS in
# production"). Generated: go test ./deploy/manifests -update. Passwords from the servers'
# environment (compose.yaml, from .env).

accounts {
  BREACHD {
    jetstream: enabled
    users: [
      # admin: unrestricted (stream purge and delete, consumer removal). Not used by breachd.
`)
	for _, role := range natsRoles {
		if role == deploy.NATSAdmin {
			fmt.Fprintf(&b, "      { user: %s, password: $%s }\n", role, passwordVar(role))
			continue
		}
		pub, sub, deny := externalPermissions(t, role)
		fmt.Fprintf(&b, "      { user: %s, password: $%s, permissions: {\n", role, passwordVar(role))
		b.WriteString("          publish: {\n            allow: [\n")
		for _, s := range pub {
			fmt.Fprintf(&b, "              %q\n", s)
		}
		b.WriteString("            ]\n            deny: [\n")
		for _, s := range deny {
			fmt.Fprintf(&b, "              %q\n", s)
		}
		quoted := make([]string, len(sub))
		for i, s := range sub {
			quoted[i] = fmt.Sprintf("%q", s)
		}
		fmt.Fprintf(&b, "            ]\n          }\n          subscribe: { allow: [%s] }\n      } }\n", strings.Join(quoted, ", "))
	}
	b.WriteString("    ]\n  }\n}\n")
	return b.String()
}

// natsValuesTemplate is deploy/k8s/nats/values.yaml but for the account's users ({{ACCOUNT}})
// and their passwords' environment ({{ENV}}), generated from deploy.NATSPermissions.
const natsValuesTemplate = `# Values for the NATS maintainers' Helm chart (nats-io/k8s, chart "nats", 1.x): a cluster of
# three servers with JetStream on persistent volumes and the account BREACHD with breachd's
# users and their permissions (those of deploy/nats-server.conf.example). Install it before
# breachd, in the same namespace, with the release name nats (the manifests' URLs and
# network policies use nats-0.nats-headless … and the chart's label app.kubernetes.io/name:
# nats):
#
#   helm repo add nats https://nats-io.github.io/k8s/helm/charts/
#   helm install nats nats/nats --namespace breachd -f deploy/k8s/nats/values.yaml
#
# The passwords come from the secret breachd-nats (deploy/k8s/kustomization.yaml): apply the
# kustomization's secrets first (kubectl apply -k deploy/k8s creates them with the rest).
# Generated, with the account's users from deploy.NATSPermissions: go test ./deploy/manifests
# -update (edit natsValuesTemplate in deploy/manifests/nats_test.go, not this file). Checked
# against the chart's values as known, not rendered with the chart (it is not fetched here);
# the account block is read back by nats-server's own parser.
config:
  cluster:
    enabled: true
    replicas: 3
  jetstream:
    enabled: true
    memoryStore:
      enabled: false
    fileStore:
      enabled: true
      dir: /data
      maxSize: 18G
      pvc:
        enabled: true
        size: 20Gi
  monitor:
    enabled: true
    port: 8222
  # The account BREACHD, rendered by the chart into nats.conf; << $VAR >> stays unquoted
  # there, so nats-server takes the password from the environment.
  merge:
    accounts:
      BREACHD:
        jetstream: enabled
        users:
{{ACCOUNT}}container:
  image:
    repository: nats
    tag: 2.15.2-alpine
  # The users' passwords, from the secret breachd-nats.
  env:
{{ENV}}  # Stream data is cached in the servers (8 MB blocks, kept 10 s after use) and the duplicate
  # window (24 h of message ids, 50-150 bytes an event) is held in memory: about 1 GB at a
  # sustained 100 events/s (deploy/README.md, "Memory of the all-in-one process").
  merge:
    resources:
      requests: {cpu: "1", memory: 2Gi}
      limits: {memory: 4Gi}
    securityContext:
      allowPrivilegeEscalation: false
      readOnlyRootFilesystem: true
      capabilities: {drop: [ALL]}
reloader:
  enabled: true
  merge:
    securityContext:
      allowPrivilegeEscalation: false
      readOnlyRootFilesystem: true
      capabilities: {drop: [ALL]}
podTemplate:
  merge:
    spec:
      automountServiceAccountToken: false
      securityContext:
        runAsNonRoot: true
        runAsUser: 1000
        runAsGroup: 1000
        fsGroup: 1000
        seccompProfile: {type: RuntimeDefault}
natsBox:
  enabled: false
podDisruptionBudget:
  enabled: true
`

// renderNATSValues is deploy/k8s/nats/values.yaml.
func renderNATSValues(t *testing.T) string {
	var env, acc strings.Builder
	for _, role := range natsRoles {
		fmt.Fprintf(&env, "    %s:\n      valueFrom:\n        secretKeyRef: {name: breachd-nats, key: %s-password}\n", passwordVar(role), role)
		fmt.Fprintf(&acc, "          - user: %s\n            password: << $%s >>\n", role, passwordVar(role))
		if role == deploy.NATSAdmin {
			continue
		}
		pub, sub, deny := externalPermissions(t, role)
		acc.WriteString("            permissions:\n              publish:\n                allow:\n")
		for _, s := range pub {
			fmt.Fprintf(&acc, "                  - %q\n", s)
		}
		acc.WriteString("                deny:\n")
		for _, s := range deny {
			fmt.Fprintf(&acc, "                  - %q\n", s)
		}
		acc.WriteString("              subscribe:\n                allow:\n")
		for _, s := range sub {
			fmt.Fprintf(&acc, "                  - %q\n", s)
		}
	}
	return strings.NewReplacer("{{ACCOUNT}}", acc.String(), "{{ENV}}", env.String()).Replace(natsValuesTemplate)
}

// TestNATSGenerated: the generated files are what deploy.NATSPermissions says.
func TestNATSGenerated(t *testing.T) {
	for file, want := range map[string]string{composeAccounts: renderComposeAccounts(t), natsValues: renderNATSValues(t)} {
		if *update {
			if err := os.WriteFile(file, []byte(want), 0o644); err != nil {
				t.Fatal(err)
			}
		}
		got, err := os.ReadFile(file)
		if err != nil {
			t.Fatal(err)
		}
		if string(got) != want {
			t.Errorf("%s is not what deploy.NATSPermissions says: go test ./deploy/manifests -run TestNATSGenerated -update", file)
		}
	}
}

// checkNATSUsers checks the users nats-server read: every role in the account BREACHD with
// its password from the environment and exactly its permissions.
func checkNATSUsers(t *testing.T, opts *server.Options, passwords map[string]string) {
	t.Helper()
	seen := map[string]bool{}
	for _, u := range opts.Users {
		seen[u.Username] = true
		if u.Account == nil || u.Account.Name != "BREACHD" {
			t.Errorf("user %s is not in account BREACHD", u.Username)
		}
		if u.Password != passwords[u.Username] {
			t.Errorf("user %s: password is not the one of $%s", u.Username, passwordVar(u.Username))
		}
		if u.Username == deploy.NATSAdmin {
			if u.Permissions != nil {
				t.Errorf("admin has restrictions: %+v", u.Permissions)
			}
			continue
		}
		pub, sub, deny := externalPermissions(t, u.Username)
		if u.Permissions == nil || !slices.Equal(u.Permissions.Publish.Allow, pub) ||
			!slices.Equal(u.Permissions.Publish.Deny, deny) || !slices.Equal(u.Permissions.Subscribe.Allow, sub) {
			t.Errorf("%s: permissions as read by nats-server differ from deploy.NATSPermissions", u.Username)
		}
	}
	for _, role := range natsRoles {
		if !seen[role] {
			t.Errorf("no user %s", role)
		}
	}
}

// setPasswords sets a distinct password for every role in the environment.
func setPasswords(t *testing.T) map[string]string {
	pw := map[string]string{}
	for _, role := range natsRoles {
		pw[role] = "pw-" + role + "-0123456789"
		t.Setenv(passwordVar(role), pw[role])
	}
	return pw
}

// TestComposeNATSConfig: each of the Compose stack's NATS services, with its own environment
// and its configs where compose.yaml mounts them, is read by nats-server as a member of a
// three-node JetStream cluster with the account's users and the passwords of .env; every
// route and the breachd URLs name a NATS service.
func TestComposeNATSConfig(t *testing.T) {
	p, err := LoadCompose(context.Background(), root, nil)
	if err != nil {
		t.Fatal(err)
	}
	env, err := dotenv.Read(filepath.Join(root, ComposeEnv))
	if err != nil {
		t.Fatal(err)
	}
	pw := map[string]string{}
	for _, role := range natsRoles {
		pw[role] = env[passwordVar(role)]
	}
	var servers []string
	for _, name := range slices.Sorted(maps.Keys(p.Services)) {
		s := p.Services[name]
		if !strings.HasPrefix(s.Image, "nats:") {
			continue
		}
		servers = append(servers, name)
		// The configs as the container sees them: nats.conf's include is relative to it.
		etc := t.TempDir()
		var conf string
		for _, c := range s.Configs {
			if filepath.Dir(c.Target) != "/etc/nats" {
				t.Errorf("%s: config %s at %s: want it beside nats.conf in /etc/nats", name, c.Source, c.Target)
			}
			b, err := os.ReadFile(p.Configs[c.Source].File)
			if err != nil {
				t.Fatal(err)
			}
			local := filepath.Join(etc, filepath.Base(c.Target))
			if err := os.WriteFile(local, b, 0o600); err != nil {
				t.Fatal(err)
			}
			if slices.Contains(s.Command, c.Target) {
				conf = local
			}
		}
		if conf == "" {
			t.Fatalf("%s: command %v names no mounted config", name, s.Command)
		}
		for _, kv := range os.Environ() { // the container's environment only
			if k, _, _ := strings.Cut(kv, "="); strings.HasPrefix(k, "NATS_") {
				t.Setenv(k, "")
				os.Unsetenv(k)
			}
		}
		for k, v := range s.Environment {
			if v != nil {
				t.Setenv(k, *v)
			}
		}
		opts, err := server.ProcessConfigFile(conf)
		if err != nil {
			t.Fatalf("%s: nats-server cannot read its configuration: %v", name, err)
		}
		if opts.ServerName != name || !opts.JetStream || opts.StoreDir != "/data/jetstream" || opts.Port != 4222 || opts.HTTPPort != 8222 {
			t.Errorf("%s: server %q, jetstream %v in %q, port %d, monitoring %d", name, opts.ServerName, opts.JetStream, opts.StoreDir, opts.Port, opts.HTTPPort)
		}
		if !slices.ContainsFunc(s.Volumes, func(v types.ServiceVolumeConfig) bool { return v.Type == "volume" && v.Target == "/data" }) {
			t.Errorf("%s: the JetStream store /data/jetstream is not on a volume", name)
		}
		var routes []string
		for _, r := range opts.Routes {
			routes = append(routes, r.Hostname())
			if r.Port() != "6222" {
				t.Errorf("%s: route %s: want port 6222", name, r.Host)
			}
		}
		if opts.Cluster.Name != "breachd" || opts.Cluster.Port != 6222 || !slices.Equal(routes, []string{"nats-1", "nats-2", "nats-3"}) {
			t.Errorf("%s: cluster %q on %d, routes to %v", name, opts.Cluster.Name, opts.Cluster.Port, routes)
		}
		checkNATSUsers(t, opts, pw)
		checkLameDuck(t, name, s, opts)
	}
	if !slices.Equal(servers, []string{"nats-1", "nats-2", "nats-3"}) {
		t.Errorf("NATS services %v, want nats-1, nats-2, nats-3 (the routes and breachd's URLs)", servers)
	}
}

// checkLameDuck: with lame duck mode configured, the service is stopped with the signal that
// starts it and given the time it takes. nats-server enters lame duck mode on SIGUSR2 only
// (SIGTERM and SIGINT shut it down at once: server/signal.go), then moves its Raft leaders
// (a second), shuts JetStream down, waits lame_duck_grace_period and closes its clients
// until lame_duck_duration has passed (server.go, lameDuckMode); the margin is for the part
// before the grace period.
func checkLameDuck(t *testing.T, name string, s types.ServiceConfig, opts *server.Options) {
	t.Helper()
	if opts.LameDuckDuration <= 0 {
		return
	}
	const margin = 10 * time.Second
	var grace time.Duration
	if s.StopGracePeriod != nil {
		grace = time.Duration(*s.StopGracePeriod)
	}
	if s.StopSignal != "SIGUSR2" || grace < opts.LameDuckDuration+margin {
		t.Errorf("%s: lame_duck_duration %s: want stop_signal SIGUSR2 (SIGTERM stops nats-server at once) and stop_grace_period %s or more; have %q, %s",
			name, opts.LameDuckDuration, opts.LameDuckDuration+margin, s.StopSignal, grace)
	}
}

// TestNATSValues: the values for the chart keep to the chart's keys as known (1.x), set up a
// three-node JetStream cluster on volumes, take every password from the secret, and the
// account block, rendered as the chart renders config.merge, is read by nats-server with the
// right users and permissions.
func TestNATSValues(t *testing.T) {
	b, err := os.ReadFile(natsValues)
	if err != nil {
		t.Fatal(err)
	}
	var v map[string]any
	if err := yaml.UnmarshalStrict(b, &v); err != nil {
		t.Fatalf("%s: %v", natsValues, err)
	}
	// The chart's keys this file uses (nats-io/k8s helm/charts/nats, 1.x: values.yaml and
	// files/): a misspelt or moved key would be ignored by helm without a word.
	known := []string{
		"config.cluster.enabled", "config.cluster.replicas",
		"config.jetstream.enabled", "config.jetstream.memoryStore.enabled",
		"config.jetstream.fileStore.enabled", "config.jetstream.fileStore.dir", "config.jetstream.fileStore.maxSize",
		"config.jetstream.fileStore.pvc.enabled", "config.jetstream.fileStore.pvc.size",
		"config.monitor.enabled", "config.monitor.port", "config.merge.*",
		"container.image.repository", "container.image.tag", "container.env.*", "container.merge.*",
		"reloader.enabled", "reloader.merge.*", "podTemplate.merge.*",
		"natsBox.enabled", "podDisruptionBudget.enabled",
	}
	for _, p := range leafPaths("", v) {
		if !slices.ContainsFunc(known, func(k string) bool {
			return k == p || strings.HasSuffix(k, ".*") && strings.HasPrefix(p, strings.TrimSuffix(k, "*"))
		}) {
			t.Errorf("%s: %s is not a key of the nats chart's values as known", natsValues, p)
		}
	}
	get := func(path string) any {
		var cur any = v
		for _, k := range strings.Split(path, ".") {
			m, _ := cur.(map[string]any)
			cur = m[k]
		}
		return cur
	}
	for path, want := range map[string]any{
		"config.cluster.enabled": true, "config.cluster.replicas": 3.0, "config.jetstream.enabled": true,
		"config.jetstream.fileStore.enabled": true, "config.jetstream.fileStore.pvc.enabled": true,
		"config.monitor.port": 8222.0, "podDisruptionBudget.enabled": true,
	} {
		if got := get(path); got != want {
			t.Errorf("%s = %v, want %v", path, got, want)
		}
	}
	if tag, _ := get("container.image.tag").(string); !regexp.MustCompile(`^2\.(1[1-9]|[2-9]\d)\.\d+`).MatchString(tag) {
		t.Errorf("container.image.tag %q: want nats 2.11 or newer, pinned", tag)
	}
	// Every password the account names comes from the secret breachd-nats.
	env, _ := get("container.env").(map[string]any)
	for _, role := range natsRoles {
		ref, _ := get("container.env." + passwordVar(role) + ".valueFrom.secretKeyRef").(map[string]any)
		if ref["name"] != "breachd-nats" || ref["key"] != role+"-password" {
			t.Errorf("container.env.%s: %v, want the secret breachd-nats key %s-password", passwordVar(role), env[passwordVar(role)], role)
		}
	}

	// The chart renders the configuration with config.merge into nats.conf as JSON without
	// HTML escapes (sprig's toPrettyRawJson), then unquotes "<< X >>" to X (its helper
	// nats.formatConfig): the same here.
	merged := map[string]any{"server_name": "nats-0", "port": 4222,
		"jetstream": map[string]any{"store_dir": t.TempDir()}}
	for k, val := range get("config.merge").(map[string]any) {
		merged[k] = val
	}
	var js bytes.Buffer
	enc := json.NewEncoder(&js)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	if err := enc.Encode(merged); err != nil {
		t.Fatal(err)
	}
	conf := regexp.MustCompile(`"<<\s+(.*)\s+>>"`).ReplaceAllString(js.String(), "${1}")
	file := filepath.Join(t.TempDir(), "nats.conf")
	if err := os.WriteFile(file, []byte(conf), 0o600); err != nil {
		t.Fatal(err)
	}
	pw := setPasswords(t)
	opts, err := server.ProcessConfigFile(file)
	if err != nil {
		t.Fatalf("nats-server cannot read the account of %s as the chart renders it: %v", natsValues, err)
	}
	checkNATSUsers(t, opts, pw)
}

// leafPaths lists the dotted paths of v's leaves (a list is a leaf).
func leafPaths(prefix string, v any) []string {
	m, ok := v.(map[string]any)
	if !ok {
		return []string{strings.TrimPrefix(prefix, ".")}
	}
	var out []string
	for k, c := range m {
		out = append(out, leafPaths(prefix+"."+k, c)...)
	}
	return out
}
