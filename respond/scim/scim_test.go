package scim_test

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"breachd/respond"
	"breachd/respond/scim"
	"breachd/respond/scim/scimtest"
	"breachd/retry"
)

func newClient(t *testing.T, srv *scimtest.Server, token string) *scim.Client {
	t.Helper()
	c, err := scim.New(scim.Config{BaseURL: srv.URL, Token: token})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestDeactivateReactivate(t *testing.T) {
	ctx := context.Background()
	const odd = `o"dd\name@school.no`
	srv := scimtest.Start(t, "ola@school.no", odd, "kari@school.no")
	c := newClient(t, srv, srv.Token)
	for _, acc := range []string{"ola@school.no", odd} {
		if err := c.Deactivate(ctx, respond.Target{Org: "school.no", Account: acc}); err != nil {
			t.Fatalf("deactivate %q: %v", acc, err)
		}
		if active, ok := srv.Active(acc); !ok || active {
			t.Fatalf("%q: active=%t found=%t after deactivate", acc, active, ok)
		}
	}
	if active, _ := srv.Active("kari@school.no"); !active {
		t.Fatal("another user was deactivated")
	}
	if got := srv.Patches(); got != 2 {
		t.Fatalf("patches = %d, want 2", got)
	}
	// Idempotent: an inactive user is not patched again.
	if err := c.Deactivate(ctx, respond.Target{Account: "OLA@school.no"}); err != nil {
		t.Fatalf("deactivate again (other case): %v", err)
	}
	if got := srv.Patches(); got != 2 {
		t.Fatalf("patches after repeat = %d, want 2", got)
	}
	if err := c.Reactivate(ctx, respond.Target{Account: "ola@school.no"}); err != nil {
		t.Fatalf("reactivate: %v", err)
	}
	if active, _ := srv.Active("ola@school.no"); !active {
		t.Fatal("still inactive after reactivate")
	}
}

func TestErrorClasses(t *testing.T) {
	ctx := context.Background()
	srv := scimtest.Start(t, "ola@school.no")
	tests := []struct {
		name      string
		token     string
		account   string
		fail      int
		retry     string
		permanent bool
		after     bool
	}{
		{name: "user not found", token: srv.Token, account: "nobody@school.no", permanent: true},
		{name: "bad token", token: "wrong", account: "ola@school.no", permanent: true},
		{name: "503 with Retry-After", token: srv.Token, account: "ola@school.no", fail: http.StatusServiceUnavailable, retry: "7", after: true},
		{name: "429", token: srv.Token, account: "ola@school.no", fail: http.StatusTooManyRequests},
		{name: "400", token: srv.Token, account: "ola@school.no", fail: http.StatusBadRequest, permanent: true},
		{name: "403", token: srv.Token, account: "ola@school.no", fail: http.StatusForbidden, permanent: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if tc.fail != 0 {
				srv.FailPatches(1, tc.fail, tc.retry)
			}
			err := newClient(t, srv, tc.token).Deactivate(ctx, respond.Target{Account: tc.account})
			if err == nil {
				t.Fatal("no error")
			}
			if retry.IsPermanent(err) != tc.permanent {
				t.Fatalf("permanent = %t, want %t: %v", retry.IsPermanent(err), tc.permanent, err)
			}
			if active, _ := srv.Active("ola@school.no"); !active {
				t.Fatal("user changed by a failed call")
			}
			if d, _ := retry.RetryAfter(err); tc.after && d != 7*time.Second {
				t.Fatalf("Retry-After not carried: %v", err)
			}
		})
	}
	// Unreachable server: transient, and the account does not leak through the URL.
	c, err := scim.New(scim.Config{BaseURL: "http://127.0.0.1:1/scim/v2", Token: "x"})
	if err != nil {
		t.Fatal(err)
	}
	err = c.Deactivate(ctx, respond.Target{Account: "secret.person@school.no"})
	if err == nil || retry.IsPermanent(err) {
		t.Fatalf("unreachable: want a transient error, got %v", err)
	}
	if strings.Contains(err.Error(), "secret.person") {
		t.Fatalf("error leaks the account: %v", err)
	}
}
