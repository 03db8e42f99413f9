package hmacsig

import (
	"errors"
	"strconv"
	"strings"
	"testing"
	"time"
)

var t0 = time.Date(2026, 11, 5, 8, 0, 0, 0, time.UTC)

func TestVerify(t *testing.T) {
	secret := []byte("k")
	body := []byte(`{"a":1}`)
	ts := strconv.FormatInt(t0.Unix(), 10)
	sig := Sign(secret, ts, body)
	cases := []struct {
		name    string
		secret  []byte
		body    []byte
		sig     string
		now     time.Time
		wantErr error
	}{
		{"valid", secret, body, sig, t0.Add(time.Minute), nil},
		{"wrong secret", []byte("x"), body, sig, t0, ErrBadSignature},
		{"body changed", secret, []byte(`{"a":2}`), sig, t0, ErrBadSignature},
		{"no prefix", secret, body, strings.TrimPrefix(sig, "sha256="), t0, ErrBadSignature},
		{"stale", secret, body, sig, t0.Add(10 * time.Minute), ErrStale},
		{"from the future", secret, body, sig, t0.Add(-10 * time.Minute), ErrStale},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			err := Verify(c.secret, ts, c.body, c.sig, 5*time.Minute, c.now)
			if (c.wantErr == nil) != (err == nil) || (c.wantErr != nil && !errors.Is(err, c.wantErr)) {
				t.Fatalf("err = %v, want %v", err, c.wantErr)
			}
		})
	}
}

// FuzzVerify: only the exact signature of the exact body verifies.
func FuzzVerify(f *testing.F) {
	f.Add([]byte("k"), "1762329600", []byte(`{"a":1}`), "sha256=00")
	f.Fuzz(func(t *testing.T, secret []byte, ts string, body []byte, sig string) {
		now := time.Unix(1762329600, 0)
		err := Verify(secret, ts, body, sig, time.Hour, now)
		if err == nil && sig != Sign(secret, ts, body) {
			t.Fatalf("accepted a signature that is not Sign(secret, ts, body): %q", sig)
		}
	})
}
