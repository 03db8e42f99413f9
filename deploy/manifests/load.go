package manifests

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"maps"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"

	"github.com/compose-spec/compose-go/v2/cli"
	"github.com/compose-spec/compose-go/v2/types"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	policyv1 "k8s.io/api/policy/v1"
	"sigs.k8s.io/kustomize/api/krusty"
	"sigs.k8s.io/kustomize/kyaml/filesys"
	"sigs.k8s.io/yaml"
)

// The manifests, relative to the repository root.
const (
	ComposeFile    = "deploy/compose/compose.yaml"
	ComposeEnv     = "deploy/compose/env.example" // what .env must define
	ComposeSecrets = "deploy/compose/secrets"     // the Compose stack's secret files (git-ignored), and their examples
	KustomizeDir   = "deploy/k8s"
	exampleSuffix  = ".example"
	BreachdImage   = "registry.example.no/breachd" // deploy/k8s: the image after kustomize's images
	ComposeImage   = "breachd"                     // deploy/compose: the image built from deploy/Dockerfile
	SecretRedacted = "REDACTED"                    // what a secret's value reads as in BreachdCommands
)

// LoadCompose loads the Compose file under root as `docker compose` would, interpolating with
// env (nil: ComposeEnv's values) and nothing from the process's environment.
func LoadCompose(ctx context.Context, root string, env map[string]string) (*types.Project, error) {
	opts := []cli.ProjectOptionsFn{cli.WithWorkingDirectory(filepath.Join(root, filepath.Dir(ComposeFile)))}
	if env == nil {
		opts = append(opts, cli.WithEnvFiles(filepath.Join(root, ComposeEnv)), cli.WithDotEnv)
	} else {
		var kv []string
		for k, v := range env {
			kv = append(kv, k+"="+v)
		}
		opts = append(opts, cli.WithEnv(kv))
	}
	po, err := cli.NewProjectOptions([]string{filepath.Join(root, ComposeFile)}, opts...)
	if err != nil {
		return nil, err
	}
	return po.LoadProject(ctx)
}

// BuildKustomize builds KustomizeDir under root as `kubectl apply -k` would and returns the
// objects' YAML. A secret file the kustomization names that is not there (they are not
// committed) is taken from its example (FILE.example).
func BuildKustomize(root string) ([]byte, error) {
	mem := filesys.MakeFsInMemory()
	dir := filepath.Join(root, KustomizeDir)
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(dir, path)
		name := filepath.Join("/k", rel)
		if strings.HasSuffix(name, exampleSuffix) {
			if _, err := os.Stat(strings.TrimSuffix(path, exampleSuffix)); err == nil {
				return nil // the real one is there: build with it
			}
			name = strings.TrimSuffix(name, exampleSuffix)
		}
		return mem.WriteFile(name, b)
	})
	if err != nil {
		return nil, err
	}
	rm, err := krusty.MakeKustomizer(krusty.MakeDefaultOptions()).Run(mem, "/k")
	if err != nil {
		return nil, fmt.Errorf("kustomize build %s: %w", KustomizeDir, err)
	}
	return rm.AsYaml()
}

// Objects are the Kubernetes objects of the manifests, by kind.
type Objects struct {
	Namespaces      []corev1.Namespace
	ServiceAccounts []corev1.ServiceAccount
	Secrets         []corev1.Secret
	ConfigMaps      []corev1.ConfigMap
	Services        []corev1.Service
	Deployments     []appsv1.Deployment
	StatefulSets    []appsv1.StatefulSet
	PDBs            []policyv1.PodDisruptionBudget
	NetworkPolicies []networkingv1.NetworkPolicy
}

// DecodeObjects decodes a stream of YAML documents strictly into the k8s.io/api types: an
// unknown field, a duplicate key, or a kind this package does not know is an error.
func DecodeObjects(stream []byte) (*Objects, error) {
	var o Objects
	for i, doc := range splitYAML(stream) {
		var head struct {
			APIVersion string `json:"apiVersion"`
			Kind       string `json:"kind"`
		}
		if err := yaml.Unmarshal(doc, &head); err != nil {
			return nil, fmt.Errorf("document %d: %w", i, err)
		}
		var err error
		switch head.APIVersion + "/" + head.Kind {
		case "v1/Namespace":
			o.Namespaces, err = decodeInto(doc, o.Namespaces)
		case "v1/ServiceAccount":
			o.ServiceAccounts, err = decodeInto(doc, o.ServiceAccounts)
		case "v1/Secret":
			o.Secrets, err = decodeInto(doc, o.Secrets)
		case "v1/ConfigMap":
			o.ConfigMaps, err = decodeInto(doc, o.ConfigMaps)
		case "v1/Service":
			o.Services, err = decodeInto(doc, o.Services)
		case "apps/v1/Deployment":
			o.Deployments, err = decodeInto(doc, o.Deployments)
		case "apps/v1/StatefulSet":
			o.StatefulSets, err = decodeInto(doc, o.StatefulSets)
		case "policy/v1/PodDisruptionBudget":
			o.PDBs, err = decodeInto(doc, o.PDBs)
		case "networking.k8s.io/v1/NetworkPolicy":
			o.NetworkPolicies, err = decodeInto(doc, o.NetworkPolicies)
		default:
			err = fmt.Errorf("kind %s %s is not one the checks know", head.APIVersion, head.Kind)
		}
		if err != nil {
			return nil, fmt.Errorf("document %d (%s): %w", i, head.Kind, err)
		}
	}
	return &o, nil
}

