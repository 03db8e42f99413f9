package manifests

import (
	"fmt"
	"net/netip"
	"os"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	metavalidation "k8s.io/apimachinery/pkg/apis/meta/v1/validation"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/apimachinery/pkg/util/validation/field"
	"sigs.k8s.io/yaml"
)

const namespace = "breachd"

// workload is a Deployment or StatefulSet, for the checks both get.
type workload struct {
	kind, name string
	replicas   int32
	selector   map[string]string
	pod        corev1.PodTemplateSpec
}

func (w workload) String() string { return w.kind + " " + w.name }

// loadK8s builds and strictly decodes the Kubernetes manifests.
func loadK8s(t *testing.T) *Objects {
	t.Helper()
	y, err := BuildKustomize(root)
	if err != nil {
		t.Fatal(err)
	}
	objs, err := DecodeObjects(y)
	if err != nil {
		t.Fatalf("kustomize build %s: %v", KustomizeDir, err)
	}
	return objs
}

func workloads(t *testing.T, o *Objects) []workload {
	var ws []workload
	for _, d := range o.Deployments {
		if d.Spec.Selector == nil || len(d.Spec.Selector.MatchExpressions) > 0 || d.Spec.Replicas == nil {
			t.Errorf("Deployment %s: want replicas and a matchLabels selector", d.Name)
			continue
		}
		ws = append(ws, workload{"Deployment", d.Name, *d.Spec.Replicas, d.Spec.Selector.MatchLabels, d.Spec.Template})
	}
	for _, s := range o.StatefulSets {
		if s.Spec.Selector == nil || len(s.Spec.Selector.MatchExpressions) > 0 || s.Spec.Replicas == nil {
			t.Errorf("StatefulSet %s: want replicas and a matchLabels selector", s.Name)
			continue
		}
		ws = append(ws, workload{"StatefulSet", s.Name, *s.Spec.Replicas, s.Spec.Selector.MatchLabels, s.Spec.Template})
	}
	return ws
}

func subset(sel, l map[string]string) bool {
	for k, v := range sel {
		if l[k] != v {
			return false
		}
	}
	return len(sel) > 0
}

// TestK8sDecodes: kustomize builds the manifests and every object decodes strictly into the
// k8s.io/api types (an unknown or misplaced field fails), all in the namespace breachd.
func TestK8sDecodes(t *testing.T) {
	o := loadK8s(t)
	if len(o.Deployments) < 6 || len(o.StatefulSets) != 1 || len(o.NetworkPolicies) == 0 || len(o.PDBs) == 0 || len(o.Secrets) != 4 {
		t.Fatalf("%d Deployments, %d StatefulSets, %d NetworkPolicies, %d PDBs, %d Secrets", len(o.Deployments), len(o.StatefulSets), len(o.NetworkPolicies), len(o.PDBs), len(o.Secrets))
	}
	check := func(kind, name, ns string) {
		if ns != namespace {
			t.Errorf("%s %s is in namespace %q", kind, name, ns)
		}
	}
	for _, d := range o.Deployments {
		check("Deployment", d.Name, d.Namespace)
	}
	for _, s := range o.Services {
		check("Service", s.Name, s.Namespace)
	}
	for _, s := range o.Secrets {
		check("Secret", s.Name, s.Namespace)
	}
	for _, p := range o.NetworkPolicies {
		check("NetworkPolicy", p.Name, p.Namespace)
	}
	// A misspelt field fails the strict decode.
	if _, err := DecodeObjects([]byte("apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: x}\nspec: {replica: 2}\n")); err == nil {
		t.Errorf("a Deployment with spec.replica decoded")
	}
}

