package deploy

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"breachd/auth"
	"breachd/bus"
	"breachd/event"
	"breachd/notify"
)

// getHealthy waits until url/healthz answers 200 (the stage serves), or ctx ends, or the
// stage ended (done: its error).
func getHealthy(t *testing.T, ctx context.Context, url string, done <-chan error) {
	t.Helper()
	for {
		resp, err := http.Get(url + "/healthz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return
			}
		}
		select {
		case <-ctx.Done():
			t.Fatalf("%s/healthz never answered 200: %v", url, err)
		case err := <-done:
			t.Fatalf("the API stage ended before it answered: %v", err)
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// socToken adds a SOC user with an API token to the users file of a stage not yet started.
func socToken(t *testing.T, usersFile string) string {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(usersFile), 0o700); err != nil {
		t.Fatal(err)
	}
	u, err := auth.OpenUsers(usersFile)
	if err != nil {
		t.Fatal(err)
	}
	if err := u.Add("soc", []auth.Role{auth.RoleSOC}, nil, "correct horse battery staple"); err != nil {
		t.Fatal(err)
	}
	tok, _, err := u.IssueToken("soc", "test", 0)
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

// streamSeesChange opens the live incident stream of the API at url with token tok, changes
// an incident through js (as the pipeline) and fails t unless the stream shows the change:
// the stage's NATS login receives the incident changes (its subscription).
func streamSeesChange(t *testing.T, ctx context.Context, url, tok string, js jetstream.JetStream) {
	t.Helper()
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, "GET", url+"/api/incidents/stream", nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+tok)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET /api/incidents/stream: %d", resp.StatusCode)
	}
	now := time.Now()
	data, err := json.Marshal(&event.Incident{ID: "INC-LIVE", Org: "o.no", Account: "u@o.no", State: event.StateDetected,
		Opened: now, Aware: now, Deadline: now.Add(event.ReportWindow), Updated: now, Version: 1})
	if err != nil {
		t.Fatal(err)
	}
	kv, err := js.KeyValue(ctx, bus.BucketIncidents)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := kv.Create(ctx, "inc.INC-LIVE", data); err != nil {
		t.Fatal(err)
	}
	incs, err := notify.NewIncidents(ctx, js, notify.IncidentsOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := incs.Comment(ctx, "INC-LIVE", 0, notify.Edit{Actor: "tester", Comment: "seen"}); err != nil {
		t.Fatal(err)
	}
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		if strings.HasPrefix(sc.Text(), "data: ") && strings.Contains(sc.Text(), `"id":"INC-LIVE"`) {
			return
		}
	}
	t.Fatalf("the stream did not show the change: %v", sc.Err())
}

// TestAPIStage: --stages api serves the API on the listener given, keeps sessions in the
// "sessions" bucket, runs the live incident stream with the pipeline's NATS login (no
// permission refused), and stops (closing its port) when the pipeline stops.
func TestAPIStage(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	quiet := watchNATS(t, slog.New(slog.DiscardHandler))
	data := filepath.Join(t.TempDir(), "data")
	in, err := StartInfra(ctx, InfraConfig{DataDir: data, Logger: quiet})
	if err != nil {
		t.Fatalf("start infra (needs libchdb.so: scripts/setup.sh): %v", err)
	}
	defer in.Close()
	tok := socToken(t, filepath.Join(data, UsersFile))
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	url := "http://" + ln.Addr().String()
	rctx, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() {
		done <- RunPipeline(rctx, in, PipelineConfig{Stages: []string{" api"}, Logger: quiet, API: APIConfig{Listener: ln}})
	}()
	getHealthy(t, ctx, url, done)
	for _, b := range []string{auth.BucketSessions, auth.BucketPrefs} {
		if _, err := in.JS.KeyValue(ctx, b); err != nil {
			t.Errorf("%s bucket: %v", b, err)
		}
	}
	streamSeesChange(t, ctx, url, tok, in.JS)
	stop()
	if err := <-done; err != nil {
		t.Fatalf("pipeline of the API stage: %v", err)
	}
	if c, err := net.Dial("tcp", ln.Addr().String()); err == nil {
		c.Close()
		t.Errorf("%s still accepts connections after the stage stopped", url)
	}
}

