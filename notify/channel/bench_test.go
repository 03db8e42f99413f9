package channel

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
)

// BenchmarkDispatchWebhook: one message with a new key per iteration through the dedup
// bucket (claim + delivered record in JetStream KV) to a local webhook receiver.
func BenchmarkDispatchWebhook(b *testing.B) {
	srv := httptest.NewServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}))
	defer srv.Close()
	s := bustestStart(b)
	kv, err := EnsureBucket(b.Context(), s.JS, 0, 1)
	if err != nil {
		b.Fatal(err)
	}
	wh, _ := NewWebhook("hook", srv.URL, []byte("k"), HTTPOptions{})
	d, err := New(Router{Default: []string{"hook"}}, []Channel{wh}, Options{KV: kv, Logger: quietLogger(), Registerer: prometheus.NewRegistry()})
	if err != nil {
		b.Fatal(err)
	}
	m := testMessage()
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		m.Key = fmt.Sprintf("bench/%d", i)
		if err := d.Dispatch(b.Context(), m); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkDispatchDuplicate: a key already delivered (the dedup bucket answers).
func BenchmarkDispatchDuplicate(b *testing.B) {
	srv := httptest.NewServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}))
	defer srv.Close()
	s := bustestStart(b)
	kv, _ := EnsureBucket(b.Context(), s.JS, 0, 1)
	wh, _ := NewWebhook("hook", srv.URL, []byte("k"), HTTPOptions{})
	d, _ := New(Router{Default: []string{"hook"}}, []Channel{wh}, Options{KV: kv, Logger: quietLogger()})
	m := testMessage()
	if err := d.Dispatch(b.Context(), m); err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		if err := d.Dispatch(b.Context(), m); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkRender(b *testing.B) {
	m := testMessage()
	e, _ := NewEmail("m", EmailOptions{Host: "h", From: "a@example.org", To: []string{"b@example.org"}})
	b.Run("slack", func(b *testing.B) {
		for b.Loop() {
			_ = SlackPayload(&m)
		}
	})
	b.Run("teams", func(b *testing.B) {
		for b.Loop() {
			_ = TeamsPayload(&m)
		}
	})
	b.Run("email", func(b *testing.B) {
		for b.Loop() {
			_ = e.render(&m)
		}
	})
}
