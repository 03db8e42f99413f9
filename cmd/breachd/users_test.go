package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"breachd/auth"
)

func TestUsersCommand(t *testing.T) {
	data := t.TempDir()
	file := filepath.Join(data, "users.json")
	run := func(stdin string, args ...string) (string, string, int) {
		t.Helper()
		var in []byte
		if stdin != "" {
			in = []byte(stdin)
		}
		return breachd(t, in, append([]string{"users"}, append(args, "--data", data)...)...)
	}
	if out, errs, code := run("a good password\n", "add", "kari", "--role", "dpo", "--org", "bergen.kommune.no", "--password-stdin"); code != 0 || !strings.Contains(out, "user kari: added") {
		t.Fatalf("add: %d %q %q", code, out, errs)
	}
	if fi, err := os.Stat(file); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("users file under --data: %v %v", fi, err)
	}
	for _, c := range []struct {
		stdin string
		args  []string
		code  int
		want  string
	}{
		{"a good password\n", []string{"add", "kari", "--role", "soc"}, 1, "already exists"},
		{"short\n", []string{"add", "ola", "--role", "soc"}, 1, "at least 12"},
		{"a good password\n", []string{"add", "ola", "--role", "dpo"}, 1, "--org"},
		{"a good password\n", []string{"add", "ola", "--role", "boss"}, 2, `unknown role "boss"`},
		{"a good password\n", []string{"add", "ola"}, 2, "--role"},
		{"", []string{"disable", "nobody"}, 1, "not found"},
		{"", []string{"token", "kari", "--ttl", "400d"}, 1, "366 days"},
		{"", []string{"token", "kari", "--ttl", "soon"}, 2, "--ttl"},
		{"", []string{"frob"}, 2, `unknown subcommand "frob"`},
	} {
		if out, errs, code := run(c.stdin, c.args...); code != c.code || !strings.Contains(out+errs, c.want) {
			t.Errorf("users %v: exit %d %q; want %d containing %q", c.args, code, out+errs, c.code, c.want)
		}
	}

	out, errs, code := run("", "token", "kari", "--label", "laptop", "--ttl", "30d", "--format", "json")
	var tok struct {
		Token, ID string
		Expires   time.Time
	}
	if code != 0 || json.Unmarshal([]byte(out), &tok) != nil || !strings.HasPrefix(tok.Token, "bd_"+tok.ID+"_") {
		t.Fatalf("token: %d %q %q", code, out, errs)
	}
	if d := time.Until(tok.Expires); d < 29*24*time.Hour || d > 30*24*time.Hour {
		t.Errorf("30d token expires in %s", d)
	}
	if out, _, _ := run("", "tokens"); !strings.Contains(out, tok.ID) || !strings.Contains(out, "active") || strings.Contains(out, tok.Token) {
		t.Errorf("tokens: %q", out)
	}
	if out, errs, code := run("", "token", "revoke", tok.ID); code != 0 || !strings.Contains(out, "revoked") {
		t.Errorf("revoke: %d %q %q", code, out, errs)
	}
	if out, _, _ := run("", "tokens", "--format", "csv"); !strings.Contains(out, tok.ID+",kari,laptop,revoked,") {
		t.Errorf("tokens after revoke: %q", out)
	}
	if _, errs, code := run("another password\n", "passwd", "kari", "--password-stdin"); code != 0 {
		t.Errorf("passwd: %d %q", code, errs)
	}
	if _, errs, code := run("", "disable", "kari"); code != 0 {
		t.Errorf("disable: %d %q", code, errs)
	}
	out, _, _ = run("", "list", "--format", "json")
	var list []map[string]any
	if err := json.Unmarshal([]byte(out), &list); err != nil || len(list) != 1 || list[0]["name"] != "kari" || list[0]["disabled"] != true ||
		list[0]["roles"] != "dpo" || strings.Contains(out, "argon2") {
		t.Errorf("list: %q %v", out, err)
	}

	// The file a running server shares: its changes are the server's users.
	u, err := auth.OpenUsers(file)
	if err != nil {
		t.Fatal(err)
	}
	if l := u.List(); len(l) != 1 || !l[0].Disabled {
		t.Errorf("users file %+v", l)
	}
	os.Chmod(file, 0o644)
	if _, errs, code := run("", "list"); code != 1 || !strings.Contains(errs, "chmod 600") {
		t.Errorf("list of a 0644 file: %d %q", code, errs)
	}
}
