package deploy

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// Secret files of the deactivation adapters must be private to their owner: a token others
// can read is refused at load, naming the file and the fix; the same file with mode 0600 loads.
func TestRespondConfigRefusesOpenSecretFiles(t *testing.T) {
	dir := t.TempDir()
	write := func(name, content string, mode os.FileMode) string {
		t.Helper()
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		if err := os.Chmod(p, mode); err != nil {
			t.Fatal(err)
		}
		return p
	}
	for _, c := range []struct{ name, what, yaml, secret string }{
		{"scim token", "scim token", "adapter: scim\nscim: {base_url: https://idp.example/scim/v2, token_file: scim.token}\n", "scim.token"},
		{"ldap password", "ldap password", "adapter: ldap\nldap: {url: ldaps://ldap.example:636, bind_dn: cn=b, password_file: ldap.pw, base_dn: ou=p, " +
			"filter: \"(uid=%s)\", attribute: a, value: v}\n", "ldap.pw"},
		{"webhook secret of an organisation", "orgs: o.no: webhook secret", "orgs:\n  o.no: {adapter: webhook, webhook: {url: https://soar.example/d, secret_file: hook.secret}}\n", "hook.secret"},
	} {
		t.Run(c.name, func(t *testing.T) {
			secret := write(c.secret, "s3cret-0123456789\n", 0o644)
			cfg := write("respond.yaml", c.yaml, 0o644) // the configuration itself is not secret
			_, err := LoadRespondConfig(cfg)
			if err == nil || !strings.Contains(err.Error(), c.what) || !strings.Contains(err.Error(), "chmod 600 "+secret) {
				t.Fatalf("LoadRespondConfig with a 0644 %s: %v; want an error naming %q and saying chmod 600 %s", c.name, err, c.what, secret)
			}
			if strings.Contains(err.Error(), "s3cret") {
				t.Fatalf("the error leaks the secret: %v", err)
			}
			if err := os.Chmod(secret, 0o600); err != nil {
				t.Fatal(err)
			}
			if _, err := LoadRespondConfig(cfg); err != nil {
				t.Fatalf("with mode 0600: %v", err)
			}
		})
	}
}
