package channel

import (
	"testing"
	"time"
)

// FuzzParseConfig: any input yields a Dispatcher or an error, never a panic.
func FuzzParseConfig(f *testing.F) {
	f.Add([]byte("channels:\n  - name: a\n    slack: {url: http://x}\ndefault: {channels: [a]}\n"))
	f.Add([]byte("routes:\n  - {orgs: ['[', '*'], min_severity: x}\n"))
	f.Add([]byte("retry: {initial: 1h}\nchannels: [{name: m, email: {host: h, to: []}}]"))
	f.Fuzz(func(t *testing.T, data []byte) {
		_, _ = ParseConfig(data, Options{})
	})
}

// FuzzVerifySignature: only the exact signature of the exact body verifies.
func FuzzVerifySignature(f *testing.F) {
	f.Add([]byte("k"), "1762329600", []byte(`{"a":1}`), "sha256=00")
	f.Fuzz(func(t *testing.T, secret []byte, ts string, body []byte, sig string) {
		now := time.Unix(1762329600, 0)
		err := VerifySignature(secret, ts, body, sig, time.Hour, now)
		if err == nil && sig != Sign(secret, ts, body) {
			t.Fatalf("accepted a signature that is not Sign(secret, ts, body): %q", sig)
		}
	})
}
