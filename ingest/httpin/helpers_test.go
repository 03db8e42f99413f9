package httpin_test

import (
	"bytes"
	"compress/gzip"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"breachd/bus"
	"breachd/bus/bustest"
	"breachd/ingest"
	"breachd/ingest/httpin"
)

var discard = slog.New(slog.DiscardHandler)

const (
	tokenA = "token-a-0123456789abcdef"
	tokenB = "token-b-0123456789abcdef"
)

var testTokens = []httpin.Token{{Name: "lms", Secret: tokenA}, {Name: "idp", Secret: tokenB}}

// line returns a valid access event with the given id.
func line(id string) string {
	return fmt.Sprintf(`{"kind":"access","id":%q,"time":"2026-11-02T08:03:50Z","org":"bergen.kommune.no",`+
		`"actor":"kari@bergen.kommune.no","actor_role":"teacher","action":"view","subject":"ola@bergen.kommune.no",`+
		`"resource":"grades","service":"https://lms.example.no/saml"}`, id)
}

// lines returns n valid events with ids prefix-1 … prefix-n, and the ids.
func lines(prefix string, n int) ([]string, []string) {
	var ls, ids []string
	for i := 1; i <= n; i++ {
		id := fmt.Sprintf("%s-%d", prefix, i)
		ls = append(ls, line(id))
		ids = append(ids, id)
	}
	return ls, ids
}

func ndjson(ls []string) []byte { return []byte(strings.Join(ls, "\n") + "\n") }
func array(ls []string) []byte  { return []byte("[" + strings.Join(ls, ",\n ") + "]") }

func gz(t testing.TB, b []byte) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	if _, err := zw.Write(b); err != nil {
		t.Fatal(err)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// env is a Server in front of the real Pipeline and an embedded JetStream.
type env struct {
	bus *bustest.Server
	url string
	reg *prometheus.Registry
}

func newEnv(t *testing.T, cfg httpin.Config) *env {
	t.Helper()
	s := bustest.Start(t)
	reg := prometheus.NewRegistry()
	p, err := ingest.NewPipeline(bus.NewPublisher(s.JS), s.Layout(t), discard, reg)
	if err != nil {
		t.Fatal(err)
	}
	return &env{bus: s, url: serve(t, cfg, reg, p), reg: reg}
}

// serve starts an httptest server (127.0.0.1) with a Server built from cfg over sink.
func serve(t *testing.T, cfg httpin.Config, reg prometheus.Registerer, sink ingest.Sink) string {
	t.Helper()
	if cfg.Tokens == nil && !cfg.Insecure {
		cfg.Tokens = testTokens
	}
	cfg.Logger, cfg.Registerer = discard, reg
	srv, err := httpin.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	hs := httptest.NewServer(srv.Handler(sink))
	t.Cleanup(hs.Close)
	return hs.URL
}

type request struct {
	token, contentType, encoding string
	body                         []byte
	chunked                      bool // send without Content-Length
}

type answer struct {
	code int
	hdr  http.Header
	resp httpin.Response
}

func post(t *testing.T, url string, rq request) answer {
	t.Helper()
	a, err := tryPost(url, rq)
	if err != nil {
		t.Fatal(err)
	}
	return a
}

func tryPost(url string, rq request) (answer, error) {
	var body io.Reader = bytes.NewReader(rq.body)
	if rq.chunked {
		body = io.MultiReader(body) // hides the length from net/http
	}
	req, err := http.NewRequest(http.MethodPost, url+"/v1/events", body)
	if err != nil {
		return answer{}, err
	}
	if rq.token != "" {
		req.Header.Set("Authorization", "Bearer "+rq.token)
	}
	if rq.contentType != "" {
		req.Header.Set("Content-Type", rq.contentType)
	}
	if rq.encoding != "" {
		req.Header.Set("Content-Encoding", rq.encoding)
	}
	c := &http.Client{Timeout: 30 * time.Second}
	res, err := c.Do(req)
	if err != nil {
		return answer{}, fmt.Errorf("POST: %w", err)
	}
	defer res.Body.Close()
	a := answer{code: res.StatusCode, hdr: res.Header}
	raw, err := io.ReadAll(res.Body)
	if err != nil {
		return a, err
	}
	if err := json.Unmarshal(raw, &a.resp); err != nil {
		return a, fmt.Errorf("status %d: response is not JSON: %w: %q", res.StatusCode, err, raw)
	}
	return a, nil
}

// eventIDs returns how often each id is stored on EVENTS.
func eventIDs(t *testing.T, s *bustest.Server) map[string]int {
	t.Helper()
	out := map[string]int{}
	for _, m := range s.Messages(t, bus.StreamEvents) {
		var e struct{ ID string }
		if err := json.Unmarshal(m.Data, &e); err != nil {
			t.Fatalf("stored event %d: %v", m.Sequence, err)
		}
		out[e.ID]++
	}
	return out
}

// wantOnce fails unless EVENTS holds exactly ids, each once.
func wantOnce(t *testing.T, s *bustest.Server, ids []string) {
	t.Helper()
	got := eventIDs(t, s)
	for _, id := range ids {
		if got[id] != 1 {
			t.Errorf("EVENTS holds id %s %d times, want once", id, got[id])
		}
	}
	if len(got) != len(ids) {
		t.Errorf("EVENTS holds %d distinct ids, want %d", len(got), len(ids))
	}
}