// TestK8sWorkloads: selectors, probes, resources, security contexts, images, disruption
// budgets, and what every pod refers to.
func TestK8sWorkloads(t *testing.T) {
	o := loadK8s(t)
	secrets := map[string]corev1.Secret{}
	for _, s := range o.Secrets {
		secrets[s.Name] = s
	}
	for _, sa := range o.ServiceAccounts {
		if sa.AutomountServiceAccountToken == nil || *sa.AutomountServiceAccountToken {
			t.Errorf("ServiceAccount %s mounts its token", sa.Name)
		}
	}
	for _, w := range workloads(t, o) {
		spec := w.pod.Spec
		if !subset(w.selector, w.pod.Labels) {
			t.Errorf("%s: selector %v does not match its pods' labels %v", w, w.selector, w.pod.Labels)
		}
		if spec.ServiceAccountName != "breachd" || spec.AutomountServiceAccountToken == nil || *spec.AutomountServiceAccountToken {
			t.Errorf("%s: want service account breachd without a token", w)
		}
		psc := spec.SecurityContext
		if psc == nil || psc.RunAsNonRoot == nil || !*psc.RunAsNonRoot || psc.RunAsUser == nil || *psc.RunAsUser == 0 ||
			psc.SeccompProfile == nil || psc.SeccompProfile.Type != corev1.SeccompProfileTypeRuntimeDefault {
			t.Errorf("%s: want a pod security context non-root with the runtime's seccomp profile", w)
		}
		// A disruption budget that lets a drain proceed one pod at a time (not for a single
		// ClickHouse server, which a drain must be able to move).
		var pdbs int
		for _, p := range o.PDBs {
			if p.Spec.Selector != nil && subset(p.Spec.Selector.MatchLabels, w.pod.Labels) {
				pdbs++
				if p.Spec.MinAvailable == nil || p.Spec.MinAvailable.IntVal >= w.replicas {
					t.Errorf("%s: PodDisruptionBudget %s leaves no pod to evict (replicas %d)", w, p.Name, w.replicas)
				}
			}
		}
		if want := map[bool]int{true: 1, false: 0}[w.kind == "Deployment"]; pdbs != want {
			t.Errorf("%s: %d PodDisruptionBudgets, want %d", w, pdbs, want)
		}
		volumes := map[string]corev1.Volume{}
		for _, v := range spec.Volumes {
			volumes[v.Name] = v
			if v.Secret != nil {
				if v.Secret.DefaultMode == nil || *v.Secret.DefaultMode&^0o440 != 0 {
					t.Errorf("%s: secret volume %s: defaultMode must give nothing to others (0440 with fsGroup for the init container, or 0400)", w, v.Name)
				}
				if _, ok := secrets[v.Secret.SecretName]; !ok {
					t.Errorf("%s: volume %s: no Secret %s", w, v.Name, v.Secret.SecretName)
				}
			}
		}
		for _, c := range slices.Concat(spec.InitContainers, spec.Containers) {
			where := fmt.Sprintf("%s container %s", w, c.Name)
			checkContainer(t, where, c, secrets)
		}
		for _, c := range spec.Containers {
			where := fmt.Sprintf("%s container %s", w, c.Name)
			ports := map[string]int32{}
			for _, p := range c.Ports {
				ports[p.Name] = p.ContainerPort
			}
			for name, pr := range map[string]*corev1.Probe{"liveness": c.LivenessProbe, "readiness": c.ReadinessProbe, "startup": c.StartupProbe} {
				switch {
				case pr == nil && name != "startup":
					t.Errorf("%s: no %s probe", where, name)
				case pr == nil:
				case pr.Exec != nil && c.Name == "clickhouse" && name != "liveness": // TestK8sClickHouse
				case pr.HTTPGet == nil || ports[pr.HTTPGet.Port.StrVal] == 0:
					t.Errorf("%s: %s probe: want an HTTP GET on a named port of the container", where, name)
				}
			}
			req, lim := c.Resources.Requests, c.Resources.Limits
			if req.Cpu().IsZero() || req.Memory().IsZero() || lim.Memory().IsZero() || lim.Memory().Cmp(*req.Memory()) < 0 {
				t.Errorf("%s: want CPU and memory requests and a memory limit at least the request", where)
			}
			if !strings.HasPrefix(c.Image, BreachdImage+":") {
				continue
			}
			// breachd's own: a read-only root, and secret files only through the init copy.
			if c.SecurityContext.ReadOnlyRootFilesystem == nil || !*c.SecurityContext.ReadOnlyRootFilesystem {
				t.Errorf("%s: root file system is writable", where)
			}
			for _, m := range c.VolumeMounts {
				if v := volumes[m.Name]; v.Secret != nil {
					t.Errorf("%s: mounts secret volume %s itself: Kubernetes makes it group-readable with fsGroup, and breachd refuses that", where, m.Name)
				}
			}
			if gml := ContainerEnv(c)["GOMEMLIMIT"]; gml == "" || parseGoMemLimit(t, gml) >= lim.Memory().Value() {
				t.Errorf("%s: GOMEMLIMIT %q: want it below the memory limit %s", where, gml, lim.Memory())
			}
			checkFlagsAgainstPod(t, where, c, spec, volumes)
		}
	}
}