func decodeInto[T any](doc []byte, list []T) ([]T, error) {
	var v T
	if err := yaml.UnmarshalStrict(doc, &v); err != nil {
		return list, err
	}
	return append(list, v), nil
}

// splitYAML splits a stream at its document separators, dropping empty documents.
func splitYAML(stream []byte) [][]byte {
	var docs [][]byte
	for _, d := range regexp.MustCompile(`(?m)^---[ \t]*$`).Split(string(stream), -1) {
		if strings.TrimSpace(d) != "" {
			docs = append(docs, []byte(d))
		}
	}
	return docs
}

// Command is one breachd command line of the manifests.
type Command struct {
	Where string   // e.g. "compose service detect-0", "k8s Deployment breachd-api container api"
	Args  []string // after the program's name; secrets' values read SecretRedacted
	// Env is the container's environment (secrets' values read SecretRedacted).
	Env map[string]string
}

// BreachdCommands lists the breachd command lines of the Compose file (interpolated with
// ComposeEnv) and of the Kubernetes manifests (built by kustomize; $(VAR) references
// expanded from the container's environment, as the kubelet does).
func BreachdCommands(ctx context.Context, root string) ([]Command, error) {
	p, err := LoadCompose(ctx, root, nil)
	if err != nil {
		return nil, err
	}
	var cmds []Command
	for _, name := range slices.Sorted(maps.Keys(p.Services)) {
		s := p.Services[name]
		if !strings.HasPrefix(s.Image, ComposeImage+":") {
			continue
		}
		env := map[string]string{}
		for k, v := range s.Environment {
			if v != nil {
				env[k] = *v
			}
		}
		cmds = append(cmds, Command{Where: "compose service " + name, Args: s.Command, Env: env})
	}
	y, err := BuildKustomize(root)
	if err != nil {
		return nil, err
	}
	objs, err := DecodeObjects(y)
	if err != nil {
		return nil, err
	}
	if len(cmds) == 0 || len(objs.Deployments) == 0 {
		return nil, errors.New("no breachd command line found in the manifests")
	}
	for _, d := range objs.Deployments {
		for _, c := range d.Spec.Template.Spec.Containers {
			if !strings.HasPrefix(c.Image, BreachdImage+":") {
				continue
			}
			if len(c.Command) > 0 {
				return nil, fmt.Errorf("Deployment %s container %s: command overrides the image's entrypoint (breachd); give args only", d.Name, c.Name)
			}
			env := ContainerEnv(c)
			var args []string
			for _, a := range c.Args {
				args = append(args, ExpandK8s(a, env))
			}
			cmds = append(cmds, Command{Where: fmt.Sprintf("k8s Deployment %s container %s", d.Name, c.Name), Args: args, Env: env})
		}
	}
	return cmds, nil
}

// ContainerEnv is c's environment: literal values as given, values from secrets as
// SecretRedacted, other references as their source's description.
func ContainerEnv(c corev1.Container) map[string]string {
	env := map[string]string{}
	for _, e := range c.Env {
		switch {
		case e.ValueFrom == nil:
			env[e.Name] = ExpandK8s(e.Value, env)
		case e.ValueFrom.SecretKeyRef != nil:
			env[e.Name] = SecretRedacted
		default:
			env[e.Name] = "(from " + e.Name + ")"
		}
	}
	return env
}

// ExpandK8s expands $(VAR) in s from env as the kubelet expands a container's args and env
// values: $$ escapes, an unknown reference stays as written.
func ExpandK8s(s string, env map[string]string) string {
	var b bytes.Buffer
	for i := 0; i < len(s); i++ {
		if s[i] != '$' || i+1 == len(s) {
			b.WriteByte(s[i])
			continue
		}
		switch s[i+1] {
		case '$':
			b.WriteByte('$')
			i++
		case '(':
			end := strings.IndexByte(s[i:], ')')
			if end < 0 {
				b.WriteString(s[i:])
				return b.String()
			}
			name := s[i+2 : i+end]
			if v, ok := env[name]; ok {
				b.WriteString(v)
			} else {
				b.WriteString(s[i : i+end+1])
			}
			i += end
		default:
			b.WriteByte('$')
		}
	}
	return b.String()
}
