package manifests

import (
	"context"
	"encoding/base64"
	"fmt"
	"io"
	"maps"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/compose-spec/compose-go/v2/types"
	"github.com/sirupsen/logrus"
)

// TestComposeLoads: compose-go, the loader of `docker compose`, accepts the file (schema,
// interpolation, normalisation, consistency) with the example environment, and refuses it
// without the passwords, naming where to set them.
func TestComposeLoads(t *testing.T) {
	if _, err := LoadCompose(context.Background(), root, nil); err != nil {
		t.Fatalf("compose-go refuses %s: %v", ComposeFile, err)
	}
	logrus.SetOutput(io.Discard) // compose-go's warnings for each unset variable
	t.Cleanup(func() { logrus.SetOutput(os.Stderr) })
	_, err := LoadCompose(context.Background(), root, map[string]string{})
	if err == nil || !strings.Contains(err.Error(), "env.example") {
		t.Fatalf("loaded without the passwords, or without saying where they go: %v", err)
	}
}

// imageTag matches an image pinned by a tag other than latest.
var imageTag = regexp.MustCompile(`^[a-z0-9./_-]+:[A-Za-z0-9._-]+$`)

// TestComposeServices checks what the loader does not: images, health checks, restarts,
// dependencies, the breachd processes' hardening, secrets, resources, flags and ports.
func TestComposeServices(t *testing.T) {
	p, err := LoadCompose(context.Background(), root, nil)
	if err != nil {
		t.Fatal(err)
	}
	versionAtLeast := func(name, image, prefix string, major, minor int) {
		m := regexp.MustCompile(`^` + regexp.QuoteMeta(prefix) + `:(\d+)\.(\d+)`).FindStringSubmatch(image)
		if m == nil {
			t.Errorf("%s: image %q: want %s:<version>", name, image, prefix)
			return
		}
		a, _ := strconv.Atoi(m[1])
		b, _ := strconv.Atoi(m[2])
		if a < major || a == major && b < minor {
			t.Errorf("%s: image %q: want %d.%d or newer", name, image, major, minor)
		}
	}
	cmds := map[string][]string{}
	for name, s := range p.Services {
		if !imageTag.MatchString(s.Image) || strings.HasSuffix(s.Image, ":latest") {
			t.Errorf("%s: image %q is not pinned by a tag", name, s.Image)
		}
		oneShot := name == "kafka-topics"
		switch {
		case oneShot && s.Restart != types.RestartPolicyNo:
			t.Errorf("%s: a one-shot job restarts (%q)", name, s.Restart)
		case !oneShot && s.Restart != types.RestartPolicyUnlessStopped && s.Restart != types.RestartPolicyAlways:
			t.Errorf("%s: restart %q: want unless-stopped", name, s.Restart)
		case !oneShot && (s.HealthCheck == nil || s.HealthCheck.Disable || len(s.HealthCheck.Test) < 2):
			t.Errorf("%s: no health check", name)
		}
		for dep, d := range s.DependsOn {
			want := types.ServiceConditionHealthy
			if dep == "kafka-topics" {
				want = types.ServiceConditionCompletedSuccessfully
			}
			if d.Condition != want {
				t.Errorf("%s: depends on %s with condition %q, want %q", name, dep, d.Condition, want)
			}
		}
		switch {
		case strings.HasPrefix(name, "nats-"):
			versionAtLeast(name, s.Image, "nats", 2, 11)
		case name == "clickhouse":
			versionAtLeast(name, s.Image, "clickhouse/clickhouse-server", 25, 8)
		case strings.HasPrefix(s.Image, ComposeImage+":"):
			cmds[name] = s.Command
			checkComposeBreachd(t, p, name, s)
		}
	}
	for _, n := range []string{"nats-1", "nats-2", "nats-3", "clickhouse", "kafka", "ingest", "notify", "api"} {
		if _, ok := p.Services[n]; !ok {
			t.Errorf("no service %s", n)
		}
	}
	checkMembers(t, cmds)
	for name, c := range p.Configs { // the loader resolves the paths but does not look
		if _, err := os.Stat(c.File); err != nil {
			t.Errorf("config %s: %v", name, err)
		}
	}
	if deps := p.Services["ingest"].DependsOn; deps["kafka-topics"].Condition == "" {
		t.Errorf("ingest does not wait for its Kafka topic to be created")
	}
	for _, msg := range composeCopyProblems(p) {
		t.Error(msg)
	}
	checkComposeBuild(t, p)
}