// checkContainer checks what every container (init containers too) must have.
func checkContainer(t *testing.T, where string, c corev1.Container, secrets map[string]corev1.Secret) {
	if !imageTag.MatchString(c.Image) || strings.HasSuffix(c.Image, ":latest") {
		t.Errorf("%s: image %q is not pinned by a tag", where, c.Image)
	}
	sc := c.SecurityContext
	if sc == nil || sc.AllowPrivilegeEscalation == nil || *sc.AllowPrivilegeEscalation || sc.Capabilities == nil ||
		!slices.Equal(sc.Capabilities.Drop, []corev1.Capability{"ALL"}) || sc.Privileged != nil && *sc.Privileged {
		t.Errorf("%s: want no privilege escalation and every capability dropped", where)
	}
	if c.Resources.Requests.Memory().IsZero() || c.Resources.Limits.Memory().IsZero() {
		t.Errorf("%s: no memory request or limit", where)
	}
	for _, e := range c.Env {
		if e.ValueFrom != nil && e.ValueFrom.SecretKeyRef != nil {
			ref := e.ValueFrom.SecretKeyRef
			s, ok := secrets[ref.Name]
			_, hasKey := s.Data[ref.Key]
			if !ok || !hasKey {
				t.Errorf("%s: env %s: Secret %s has no key %s", where, e.Name, ref.Name, ref.Key)
			}
		}
	}
	if len(c.EnvFrom) > 0 {
		t.Errorf("%s: envFrom: name each variable (the checks follow secretKeyRef)", where)
	}
}

