package ldap_test

import (
	"context"
	"testing"
	"time"

	"breachd/respond"
	"breachd/respond/ldap"
	"breachd/retry"
)

func newClient(t *testing.T, url string, mod func(*ldap.Config)) *ldap.Client {
	t.Helper()
	cfg := ldap.Config{URL: url, AllowPlain: true, BindDN: serviceDN, BindPassword: servicePW, BaseDN: "ou=people," + suffix}
	if mod != nil {
		mod(&cfg)
	}
	c, err := ldap.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestDeactivateReactivateAgainstSlapd(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	const odd = "o*dd(x)@school.no" // filter metacharacters must be escaped
	url := startSlapd(t, "ola@school.no", "kari@school.no", odd)
	c := newClient(t, url, nil)
	if !canBind(t, url, "user0") {
		t.Fatal("user cannot bind before deactivation")
	}
	for _, p := range []string{"ola@school.no", odd} {
		if err := c.Deactivate(ctx, respond.Target{Account: p}); err != nil {
			t.Fatalf("deactivate %q: %v", p, err)
		}
		if got := lockedTime(t, url, p); got != "000001010000Z" {
			t.Fatalf("%q: pwdAccountLockedTime = %q after deactivate", p, got)
		}
	}
	if got := lockedTime(t, url, "kari@school.no"); got != "" {
		t.Fatalf("another entry was changed: %q", got)
	}
	if canBind(t, url, "user0") {
		t.Fatal("locked user can still bind (ppolicy not enforcing the lock)")
	}
	// Idempotent both ways.
	if err := c.Deactivate(ctx, respond.Target{Account: "ola@school.no"}); err != nil {
		t.Fatalf("deactivate again: %v", err)
	}
	for range 2 {
		if err := c.Reactivate(ctx, respond.Target{Account: "ola@school.no"}); err != nil {
			t.Fatalf("reactivate: %v", err)
		}
	}
	if got := lockedTime(t, url, "ola@school.no"); got != "" {
		t.Fatalf("pwdAccountLockedTime = %q after reactivate", got)
	}
	if !canBind(t, url, "user0") {
		t.Fatal("user cannot bind after reactivation")
	}
}

func TestErrorsAgainstSlapd(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	url := startSlapd(t, "ola@school.no", "twin@school.no", "twin@school.no")
	tests := []struct {
		name      string
		account   string
		mod       func(*ldap.Config)
		permanent bool
	}{
		{name: "no such account", account: "ghost@school.no", permanent: true},
		{name: "two entries", account: "twin@school.no", permanent: true},
		{name: "wrong password", account: "ola@school.no", mod: func(c *ldap.Config) { c.BindPassword = "nope" }, permanent: true},
		{name: "no write access", account: "ola@school.no", mod: func(c *ldap.Config) { c.Attribute, c.Value = "description", "locked" }, permanent: true},
		{name: "server down", account: "ola@school.no", mod: func(c *ldap.Config) { c.URL = "ldap://127.0.0.1:1/" }},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := newClient(t, url, tc.mod).Deactivate(ctx, respond.Target{Account: tc.account})
			if err == nil {
				t.Fatal("no error")
			}
			if retry.IsPermanent(err) != tc.permanent {
				t.Fatalf("permanent = %t, want %t: %v", retry.IsPermanent(err), tc.permanent, err)
			}
			if tc.mod != nil && containsSecret(err.Error()) {
				t.Fatalf("error leaks the password: %v", err)
			}
		})
	}
	if got := lockedTime(t, url, "ola@school.no"); got != "" {
		t.Fatalf("failed calls changed the entry: %q", got)
	}
}

func containsSecret(s string) bool {
	for _, secret := range []string{servicePW, "nope"} {
		for i := 0; i+len(secret) <= len(s); i++ {
			if s[i:i+len(secret)] == secret {
				return true
			}
		}
	}
	return false
}

func TestConfigValidation(t *testing.T) {
	for name, cfg := range map[string]ldap.Config{
		"plain without opt-in": {URL: "ldap://127.0.0.1:389", BindDN: "x", BindPassword: "y", BaseDN: "z"},
		"bad scheme":           {URL: "http://x", BindDN: "x", BindPassword: "y", BaseDN: "z"},
		"filter without %s":    {URL: "ldaps://x", BindDN: "x", BindPassword: "y", BaseDN: "z", Filter: "(uid=x)"},
		"broken filter":        {URL: "ldaps://x", BindDN: "x", BindPassword: "y", BaseDN: "z", Filter: "(uid=%s"},
		"no bind dn":           {URL: "ldaps://x", BindPassword: "y", BaseDN: "z"},
	} {
		if _, err := ldap.New(cfg); err == nil {
			t.Fatalf("%s: accepted", name)
		}
	}
}
