package deploy

import (
	"context"
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

	"breachd/auth"
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

// TestAPIStage: --stages api serves the API on the listener given, keeps sessions in the
// "sessions" bucket, and stops (closing its port) when the pipeline stops.
func TestAPIStage(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	quiet := slog.New(slog.DiscardHandler)
	in, err := StartInfra(ctx, InfraConfig{DataDir: filepath.Join(t.TempDir(), "data"), Logger: quiet})
	if err != nil {
		t.Fatalf("start infra (needs libchdb.so: scripts/setup.sh): %v", err)
	}
	defer in.Close()
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
// api role's NATS login (its sessions bucket included), and refuses half a TLS configuration
// before reaching anything.
func TestServeAttached(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	quiet := slog.New(slog.DiscardHandler)
	data := filepath.Join(t.TempDir(), "data")
	in, err := StartInfra(ctx, InfraConfig{DataDir: data, Logger: quiet})
	if err != nil {
		t.Fatalf("start infra (needs libchdb.so: scripts/setup.sh): %v", err)
	}
	defer in.Close()
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