// checkFlagsAgainstPod checks a breachd container's command line against its pod: ports,
// secret files, the engines' addresses.
func checkFlagsAgainstPod(t *testing.T, where string, c corev1.Container, spec corev1.PodSpec, volumes map[string]corev1.Volume) {
	env := ContainerEnv(c)
	var args []string
	for _, a := range c.Args {
		args = append(args, ExpandK8s(a, env))
	}
	if strings.Contains(strings.Join(args, " "), "$(") {
		t.Errorf("%s: args refer to a variable the container does not have: %v", where, c.Args)
	}
	ports := map[string]int32{}
	for _, p := range c.Ports {
		ports[p.Name] = p.ContainerPort
	}
	want := map[string]string{} // port name -> flag
	if bucketCommand(args) {
		if r := flagValue(t, where, args, "replicas"); r != "3" {
			t.Errorf("%s: --replicas %q: want 3 on a three-node NATS cluster", where, r)
		}
	}
	if stageCommand(args) {
		want["metrics"] = "metrics-addr"
	}
	if flagValue(t, where, args, "http-listen") != "" {
		want["ingest"] = "http-listen"
	}
	if args[0] == "serve" {
		want["http"] = "listen"
	}
	for name, flag := range want {
		if p := addrPort(t, where, flag, flagValue(t, where, args, flag)); ports[name] != int32(p) {
			t.Errorf("%s: --%s serves on %d, the container's port %s is %d", where, flag, p, name, ports[name])
		}
	}
	if len(want) != len(ports) {
		t.Errorf("%s: ports %v, the command serves %v", where, ports, want)
	}
	wantUser := map[bool]string{true: "api", false: "pipeline"}[args[0] == "serve"]
	var hosts []string
	for _, e := range natsEndpoints(t, where, flagValue(t, where, args, "nats")) {
		hosts = append(hosts, e.host)
		if e.user != wantUser || e.port != 4222 {
			t.Errorf("%s: --nats %s@%s:%d: want user %s on 4222", where, e.user, e.host, e.port, wantUser)
		}
	}
	if !slices.Equal(hosts, []string{"nats-0.nats-headless", "nats-1.nats-headless", "nats-2.nats-headless"}) {
		t.Errorf("%s: --nats lists %v, want the chart's three pods", where, hosts)
	}
	if ch := clickhouseEndpoint(t, where, flagValue(t, where, args, "clickhouse")); ch.host != "clickhouse" || ch.port != 9000 {
		t.Errorf("%s: --clickhouse at %s:%d, want the Service clickhouse on 9000", where, ch.host, ch.port)
	}
	// Secret files: under a mount of an emptyDir that an init container fills from a secret.
	for _, f := range []string{"http-token-file", "users", "kafka-sasl-password-file", "kafka-tls-key", "oidc"} {
		path := flagValue(t, where, args, f)
		if path == "" {
			continue
		}
		var from string
		for _, m := range c.VolumeMounts {
			if strings.HasPrefix(path, m.MountPath+"/") && volumes[m.Name].EmptyDir != nil {
				from = m.Name
			}
		}
		filled := false
		for _, ic := range spec.InitContainers {
			var fills, reads bool
			for _, m := range ic.VolumeMounts {
				fills = fills || m.Name == from
				reads = reads || volumes[m.Name].Secret != nil
			}
			filled = filled || fills && reads
		}
		if from == "" || !filled {
			t.Errorf("%s: --%s %s is not in an emptyDir an init container fills from a secret", where, f, path)
		}
	}
}

// TestK8sServices: every Service selects pods and reaches a named port of theirs; the
// detector set is complete with a standby per member.
func TestK8sServices(t *testing.T) {
	o := loadK8s(t)
	ws := workloads(t, o)
	for _, s := range o.Services {
		var pods []workload
		for _, w := range ws {
			if subset(s.Spec.Selector, w.pod.Labels) {
				pods = append(pods, w)
			}
		}
		if len(pods) == 0 {
			t.Errorf("Service %s selects no pods (%v)", s.Name, s.Spec.Selector)
		}
		for _, p := range s.Spec.Ports {
			for _, w := range pods {
				found := false
				for _, c := range w.pod.Spec.Containers {
					for _, cp := range c.Ports {
						found = found || cp.Name == p.TargetPort.StrVal && cp.ContainerPort == p.Port
					}
				}
				if !found {
					t.Errorf("Service %s port %d: %s has no container port %q = %d", s.Name, p.Port, w, p.TargetPort.StrVal, p.Port)
				}
			}
		}
	}
	cmds := map[string][]string{}
	for _, d := range o.Deployments {
		for _, c := range d.Spec.Template.Spec.Containers {
			if c.Name == "detect" {
				cmds[d.Name] = c.Args
				if *d.Spec.Replicas != 2 {
					t.Errorf("Deployment %s: %d replicas, want 2 (the active detector and its hot standby)", d.Name, *d.Spec.Replicas)
				}
				// The new pod starts beside the old ones and counts as available only once its
				// directory rebuild (80 s at Feide's size on 2 cores, after /healthz answers)
				// is done, so the member keeps its active detector and a standby.
				ru := d.Spec.Strategy.RollingUpdate
				if d.Spec.Strategy.Type != appsv1.RollingUpdateDeploymentStrategyType || ru == nil || ru.MaxUnavailable == nil || ru.MaxUnavailable.IntVal != 0 || ru.MaxSurge == nil || ru.MaxSurge.IntVal < 1 {
					t.Errorf("Deployment %s: strategy %+v: want RollingUpdate, maxSurge 1, maxUnavailable 0 (a rollout keeps the member's standby)", d.Name, d.Spec.Strategy)
				}
				if d.Spec.MinReadySeconds < 90 {
					t.Errorf("Deployment %s: minReadySeconds %d: want 90 or more (the directory rebuild runs after /healthz answers)", d.Name, d.Spec.MinReadySeconds)
				}
			}
		}
	}
	checkMembers(t, cmds)
}

