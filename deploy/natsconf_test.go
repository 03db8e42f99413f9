package deploy

import (
	"flag"
	"fmt"
	"os"
	"slices"
	"strings"
	"testing"

	"github.com/nats-io/nats-server/v2/server"
)

var update = flag.Bool("update", false, "rewrite "+natsConfExample+" from NATSPermissions")

// natsConfExample is the nats-server configuration deploy/README.md points to for a NATS
// cluster of one's own: one account, a user per role with the permissions of the embedded
// server (but replies on the default _INBOX prefix).
const natsConfExample = "nats-server.conf.example"

// renderNATSConf writes the example configuration from NATSPermissions.
func renderNATSConf() string {
	var b strings.Builder
	b.WriteString(`# nats-server configuration for breachd: an account of its own, one user per role with the
# permissions breachd's embedded server gives it (deploy/natsperm.go; see deploy/README.md,
# "NATS in production"). Generated: go test ./deploy -run TestNATSConfExample -update
#
# Passwords: replace each with a bcrypt hash from "nats server passwd". With an operator/JWT
# setup (nsc), give each user the same allow and deny lists instead.
# With an external NATS, breachd's replies use the default _INBOX prefix; the account keeps
# other applications' replies out of reach.

jetstream { store_dir: /var/lib/nats/jetstream }

# tls { cert_file: /etc/nats/tls/server.crt, key_file: /etc/nats/tls/server.key }

accounts {
  BREACHD {
    jetstream: enabled
    users: [
      # admin: unrestricted (stream purge and delete, consumer removal). Not used by breachd.
      { user: admin, password: "REPLACE: bcrypt hash" }
`)
	for _, role := range []string{NATSPipeline, NATSOperator, NATSReplay, NATSAPI} {
		pub, sub, _ := NATSPermissions(role)
		fmt.Fprintf(&b, "      { user: %s, password: \"REPLACE: bcrypt hash\", permissions: {\n", role)
		b.WriteString("          publish: {\n            allow: [\n")
		for _, s := range pub.Allow {
			fmt.Fprintf(&b, "              %q\n", s)
		}
		b.WriteString("            ]\n            deny: [\n")
		for _, s := range pub.Deny {
			fmt.Fprintf(&b, "              %q\n", s)
		}
		// With an external NATS the replies come to the default _INBOX prefix (bus.InboxPrefix
		// is the embedded server's); the role's other subscriptions are as embedded.
		subs := []string{`"_INBOX.>"`}
		for _, s := range sub.Allow[1:] {
			subs = append(subs, fmt.Sprintf("%q", s))
		}
		fmt.Fprintf(&b, "            ]\n          }\n          subscribe: { allow: [%s] }\n      } }\n", strings.Join(subs, ", "))
	}
	b.WriteString("    ]\n  }\n}\n")
	return b.String()
}

// TestNATSConfExample: the example configuration is what NATSPermissions says, and
// nats-server reads it with exactly those permissions.
func TestNATSConfExample(t *testing.T) {
	want := renderNATSConf()
	if *update {
		if err := os.WriteFile(natsConfExample, []byte(want), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	got, err := os.ReadFile(natsConfExample)
	if err != nil {
		t.Fatal(err)
	}
	if string(got) != want {
		t.Fatalf("%s is not what NATSPermissions says: go test ./deploy -run TestNATSConfExample -update", natsConfExample)
	}
	opts, err := server.ProcessConfigFile(natsConfExample)
	if err != nil {
		t.Fatalf("nats-server cannot read %s: %v", natsConfExample, err)
	}
	seen := map[string]bool{}
	for _, u := range opts.Users {
		seen[u.Username] = true
		if u.Account == nil || u.Account.Name != "BREACHD" {
			t.Errorf("user %s is not in account BREACHD", u.Username)
		}
		pub, sub, ok := NATSPermissions(u.Username)
		switch {
		case u.Username == NATSAdmin:
			if u.Permissions != nil {
				t.Errorf("admin has restrictions: %+v", u.Permissions)
			}
		case !ok:
			t.Errorf("unknown user %s", u.Username)
		case u.Permissions == nil || !slices.Equal(u.Permissions.Publish.Allow, pub.Allow) ||
			!slices.Equal(u.Permissions.Publish.Deny, pub.Deny) || !slices.Equal(u.Permissions.Subscribe.Allow, append([]string{"_INBOX.>"}, sub.Allow[1:]...)):
			t.Errorf("%s: permissions as read by nats-server differ from NATSPermissions", u.Username)
		}
	}
	for _, role := range []string{NATSPipeline, NATSOperator, NATSReplay, NATSAPI, NATSAdmin} {
		if !seen[role] {
			t.Errorf("no user %s in %s", role, natsConfExample)
		}
	}
}
