package bus_test

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"breachd/bus"
)

// TestEmbeddedUsers: with users, the embedded server refuses anonymous and wrong logins and
// holds each user to its permissions; the admin is unrestricted.
func TestEmbeddedUsers(t *testing.T) {
	admin, err := bus.NewCredential("admin")
	if err != nil {
		t.Fatal(err)
	}
	writer, err := bus.NewCredential("writer")
	if err != nil {
		t.Fatal(err)
	}
	srv, err := bus.StartEmbedded(bus.EmbeddedOptions{StoreDir: t.TempDir(), Users: []bus.User{
		{Credential: admin, Admin: true},
		{Credential: writer, Publish: bus.Subjects{Allow: []string{"ok.>"}, Deny: []string{"ok.secret"}},
			Subscribe: bus.Subjects{Allow: []string{bus.InboxPrefix("writer") + ".>"}}},
	}})
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Shutdown()

	wrong := writer
	wrong.Password += "x"
	for name, opts := range map[string][]nats.Option{"anonymous": nil, "wrong password": wrong.Options()} {
		if nc, err := nats.Connect(srv.ClientURL(), opts...); !errors.Is(err, nats.ErrAuthorization) {
			if nc != nil {
				nc.Close()
			}
			t.Errorf("%s: connect = %v, want %v", name, err, nats.ErrAuthorization)
		}
	}

	// The admin sees what the writer publishes where it may, and nothing else.
	anc, err := nats.Connect(srv.ClientURL(), admin.Options()...)
	if err != nil {
		t.Fatal(err)
	}
	defer anc.Close()
	seen, err := anc.SubscribeSync(">")
	if err != nil {
		t.Fatal(err)
	}
	if err := anc.Flush(); err != nil {
		t.Fatal(err)
	}
	refused := make(chan error, 4)
	wnc, err := nats.Connect(srv.ClientURL(), append(writer.Options(),
		nats.ErrorHandler(func(_ *nats.Conn, _ *nats.Subscription, err error) { refused <- err }))...)
	if err != nil {
		t.Fatal(err)
	}
	defer wnc.Close()
	for _, subj := range []string{"elsewhere", "ok.secret", "ok.fine"} {
		if err := wnc.Publish(subj, []byte(subj)); err != nil {
			t.Fatal(err)
		}
	}
	if err := wnc.Flush(); err != nil {
		t.Fatal(err)
	}
	m, err := seen.NextMsg(5 * time.Second)
	for err == nil && strings.HasPrefix(m.Subject, "$SYS.") { // the server's events of the refused logins above, late
		m, err = seen.NextMsg(5 * time.Second)
	}
	if err != nil || m.Subject != "ok.fine" {
		t.Fatalf("admin received %v (%v), want only ok.fine", m, err)
	}
	for range 2 {
		select {
		case err := <-refused:
			if !errors.Is(err, nats.ErrPermissionViolation) {
				t.Errorf("writer got %v, want a permissions violation", err)
			}
		case <-time.After(5 * time.Second):
			t.Fatal("the writer was not told of its refused publishes")
		}
	}
	if _, err := wnc.SubscribeSync("ok.>"); err != nil {
		t.Fatal(err)
	}
	_ = wnc.Flush()
	select {
	case err := <-refused:
		if !errors.Is(err, nats.ErrPermissionViolation) {
			t.Errorf("writer subscribing: %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Error("the writer may subscribe to ok.>")
	}
}

func TestEmbeddedUsersInvalid(t *testing.T) {
	good, err := bus.NewCredential("u")
	if err != nil {
		t.Fatal(err)
	}
	allow := bus.Subjects{Allow: []string{"x"}}
	cases := []struct {
		name  string
		users []bus.User
		want  string
	}{
		{"none", nil, "no users"},
		{"short password", []bus.User{{Credential: bus.Credential{User: "u", Password: "short"}, Publish: allow}}, "at least 16"},
		{"no name", []bus.User{{Credential: bus.Credential{Password: good.Password}, Publish: allow}}, "want a name"},
		{"twice", []bus.User{{Credential: good, Admin: true}, {Credential: good, Publish: allow}}, "given twice"},
		{"nothing allowed", []bus.User{{Credential: good}}, "no allowed subjects"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			srv, err := bus.StartEmbedded(bus.EmbeddedOptions{StoreDir: t.TempDir(), Users: c.users})
			if err == nil {
				srv.Shutdown()
				t.Fatal("started")
			}
			if !strings.Contains(err.Error(), c.want) {
				t.Errorf("err = %v, want %q", err, c.want)
			}
			if good.Password != "" && strings.Contains(err.Error(), good.Password) {
				t.Error("the error shows a password")
			}
		})
	}
}

func TestNewCredential(t *testing.T) {
	a, err := bus.NewCredential("a")
	if err != nil {
		t.Fatal(err)
	}
	b, err := bus.NewCredential("a")
	if err != nil {
		t.Fatal(err)
	}
	if a.User != "a" || len(a.Password) != 48 || a.Password == b.Password {
		t.Errorf("credentials %q and %q: want user a, 48 hex characters, different", a.Password, b.Password)
	}
	if (bus.Credential{}).Options() != nil {
		t.Error("the zero credential logs in")
	}
}

func TestRedactURL(t *testing.T) {
	cases := map[string]string{
		"nats://127.0.0.1:4222":                           "nats://127.0.0.1:4222",
		"nats://u:secret@n1:4222,nats://u:secret@n2:4222": "nats://u:xxxxx@n1:4222,nats://u:xxxxx@n2:4222",
		"tls://token123@n1:4222":                          "tls://xxxxx@n1:4222",
		"n1:4222":                                         "n1:4222",
	}
	for in, want := range cases {
		if got := bus.RedactURL(in); got != want || strings.Contains(got, "secret") || strings.Contains(got, "token123") {
			t.Errorf("RedactURL(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestCredsFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "u.creds")
	if err := os.WriteFile(path, []byte("-----BEGIN NATS USER JWT-----\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	var warned []string
	warn := func(msg string, _ ...any) { warned = append(warned, msg) }
	if opt, err := bus.CredsFile(path, warn); err != nil || opt == nil || len(warned) != 1 {
		t.Errorf("0644 creds file: option %v, err %v, warnings %q; want an option and one warning", opt != nil, err, warned)
	}
	if err := os.Chmod(path, 0o600); err != nil {
		t.Fatal(err)
	}
	warned = nil
	if _, err := bus.CredsFile(path, warn); err != nil || len(warned) != 0 {
		t.Errorf("0600 creds file: err %v, warnings %q", err, warned)
	}
	if _, err := bus.CredsFile(path+".missing", warn); err == nil {
		t.Error("a missing creds file is accepted")
	}
}