// TestK8sNetworkPolicies: default deny, then exactly the connections each stage needs, with
// ports from the flags and Services.
func TestK8sNetworkPolicies(t *testing.T) {
	o := loadK8s(t)
	ps := policies{t: t, namespace: namespace, list: o.NetworkPolicies}
	deny := false
	for _, p := range o.NetworkPolicies {
		deny = deny || len(p.Spec.PodSelector.MatchLabels) == 0 && len(p.Spec.PodSelector.MatchExpressions) == 0 &&
			hasType(p, "Ingress") && hasType(p, "Egress") && len(p.Spec.Ingress) == 0 && len(p.Spec.Egress) == 0
	}
	if !deny {
		t.Errorf("no default-deny policy (every pod, ingress and egress, no rule)")
	}
	nats := peer{namespace: namespace, labels: map[string]string{"app.kubernetes.io/name": "nats", "app.kubernetes.io/instance": "nats"}}
	dns := peer{namespace: "kube-system", labels: map[string]string{"k8s-app": "kube-dns"}}
	ingressCtl := peer{namespace: "ingress-nginx", labels: map[string]string{"app.kubernetes.io/name": "ingress-nginx"}}
	prometheus := peer{namespace: "monitoring", labels: map[string]string{"app.kubernetes.io/name": "prometheus"}}
	outside := peer{external: true, ip: netip.MustParseAddr("203.0.113.10")}
	outside6 := peer{external: true, ip: netip.MustParseAddr("2001:db8::10")}
	nodeLocalDNS := peer{external: true, ip: netip.MustParseAddr("169.254.20.10")}
	var clickhouse peer
	for _, w := range workloads(t, o) {
		if w.name == "clickhouse" {
			clickhouse = peer{namespace: namespace, labels: w.pod.Labels}
		}
	}
	for _, w := range workloads(t, o) {
		pod := peer{namespace: namespace, labels: w.pod.Labels}
		if len(ps.selecting(w.pod.Labels, "Ingress"))+len(ps.selecting(w.pod.Labels, "Egress")) < 3 {
			t.Errorf("%s: covered by no policy of its own beside default-deny and DNS", w)
		}
		if !ps.egress(w.pod.Labels, dns, 53, corev1.ProtocolUDP) || !ps.egress(w.pod.Labels, nodeLocalDNS, 53, corev1.ProtocolUDP) {
			t.Errorf("%s: cannot resolve names (DNS: the cluster's DNS pods, NodeLocal DNSCache)", w)
		}
		for _, c := range w.pod.Spec.Containers {
			if !strings.HasPrefix(c.Image, BreachdImage+":") {
				continue
			}
			where := fmt.Sprintf("%s container %s", w, c.Name)
			env := ContainerEnv(c)
			var args []string
			for _, a := range c.Args {
				args = append(args, ExpandK8s(a, env))
			}
			for _, e := range natsEndpoints(t, where, flagValue(t, where, args, "nats")) {
				if !ps.connect(pod, nats, int32(e.port)) {
					t.Errorf("%s: cannot reach NATS on %d", where, e.port)
				}
			}
			ch := clickhouseEndpoint(t, where, flagValue(t, where, args, "clickhouse"))
			if !ps.connect(pod, clickhouse, int32(ch.port)) {
				t.Errorf("%s: cannot reach ClickHouse on %d", where, ch.port)
			}
			brokers := flagValue(t, where, args, "kafka-brokers")
			for _, b := range strings.Split(brokers, ",") {
				if b != "" && !ps.egress(w.pod.Labels, outside, int32(addrPort(t, where, "kafka-brokers", b)), corev1.ProtocolTCP) {
					t.Errorf("%s: cannot reach Kafka %s", where, b)
				}
			}
			if brokers == "" && ps.egress(w.pod.Labels, outside, 9092, corev1.ProtocolTCP) {
				t.Errorf("%s: reaches Kafka without reading from it", where)
			}
			// HTTPS out: the API to its OIDC provider (serve --oidc), nothing else.
			oidc := args[0] == "serve"
			for _, o := range []peer{outside, outside6} {
				if got := ps.egress(w.pod.Labels, o, 443, corev1.ProtocolTCP); got != oidc {
					t.Errorf("%s: reaches %s:443 (an OIDC provider): %v, want %v", where, o.ip, got, oidc)
				}
			}
			for _, p := range c.Ports {
				// metrics: Prometheus only; ingest: the ingress only; http (the API, with its
				// /metrics): both.
				fromIngress, fromPrometheus := p.Name != "metrics", p.Name != "ingest"
				if got := ps.connect(ingressCtl, pod, p.ContainerPort); got != fromIngress {
					t.Errorf("%s: port %s (%d) reachable from the ingress controller: %v, want %v", where, p.Name, p.ContainerPort, got, fromIngress)
				}
				if got := ps.connect(prometheus, pod, p.ContainerPort); got != fromPrometheus {
					t.Errorf("%s: port %s (%d) reachable from Prometheus: %v, want %v", where, p.Name, p.ContainerPort, got, fromPrometheus)
				}
			}
			// Nothing else in: another breachd pod cannot reach it.
			if ps.connect(peer{namespace: namespace, labels: map[string]string{"app.kubernetes.io/name": "breachd"}}, pod, 9464) {
				t.Errorf("%s: reachable from other breachd pods", where)
			}
		}
	}
	breachd := peer{namespace: namespace, labels: map[string]string{"app.kubernetes.io/name": "breachd", "app.kubernetes.io/component": "notify"}}
	for _, c := range []struct {
		what     string
		src, dst peer
		port     int32
		want     bool
	}{
		{"NATS routes between the servers", nats, nats, 6222, true},
		{"NATS monitoring from Prometheus", prometheus, nats, 8222, true},
		{"NATS from the ingress controller", ingressCtl, nats, 4222, false},
		{"NATS routes from breachd", breachd, nats, 6222, false},
		{"ClickHouse from the ingress controller", ingressCtl, clickhouse, 9000, false},
		{"ClickHouse's HTTP interface from breachd", breachd, clickhouse, 8123, false},
		{"ClickHouse to the outside", clickhouse, outside, 443, false},
		{"breachd to the outside", breachd, outside, 443, false},
	} {
		if got := ps.connect(c.src, c.dst, c.port); got != c.want {
			t.Errorf("%s on %d: allowed %v, want %v", c.what, c.port, got, c.want)
		}
	}
}