// checkComposeBuild: one service builds breachd's image from deploy/Dockerfile, the others
// only run it (services that share an image and each build it build it once each).
func checkComposeBuild(t *testing.T, p *types.Project) {
	var builders []string
	for _, name := range slices.Sorted(maps.Keys(p.Services)) {
		s := p.Services[name]
		if s.Build == nil {
			continue
		}
		builders = append(builders, name)
		if s.Build.Dockerfile != "deploy/Dockerfile" || s.Image != ComposeImage+":"+composeTag(t, p) {
			t.Errorf("%s: builds %s from %s: want breachd's image from deploy/Dockerfile", name, s.Image, s.Build.Dockerfile)
		}
	}
	if len(builders) != 1 {
		t.Errorf("services %v build an image: want exactly one to build breachd's, the others to use it (image: only)", builders)
	}
}

// composeTag is the tag of breachd's image in the Compose file (all its services share it).
func composeTag(t *testing.T, p *types.Project) string {
	tags := map[string]bool{}
	for _, s := range p.Services {
		if tag, ok := strings.CutPrefix(s.Image, ComposeImage+":"); ok {
			tags[tag] = true
		}
	}
	if len(tags) != 1 {
		t.Errorf("breachd's services run the tags %v of %s: want one", slices.Collect(maps.Keys(tags)), ComposeImage)
	}
	for tag := range tags {
		return tag
	}
	return ""
}

// composeCopyProblems lists the secrets and configs Compose would have to copy into a
// read-only root file system, which fails when the container is created
// (docker/compose#12031, #12303): environment: and content: sources are copied in, file:
// sources are bind-mounted. It also lists uid, gid or mode on file secrets, which Compose
// ignores (the host file's owner and mode apply).
func composeCopyProblems(p *types.Project) []string {
	var out []string
	for _, name := range slices.Sorted(maps.Keys(p.Services)) {
		s := p.Services[name]
		refs := map[string]types.FileReferenceConfig{}
		for _, sec := range s.Secrets {
			refs["secret "+sec.Source] = types.FileReferenceConfig(sec)
		}
		for _, c := range s.Configs {
			refs["config "+c.Source] = types.FileReferenceConfig(c)
		}
		for _, what := range slices.Sorted(maps.Keys(refs)) {
			kind, source, _ := strings.Cut(what, " ")
			def := types.FileObjectConfig(p.Secrets[source])
			if kind == "config" {
				def = types.FileObjectConfig(p.Configs[source])
			}
			ref := refs[what]
			switch {
			case s.ReadOnly && (def.Environment != "" || def.Content != ""):
				out = append(out, fmt.Sprintf("%s: %s comes from environment: or content:, which Compose copies into the container, and the root file system is read_only: creating the container fails (docker/compose#12031); use a file: source prepared on the host", name, what))
			case def.File != "" && (ref.UID != "" || ref.GID != "" || ref.Mode != nil):
				out = append(out, fmt.Sprintf("%s: %s sets uid, gid or mode, which Compose ignores for a file: source (bind-mounted with the host file's owner and mode)", name, what))
			}
		}
	}
	return out
}

// TestComposeCopyProblems: composeCopyProblems refuses a secret from the environment on a
// read-only breachd service (the first version of compose.yaml did that) and a mode on a
// file secret.
func TestComposeCopyProblems(t *testing.T) {
	p, err := LoadCompose(context.Background(), root, nil)
	if err != nil {
		t.Fatal(err)
	}
	if msgs := composeCopyProblems(p); len(msgs) > 0 {
		t.Fatalf("compose.yaml: %v", msgs)
	}
	ingest := p.Services["ingest"]
	if !ingest.ReadOnly || len(ingest.Secrets) == 0 {
		t.Fatalf("ingest: read_only %v, secrets %v: the cases below need both", ingest.ReadOnly, ingest.Secrets)
	}
	source := ingest.Secrets[0].Source
	def := p.Secrets[source]
	p.Secrets[source] = types.SecretConfig{Name: def.Name, Environment: "BREACHD_HTTP_TOKENS"}
	if msgs := composeCopyProblems(p); len(msgs) != 1 || !strings.Contains(msgs[0], "read_only") {
		t.Errorf("an environment: secret on a read-only service: %v", msgs)
	}
	p.Secrets[source] = def
	mode := types.FileMode(0o400)
	ingest.Secrets[0].Mode = &mode
	p.Services["ingest"] = ingest
	if msgs := composeCopyProblems(p); len(msgs) != 1 || !strings.Contains(msgs[0], "ignores") {
		t.Errorf("a mode on a file secret: %v", msgs)
	}
}

