package secretfile_test

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"breachd/secretfile"
)

func TestRead(t *testing.T) {
	dir := t.TempDir()
	for _, c := range []struct {
		name string
		mode os.FileMode
		want string // error text; "" means the contents are returned
	}{
		{"owner read-write", 0o600, ""},
		{"owner read-only", 0o400, ""},
		{"world-readable", 0o644, "is readable by group or others (mode 0644); it must be private to its owner: chmod 600 "},
		{"group-readable", 0o640, "is readable by group or others (mode 0640)"},
		{"others may read only", 0o604, "is readable by group or others (mode 0604)"},
		{"group-writable", 0o620, "is accessible by group or others (mode 0620)"},
		{"others may execute", 0o601, "is accessible by group or others (mode 0601)"},
	} {
		t.Run(c.name, func(t *testing.T) {
			path := filepath.Join(dir, strings.ReplaceAll(c.name, " ", "-"))
			if err := os.WriteFile(path, []byte("s3cret-value\n"), 0o600); err != nil {
				t.Fatal(err)
			}
			if err := os.Chmod(path, c.mode); err != nil { // not subject to the umask
				t.Fatal(err)
			}
			got, err := secretfile.Read(path)
			if c.want == "" {
				if err != nil || string(got) != "s3cret-value\n" {
					t.Fatalf("Read = %q, %v; want the contents", got, err)
				}
				return
			}
			var pe *secretfile.PermissionError
			if !errors.As(err, &pe) || !strings.Contains(err.Error(), c.want) || !strings.HasSuffix(err.Error(), "chmod 600 "+path) {
				t.Fatalf("Read: %v; want a PermissionError containing %q and ending in chmod 600 %s", err, c.want, path)
			}
			if got != nil || strings.Contains(err.Error(), "s3cret") {
				t.Fatalf("Read returned contents or leaked them into the error: %q, %v", got, err)
			}
		})
	}
}

// The mode checked is the one of the file a symbolic link points to (Kubernetes mounts secrets
// as links into a ..data directory).
func TestReadFollowsLinks(t *testing.T) {
	dir := t.TempDir()
	target := filepath.Join(dir, "target")
	if err := os.WriteFile(target, []byte("x"), 0o600); err != nil {
		t.Fatal(err)
	}
	link := filepath.Join(dir, "link")
	if err := os.Symlink(target, link); err != nil {
		t.Fatal(err)
	}
	if _, err := secretfile.Read(link); err != nil {
		t.Fatalf("link to a 0600 file: %v", err)
	}
	if err := os.Chmod(target, 0o644); err != nil {
		t.Fatal(err)
	}
	var pe *secretfile.PermissionError
	if _, err := secretfile.Read(link); !errors.As(err, &pe) {
		t.Fatalf("link to a 0644 file: %v, want a PermissionError", err)
	}
}

func TestReadOtherErrors(t *testing.T) {
	dir := t.TempDir()
	if err := os.Chmod(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	big := filepath.Join(dir, "big")
	if err := os.WriteFile(big, make([]byte, secretfile.MaxSize+1), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct{ path, want string }{
		{filepath.Join(dir, "missing"), "no such file"},
		{dir, "not a regular file"},
		{big, "larger than"},
	} {
		if _, err := secretfile.Read(c.path); err == nil || !strings.Contains(err.Error(), c.want) || !strings.Contains(err.Error(), c.path) {
			t.Errorf("Read(%s): %v; want an error naming the path and containing %q", c.path, err, c.want)
		}
	}
}