// TestK8sImages: breachd's image is the one kustomize sets, at the version the kustomization
// names; nats and ClickHouse at supported versions.
func TestK8sImages(t *testing.T) {
	b, err := os.ReadFile("../k8s/kustomization.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var k struct {
		Images []struct{ Name, NewName, NewTag string } `json:"images"`
	}
	if err := yaml.Unmarshal(b, &k); err != nil {
		t.Fatal(err)
	}
	if len(k.Images) != 1 || k.Images[0].NewName != BreachdImage {
		t.Fatalf("kustomization images %+v: want breachd as %s", k.Images, BreachdImage)
	}
	o := loadK8s(t)
	for _, w := range workloads(t, o) {
		for _, c := range w.pod.Spec.Containers {
			if strings.HasPrefix(c.Image, "clickhouse/clickhouse-server:") {
				v := regexp.MustCompile(`:(\d+)\.(\d+)`).FindStringSubmatch(c.Image)
				major, _ := strconv.Atoi(v[1])
				minor, _ := strconv.Atoi(v[2])
				if major < 25 || major == 25 && minor < 8 {
					t.Errorf("%s: %s: want ClickHouse 25.8 or newer", w, c.Image)
				}
			}
			if c.Name != "clickhouse" && c.Image != BreachdImage+":"+k.Images[0].NewTag {
				t.Errorf("%s container %s: image %s", w, c.Name, c.Image)
			}
		}
	}
	// The sizes in the comments are the measured ones: the detector's limit holds its peak.
	for _, d := range o.Deployments {
		for _, c := range d.Spec.Template.Spec.Containers {
			if c.Name == "detect" && c.Resources.Limits.Memory().Cmp(resource.MustParse("1Gi")) < 0 {
				t.Errorf("Deployment %s: memory limit %s below a detector's measured 858 MB peak with Feide's directory", d.Name, c.Resources.Limits.Memory())
			}
		}
	}
}