// TestComposeKafka: the broker keeps its log on the volume (the image's default log.dirs is
// in /tmp, inside the container) and formats it with the stack's own cluster ID.
func TestComposeKafka(t *testing.T) {
	p, err := LoadCompose(context.Background(), root, nil)
	if err != nil {
		t.Fatal(err)
	}
	k, ok := p.Services["kafka"]
	if !ok {
		t.Fatal("no service kafka")
	}
	env := func(k string) string {
		if v := p.Services["kafka"].Environment[k]; v != nil {
			return *v
		}
		return ""
	}
	dirs := env("KAFKA_LOG_DIRS")
	for _, d := range strings.Split(dirs, ",") {
		if !slices.ContainsFunc(k.Volumes, func(v types.ServiceVolumeConfig) bool { return v.Type == "volume" && v.Target == d }) {
			t.Errorf("kafka: log directory %q (KAFKA_LOG_DIRS) is not a volume's mount target %v", d, k.Volumes)
		}
	}
	id := env("CLUSTER_ID")
	if b, err := base64.RawURLEncoding.DecodeString(id); err != nil || len(b) != 16 {
		t.Errorf("kafka: CLUSTER_ID %q: want 16 bytes in URL-safe base64 without padding (kafka-storage.sh random-uuid)", id)
	}
	if id == "5L6g3nShT-eMCtK--X86sw" {
		t.Errorf("kafka: CLUSTER_ID is the image's default: give the stack its own")
	}
}