// TestServeAttached: `breachd serve` attached to a running instance serves the API with the
// api role's NATS login (its sessions bucket and the live incident stream included, no
// permission refused), and refuses half a TLS configuration before reaching anything.
func TestServeAttached(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	quiet := watchNATS(t, slog.New(slog.DiscardHandler))
	data := filepath.Join(t.TempDir(), "data")
	in, err := StartInfra(ctx, InfraConfig{DataDir: data, Logger: quiet})
	if err != nil {
		t.Fatalf("start infra (needs libchdb.so: scripts/setup.sh): %v", err)
	}
	defer in.Close()
	tok := socToken(t, filepath.Join(data, UsersFile))
	if err := Serve(ctx, ServeConfig{Attach: AttachConfig{InfraConfig: InfraConfig{DataDir: data}}, API: APIConfig{TLSCert: "x.pem"}}); err == nil ||
		!strings.Contains(err.Error(), "--tls-key") {
		t.Errorf("--tls-cert without --tls-key: %v", err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	sctx, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	var banner strings.Builder
	go func() {
		done <- Serve(sctx, ServeConfig{Attach: AttachConfig{InfraConfig: InfraConfig{DataDir: data, Logger: quiet}},
			API: APIConfig{Listener: ln}, Banner: &banner})
	}()
	url := "http://" + ln.Addr().String()
	getHealthy(t, ctx, url, done)
	streamSeesChange(t, ctx, url, tok, in.JS)
	stop()
	if err := <-done; err != nil {
		t.Fatalf("serve: %v", err)
	}
	for _, b := range []string{auth.BucketSessions, auth.BucketPrefs} {
		if _, err := in.JS.KeyValue(ctx, b); err != nil {
			t.Errorf("%s bucket made by serve as the api role: %v", b, err)
		}
	}
	if !strings.Contains(banner.String(), url) {
		t.Errorf("banner does not name %s:\n%s", url, banner.String())
	}
}

// TestRunProcessCreatesNoAdminItCannotShow: when the API's address is taken, RunProcess fails
// before the first admin is created, so no generated password is lost (the next start makes
// and prints one).
func TestRunProcessCreatesNoAdminItCannotShow(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	taken, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer taken.Close()
	data := filepath.Join(t.TempDir(), "data")
	var banner strings.Builder
	err = RunProcess(ctx, ProcessConfig{Infra: InfraConfig{DataDir: data, Logger: slog.New(slog.DiscardHandler)}, Banner: &banner,
		Pipeline: PipelineConfig{Stages: []string{StageAPI}, API: APIConfig{Listen: taken.Addr().String()}}})
	if err == nil || !strings.Contains(err.Error(), "--listen") {
		t.Fatalf("RunProcess on a taken address: %v", err)
	}
	if _, err := os.Stat(filepath.Join(data, UsersFile)); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("the users file was made although the banner never showed its password: %v", err)
	}
}

// TestStartFailed: a stage that could not start reports the error of a stage that had failed
// before it, not the echo of the cancellation; a process stopped while a stage started ends
// without an error (as one stopped while running), and a stage's own failure is its error.
func TestStartFailed(t *testing.T) {
	cause, own := errors.New("detector: consumer gone"), errors.New("users file: permission denied")
	echo := fmt.Errorf("bind bucket incidents: %w", context.Canceled)
	stopped, stop := context.WithCancel(context.Background())
	stop()
	for _, c := range []struct {
		ctx               context.Context
		running, starting error
		want              error
	}{
		{context.Background(), cause, echo, cause},
		{stopped, nil, echo, nil},
		{stopped, context.Canceled, echo, nil},
		{context.Background(), nil, own, own},
		{stopped, nil, own, own},
	} {
		if got := startFailed(c.ctx, c.running, c.starting); got != c.want {
			t.Errorf("startFailed(ctx done %v, %v, %v) = %v, want %v", c.ctx.Err() != nil, c.running, c.starting, got, c.want)
		}
	}
}
