package manifests

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"

	"breachd/secretfile"
)

// TestK8sSecretCopy runs the init containers' copy script (with sh, on a directory laid out
// as the kubelet lays out a secret volume: files as links into ..data, mode 0440) and checks
// that breachd's own secret-file check accepts what it leaves, on a first start and a
// restart.
func TestK8sSecretCopy(t *testing.T) {
	o := loadK8s(t)
	ran := 0
	for _, d := range o.Deployments {
		spec := d.Spec.Template.Spec
		for _, ic := range spec.InitContainers {
			if len(ic.Command) != 3 || ic.Command[0] != "sh" || ic.Command[1] != "-c" {
				t.Errorf("Deployment %s init container %s: want sh -c SCRIPT", d.Name, ic.Name)
				continue
			}
			var secretName, secretMount, emptyMount string
			for _, m := range ic.VolumeMounts {
				for _, v := range spec.Volumes {
					switch {
					case v.Name == m.Name && v.Secret != nil:
						secretName, secretMount = v.Secret.SecretName, m.MountPath
					case v.Name == m.Name && v.EmptyDir != nil:
						emptyMount = m.MountPath
					}
				}
			}
			var secret *corev1.Secret
			for i := range o.Secrets {
				if o.Secrets[i].Name == secretName {
					secret = &o.Secrets[i]
				}
			}
			if secret == nil || emptyMount == "" {
				t.Fatalf("Deployment %s: init container %s copies no secret into an emptyDir", d.Name, ic.Name)
			}
			tmp := t.TempDir()
			src, dst := filepath.Join(tmp, "secret"), filepath.Join(tmp, "empty")
			layOutSecretVolume(t, src, secret.Data)
			if err := os.Mkdir(dst, 0o777); err != nil {
				t.Fatal(err)
			}
			script := strings.NewReplacer(secretMount, src, emptyMount, dst).Replace(ic.Command[2])
			for range 2 { // the pod's first start, and the init container run again
				if out, err := exec.Command("sh", "-c", script).CombinedOutput(); err != nil {
					t.Fatalf("Deployment %s: the copy script failed: %v\n%s", d.Name, err, out)
				}
			}
			for _, c := range spec.Containers {
				for _, f := range []string{"http-token-file", "users"} {
					path := flagValue(t, d.Name, c.Args, f)
					if path == "" {
						continue
					}
					got, err := secretfile.Read(strings.Replace(path, emptyMount, dst, 1))
					if err != nil || string(got) != string(secret.Data[filepath.Base(path)]) {
						t.Errorf("Deployment %s: --%s after the copy: %v (content equal: %v)", d.Name, f, err, string(got) == string(secret.Data[filepath.Base(path)]))
					}
					ran++
					dir, err := os.Stat(filepath.Dir(strings.Replace(path, emptyMount, dst, 1)))
					if err != nil || dir.Mode().Perm()&0o222 != 0 {
						t.Errorf("Deployment %s: the copies' directory is writable (%v): a change through the API would be lost at the next start", d.Name, err)
					}
				}
			}
		}
	}
	if ran < 2 {
		t.Errorf("%d secret files checked, want the ingest tokens and the API's users", ran)
	}
}

// layOutSecretVolume writes data as the kubelet writes a secret volume with defaultMode 0440:
// a timestamped directory of the files, ..data linking to it, and a link per key.
func layOutSecretVolume(t *testing.T, dir string, data map[string][]byte) {
	t.Helper()
	ts := filepath.Join(dir, "..2026_12_05_10_00_00.000000001")
	if err := os.MkdirAll(ts, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(filepath.Base(ts), filepath.Join(dir, "..data")); err != nil {
		t.Fatal(err)
	}
	for k, v := range data {
		if err := os.WriteFile(filepath.Join(ts, k), v, 0o440); err != nil {
			t.Fatal(err)
		}
		if err := os.Symlink(filepath.Join("..data", k), filepath.Join(dir, k)); err != nil {
			t.Fatal(err)
		}
	}
}
