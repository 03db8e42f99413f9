package auth

import (
	"errors"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

func mustURL(t *testing.T, s string) *url.URL {
	u, err := url.Parse(s)
	if err != nil {
		t.Fatal(err)
	}
	return u
}

func TestPasswordHash(t *testing.T) {
	h, err := hashPassword("a long enough password")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(h, "$argon2id$v=19$m=19456,t=2,p=1$") || strings.Count(h, "$") != 5 {
		t.Errorf("hash %q is not the PHC string", h)
	}
	if ok, err := verifyPassword(h, "a long enough password"); !ok || err != nil {
		t.Errorf("the right password: %v %v", ok, err)
	}
	if ok, _ := verifyPassword(h, "a long enough passworD"); ok {
		t.Error("a wrong password verified")
	}
	if _, err := verifyPassword("$2a$10$bcrypt", "x"); err == nil {
		t.Error("a bcrypt hash parsed")
	}
}

func TestUsersFile(t *testing.T) {
	file := filepath.Join(t.TempDir(), "data", "users.json") // the data directory is made
	u, err := OpenUsers(file)
	if err != nil {
		t.Fatal(err)
	}
	if err := u.Add("kari", []Role{RoleDPO}, []string{"bergen.kommune.no"}, "twelve chars"); err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(file)
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("users file mode %v %v, want 0600", fi.Mode(), err)
	}
	for name, add := range map[string]func() error{
		"duplicate":       func() error { return u.Add("kari", []Role{RoleSOC}, nil, "twelve chars") },
		"short password":  func() error { return u.Add("ola", []Role{RoleSOC}, nil, "eleven char") },
		"dpo without org": func() error { return u.Add("ola", []Role{RoleDPO}, nil, "twelve chars") },
		"no role":         func() error { return u.Add("ola", nil, nil, "twelve chars") },
		"bad name":        func() error { return u.Add("Ola Nordmann", []Role{RoleSOC}, nil, "twelve chars") },
		"bad org":         func() error { return u.Add("ola", []Role{RoleDPO}, []string{"Bergen/x"}, "twelve chars") },
	} {
		if err := add(); err == nil {
			t.Errorf("%s: added", name)
		}
	}
	if err := u.Add("kari", []Role{RoleSOC}, nil, "twelve chars"); !errors.Is(err, ErrExists) {
		t.Errorf("duplicate: %v, want ErrExists", err)
	}
	if err := u.SetPassword("nobody", "twelve chars"); !errors.Is(err, ErrNotFound) {
		t.Errorf("password of nobody: %v, want ErrNotFound", err)
	}
	if err := u.RevokeToken("0123"); !errors.Is(err, ErrNotFound) {
		t.Errorf("revoke unknown: %v, want ErrNotFound", err)
	}

	// A second opener (another process) sees and makes changes through the same file.
	v, err := OpenUsers(file)
	if err != nil {
		t.Fatal(err)
	}
	if err := v.Add("ola", []Role{RoleSOC, RoleRuleAuthor}, nil, "twelve chars!"); err != nil {
		t.Fatal(err)
	}
	if err := u.Disable("ola"); err != nil {
		t.Fatalf("disable a user another opener added: %v", err)
	}
	list := v.List()
	if len(list) != 2 || list[0].Name != "kari" || list[1].Name != "ola" {
		t.Fatalf("list %+v", list)
	}
	raw, _ := os.ReadFile(file)
	if strings.Contains(string(raw), "twelve chars") {
		t.Error("the users file holds a password")
	}

	// Loose permissions are refused, saying how to fix them.
	if err := os.Chmod(file, 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := OpenUsers(file); err == nil || !strings.Contains(err.Error(), "chmod 600") {
		t.Errorf("open a 0644 users file: %v, want a refusal naming chmod 600", err)
	}
	if err := u.Add("per", []Role{RoleSOC}, nil, "twelve chars"); err == nil {
		t.Error("a change to a 0644 users file was written")
	}
}

func TestEnsureAdmin(t *testing.T) {
	file := filepath.Join(t.TempDir(), "users.json")
	created, pw, err := EnsureAdmin(file, "", nil, nil)
	if err != nil || !created || len(pw) < MinPasswordLength {
		t.Fatalf("first start: %v %q %v", created, pw, err)
	}
	u, _ := OpenUsers(file)
	su := u.get("admin")
	if su == nil || !slices.Equal(su.Roles, []Role{RoleAdmin}) {
		t.Fatalf("admin %+v", su)
	}
	if ok, _ := verifyPassword(su.Password, pw); !ok {
		t.Error("the password returned is not the admin's")
	}
	if created, pw, err := EnsureAdmin(file, "another password", nil, nil); created || pw != "" || err != nil {
		t.Errorf("second start: %v %q %v, want nothing done", created, pw, err)
	}
	demo := filepath.Join(t.TempDir(), "u.json")
	if created, pw, _ := EnsureAdmin(demo, "given password!", []Role{RoleSOC, RoleDPO}, []string{"bergen.kommune.no"}); !created || pw != "given password!" {
		t.Errorf("with a given password: %v %q", created, pw)
	}
	u, _ = OpenUsers(demo)
	if su := u.get("admin"); su == nil || !slices.Equal(su.Roles, []Role{RoleAdmin, RoleSOC, RoleDPO}) || !slices.Equal(su.Orgs, []string{"bergen.kommune.no"}) {
		t.Errorf("the demo's admin: %+v, want roles admin, soc, dpo of bergen.kommune.no", su)
	}
}

// Only the token issued authenticates; nothing else a client sends does, nor panics.
func FuzzTokenPrincipal(f *testing.F) {
	u, err := OpenUsers(filepath.Join(f.TempDir(), "users.json"))
	if err != nil {
		f.Fatal(err)
	}
	if err := u.Add("soc1", []Role{RoleSOC}, nil, "twelve chars"); err != nil {
		f.Fatal(err)
	}
	tok, info, err := u.IssueToken("soc1", "", 0)
	if err != nil {
		f.Fatal(err)
	}
	for _, s := range []string{tok, tok[:len(tok)-1], "bd_" + info.ID + "_", "bd_" + info.ID, "bd__", "bd_" + info.ID + "_" + tok[len(tok)-43:] + "x"} {
		f.Add(s)
	}
	now := time.Now()
	f.Fuzz(func(t *testing.T, s string) {
		if p := u.tokenPrincipal(s, now); p != nil && s != tok {
			t.Fatalf("%q authenticated as %s", s, p.Actor())
		}
	})
}