// TestK8sNames checks names, labels and selectors with the API server's own rules
// (k8s.io/apimachinery's validation): what the types accept but the API server refuses.
func TestK8sNames(t *testing.T) {
	o := loadK8s(t)
	fail := func(what string, errs []string) {
		t.Helper()
		if len(errs) > 0 {
			t.Errorf("%s: %s", what, strings.Join(errs, "; "))
		}
	}
	meta := func(kind string, m metav1.ObjectMeta) {
		fail(kind+" "+m.Name, validation.IsDNS1123Subdomain(m.Name))
		if errs := metavalidation.ValidateLabels(m.Labels, field.NewPath(kind, m.Name, "labels")); len(errs) > 0 {
			t.Errorf("%v", errs)
		}
	}
	selector := func(where string, s *metav1.LabelSelector) {
		if errs := metavalidation.ValidateLabelSelector(s, metavalidation.LabelSelectorValidationOptions{}, field.NewPath(where)); len(errs) > 0 || s == nil {
			t.Errorf("%s: selector %v: %v", where, s, errs)
		}
	}
	for _, s := range o.Services {
		meta("Service", s.ObjectMeta)
		fail("Service "+s.Name, validation.IsDNS1035Label(s.Name))
		for _, p := range s.Spec.Ports {
			fail("Service "+s.Name+" port", validation.IsValidPortName(p.Name))
		}
	}
	for _, s := range o.Secrets {
		meta("Secret", s.ObjectMeta)
		for k := range s.Data {
			fail("Secret "+s.Name+" key", validation.IsConfigMapKey(k))
		}
	}
	for _, p := range o.PDBs {
		meta("PodDisruptionBudget", p.ObjectMeta)
		selector("PodDisruptionBudget "+p.Name, p.Spec.Selector)
	}
	for _, p := range o.NetworkPolicies {
		meta("NetworkPolicy", p.ObjectMeta)
		selector("NetworkPolicy "+p.Name, &p.Spec.PodSelector)
	}
	for _, d := range o.Deployments {
		meta("Deployment", d.ObjectMeta)
		selector("Deployment "+d.Name, d.Spec.Selector)
	}
	for _, s := range o.StatefulSets {
		meta("StatefulSet", s.ObjectMeta)
		selector("StatefulSet "+s.Name, s.Spec.Selector)
	}
	for _, w := range workloads(t, o) {
		if errs := metavalidation.ValidateLabels(w.pod.Labels, field.NewPath(w.String(), "template", "labels")); len(errs) > 0 {
			t.Errorf("%v", errs)
		}
		for _, v := range w.pod.Spec.Volumes {
			fail(w.String()+" volume", validation.IsDNS1123Label(v.Name))
		}
		for _, c := range slices.Concat(w.pod.Spec.InitContainers, w.pod.Spec.Containers) {
			where := w.String() + " container " + c.Name
			fail(where, validation.IsDNS1123Label(c.Name))
			for _, p := range c.Ports {
				fail(where+" port", validation.IsValidPortName(p.Name))
				fail(where+" port", validation.IsValidPortNum(int(p.ContainerPort)))
			}
			for _, e := range c.Env {
				fail(where+" env", validation.IsEnvVarName(e.Name))
			}
		}
	}
}
