package channel

import "testing"

// FuzzParseConfig: any input yields a Dispatcher or an error, never a panic.
func FuzzParseConfig(f *testing.F) {
	f.Add([]byte("channels:\n  - name: a\n    slack: {url: http://x}\ndefault: {channels: [a]}\n"))
	f.Add([]byte("routes:\n  - {orgs: ['[', '*'], min_severity: x}\n"))
	f.Add([]byte("retry: {initial: 1h}\nchannels: [{name: m, email: {host: h, to: []}}]"))
	f.Fuzz(func(t *testing.T, data []byte) {
		_, _ = ParseConfig(data, Options{})
	})
}
