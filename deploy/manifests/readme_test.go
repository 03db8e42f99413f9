package manifests

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"breachd/auth"
	"breachd/secretfile"
)

// readmeSteps returns the lines of the first sh block after the heading "### "+heading in
// deploy/README.md, up to the first line that starts with stop.
func readmeSteps(t *testing.T, heading, stop string) []string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(root, "deploy/README.md"))
	if err != nil {
		t.Fatal(err)
	}
	_, after, ok := strings.Cut(string(b), "\n### "+heading+"\n")
	_, block, ok2 := strings.Cut(after, "```sh\n")
	block, _, ok3 := strings.Cut(block, "```")
	if !ok || !ok2 || !ok3 {
		t.Fatalf("deploy/README.md: no sh block under ### %s", heading)
	}
	var lines []string
	for _, l := range strings.Split(block, "\n") {
		if strings.HasPrefix(l, stop) {
			return lines
		}
		lines = append(lines, l)
	}
	t.Fatalf("deploy/README.md, ### %s: no line starting with %q", heading, stop)
	return nil
}

// copyExamples copies the examples of dir (relative to the repository) into the same place
// under tmp, mode 0644 as a checkout leaves them.
func copyExamples(t *testing.T, tmp, dir string) {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(root, dir, "*"+exampleSuffix))
	if err != nil || len(files) == 0 {
		t.Fatalf("%s: no examples (%v)", dir, err)
	}
	if err := os.MkdirAll(filepath.Join(tmp, dir), 0o755); err != nil {
		t.Fatal(err)
	}
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(tmp, dir, filepath.Base(f)), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// TestReadmeSecretSteps runs the README's steps that make the secret files from their
// examples (with the usual umask 022) and reads the results as breachd does: `breachd users
// add … --users users.json`, the next step, opens the users file with breachd's secret-file
// check, which refuses a copy readable by others.
func TestReadmeSecretSteps(t *testing.T) {
	tmp := t.TempDir()
	copyExamples(t, tmp, "deploy/k8s/secrets")
	if err := os.MkdirAll(filepath.Join(tmp, "deploy/compose"), 0o755); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(filepath.Join(root, ComposeEnv))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(tmp, ComposeEnv), b, 0o644); err != nil {
		t.Fatal(err)
	}
	run := func(heading string, lines []string) {
		t.Helper()
		cmd := exec.Command("sh", "-ec", "umask 022\n"+strings.Join(lines, "\n"))
		cmd.Dir = tmp
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("deploy/README.md, ### %s: %v\n%s\n%s", heading, err, strings.Join(lines, "\n"), out)
		}
	}

	run("Kubernetes", readmeSteps(t, "Kubernetes", "breachd users add"))
	secrets := filepath.Join(tmp, "deploy/k8s/secrets")
	examples, _ := filepath.Glob(filepath.Join(secrets, "*"+exampleSuffix))
	for _, ex := range examples {
		f := strings.TrimSuffix(ex, exampleSuffix)
		if _, err := secretfile.Read(f); err != nil {
			t.Errorf("deploy/README.md, ### Kubernetes: %s: %v", filepath.Base(f), err)
		}
	}
	if _, err := auth.OpenUsers(filepath.Join(secrets, "users.json")); err != nil {
		t.Errorf("deploy/README.md, ### Kubernetes: breachd users add would fail: %v", err)
	}

	// Compose: .env (passwords; Compose reads it, so private to its owner).
	run("Compose", readmeSteps(t, "Compose", "(umask"))
	if _, err := secretfile.Read(filepath.Join(tmp, "deploy/compose/.env")); err != nil {
		t.Errorf("deploy/README.md, ### Compose: .env: %v", err)
	}
}