// checkComposeBreachd checks one breachd service.
func checkComposeBreachd(t *testing.T, p *types.Project, name string, s types.ServiceConfig) {
	args := s.Command
	where := "compose service " + name
	if s.User != "65532:65532" || !s.ReadOnly || !slices.Equal(s.CapDrop, []string{"ALL"}) || !slices.Contains(s.SecurityOpt, "no-new-privileges:true") {
		t.Errorf("%s: want user 65532:65532, read_only, cap_drop ALL, no-new-privileges (user %q, read_only %v, cap_drop %v, security_opt %v)",
			where, s.User, s.ReadOnly, s.CapDrop, s.SecurityOpt)
	}
	for _, dep := range []string{"nats-1", "nats-2", "nats-3", "clickhouse"} {
		if s.DependsOn[dep].Condition != types.ServiceConditionHealthy {
			t.Errorf("%s: does not wait for %s to be healthy", where, dep)
		}
	}
	if s.Deploy == nil || s.Deploy.Resources.Limits == nil || s.Deploy.Resources.Limits.MemoryBytes == 0 {
		t.Errorf("%s: no memory limit", where)
	} else if gml, ok := s.Environment["GOMEMLIMIT"]; ok && gml != nil && parseGoMemLimit(t, *gml) >= int64(s.Deploy.Resources.Limits.MemoryBytes) {
		t.Errorf("%s: GOMEMLIMIT %s is not below the memory limit", where, *gml)
	}

	// Where the engines are: the NATS cluster's three servers as the right user, ClickHouse.
	wantUser := "pipeline"
	if args[0] == "serve" {
		wantUser = "api"
	}
	var hosts []string
	for _, e := range natsEndpoints(t, where, flagValue(t, where, args, "nats")) {
		hosts = append(hosts, e.host)
		if e.user != wantUser || e.port != 4222 || p.Services[e.host].Name == "" {
			t.Errorf("%s: --nats server %s@%s:%d: want user %s on a NATS service's 4222", where, e.user, e.host, e.port, wantUser)
		}
	}
	if !slices.Equal(hosts, []string{"nats-1", "nats-2", "nats-3"}) {
		t.Errorf("%s: --nats lists %v, want the three servers", where, hosts)
	}
	if ch := clickhouseEndpoint(t, where, flagValue(t, where, args, "clickhouse")); ch.host != "clickhouse" || ch.port != 9000 {
		t.Errorf("%s: --clickhouse at %s:%d, want clickhouse:9000", where, ch.host, ch.port)
	}

	// The health check asks the port the command serves on.
	var health string
	if len(s.HealthCheck.Test) == 4 && s.HealthCheck.Test[0] == "CMD" && s.HealthCheck.Test[1] == "/usr/local/bin/breachd" && s.HealthCheck.Test[2] == "health" {
		health = s.HealthCheck.Test[3]
	} else {
		t.Errorf("%s: health check %v: want [CMD /usr/local/bin/breachd health URL]", where, s.HealthCheck.Test)
	}
	served := map[int]string{}
	if bucketCommand(args) {
		if r := flagValue(t, where, args, "replicas"); r != "3" {
			t.Errorf("%s: --replicas %q: want 3 on a three-node cluster", where, r)
		}
	}
	if stageCommand(args) {
		served[addrPort(t, where, "metrics-addr", flagValue(t, where, args, "metrics-addr"))] = "/healthz"
	}
	if a := flagValue(t, where, args, "http-listen"); a != "" {
		served[addrPort(t, where, "http-listen", a)] = "/readyz"
	}
	if a := flagValue(t, where, args, "listen"); args[0] == "serve" {
		served[addrPort(t, where, "listen", a)] = "/readyz"
	}
	if m := regexp.MustCompile(`^http://127\.0\.0\.1:(\d+)(/\w+)$`).FindStringSubmatch(health); m == nil {
		t.Errorf("%s: health check URL %q", where, health)
	} else if port, _ := strconv.Atoi(m[1]); served[port] == "" || (served[port] == "/healthz" && m[2] != "/healthz") {
		t.Errorf("%s: health check %s: the command serves %v (port: path)", where, health, served)
	}
	for _, pc := range s.Ports {
		if tp, _ := strconv.Atoi(strconv.FormatUint(uint64(pc.Target), 10)); served[tp] == "" {
			t.Errorf("%s: publishes port %d, which the command does not serve", where, pc.Target)
		}
	}

	// Secret files: file secrets (composeCopyProblems), prepared on the host from a committed
	// example beside them.
	mounted := map[string]bool{}
	for _, sec := range s.Secrets {
		mounted[sec.Target] = true
		file := p.Secrets[sec.Source].File
		dir, _ := filepath.Abs(filepath.Join(root, ComposeSecrets))
		if filepath.Dir(file) != dir {
			t.Errorf("%s: secret %s from %q: want a file in %s (git-ignored there)", where, sec.Source, file, ComposeSecrets)
		} else if _, err := os.Stat(file + exampleSuffix); err != nil {
			t.Errorf("%s: secret %s: no example of its file: %v", where, sec.Source, err)
		}
	}
	for _, f := range []string{"http-token-file", "kafka-sasl-password-file", "kafka-tls-key"} {
		if v := flagValue(t, where, args, f); v != "" && !mounted[v] {
			t.Errorf("%s: --%s %s is not a mounted secret", where, f, v)
		}
	}
	if args[0] == "detect" && (s.Deploy.Replicas == nil || *s.Deploy.Replicas != 2) {
		t.Errorf("%s: want 2 replicas (the active detector and its hot standby)", where)
	}
}

// parseGoMemLimit parses a GOMEMLIMIT value (bytes with an optional B, KiB, MiB, GiB suffix).
func parseGoMemLimit(t *testing.T, s string) int64 {
	t.Helper()
	m := regexp.MustCompile(`^(\d+)(B|KiB|MiB|GiB)?$`).FindStringSubmatch(s)
	if m == nil {
		t.Errorf("GOMEMLIMIT %q: not a size Go reads", s)
		return 0
	}
	n, _ := strconv.ParseInt(m[1], 10, 64)
	return n << map[string]int{"": 0, "B": 0, "KiB": 10, "MiB": 20, "GiB": 30}[m[2]]
}

// TestDockerfile: the image the manifests run is built as they expect: breachd as the
// entrypoint, user 65532, the Go toolchain of go.mod.
func TestDockerfile(t *testing.T) {
	b, err := os.ReadFile("../Dockerfile")
	if err != nil {
		t.Fatal(err)
	}
	df := string(b)
	gomod, err := os.ReadFile("../../go.mod")
	if err != nil {
		t.Fatal(err)
	}
	goVer := regexp.MustCompile(`(?m)^go (\d+\.\d+)`).FindStringSubmatch(string(gomod))
	for _, want := range []string{
		"FROM golang:" + goVer[1] + "-",
		`ENTRYPOINT ["/usr/local/bin/breachd"]`,
		"USER 65532:65532",
		"./cmd/breachd",
	} {
		if !strings.Contains(df, want) {
			t.Errorf("deploy/Dockerfile has no %q", want)
		}
	}
}
