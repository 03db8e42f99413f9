package main

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	kafkago "github.com/segmentio/kafka-go"
	"github.com/twmb/franz-go/pkg/kfake"
)

// TestRunEndlessInputs runs `breachd run` as a service with three inputs at once — a Kafka
// consumer group (against kfake on loopback), the HTTP endpoint and a followed file — each fed
// a third of a simulated day, with overlaps, and expects every event in history exactly once;
// then SIGINT stops it cleanly.
func TestRunEndlessInputs(t *testing.T) {
	dir := t.TempDir()
	day := filepath.Join(dir, "day.jsonl")
	if _, errs, code := breachd(t, nil, "simulate", "--seed", "4", "--orgs", "1", "-o", day); code != 0 {
		t.Fatalf("simulate: %s", errs)
	}
	raw, err := os.ReadFile(day)
	if err != nil {
		t.Fatal(err)
	}
	lines := bytes.Split(bytes.TrimSpace(raw), []byte("\n"))
	third := len(lines) / 3
	// Overlaps: each input also gets 50 lines of the next one's share.
	kafkaPart, httpPart, followPart := lines[:third+50], lines[third:2*third+50], lines[2*third:]

	cluster, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(3, "feide-auth"))
	if err != nil {
		t.Fatal(err)
	}
	defer cluster.Close()
	brokers := cluster.ListenAddrs()
	w := &kafkago.Writer{Addr: kafkago.TCP(brokers...), Topic: "feide-auth", RequiredAcks: kafkago.RequireAll, BatchTimeout: 5 * time.Millisecond}
	msgs := make([]kafkago.Message, len(kafkaPart))
	for i, l := range kafkaPart {
		msgs[i] = kafkago.Message{Value: l}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := w.WriteMessages(ctx, msgs...); err != nil {
		t.Fatal(err)
	}
	_ = w.Close()

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	httpAddr := ln.Addr().String()
	_ = ln.Close()
	tokens := filepath.Join(dir, "tokens")
	if err := os.WriteFile(tokens, []byte("lms 0123456789abcdef0123\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	follow := filepath.Join(dir, "follow.jsonl")
	data := filepath.Join(dir, "data")
	cmd := exec.Command(binary, "run", "--data", data, "--metrics-addr", "",
		"--kafka-brokers", strings.Join(brokers, ","), "--kafka-topics", "feide-auth",
		"--http-listen", httpAddr, "--http-token-file", tokens, "--follow", follow)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = cmd.Process.Kill() }()

	body := append(bytes.Join(httpPart, []byte("\n")), '\n')
	var resp *http.Response
	for end := time.Now().Add(time.Minute); ; time.Sleep(100 * time.Millisecond) {
		req, _ := http.NewRequest(http.MethodPost, "http://"+httpAddr+"/v1/events", bytes.NewReader(body))
		req.Header.Set("Authorization", "Bearer 0123456789abcdef0123")
		req.Header.Set("Content-Type", "application/x-ndjson")
		if resp, err = http.DefaultClient.Do(req); err == nil && resp.StatusCode == http.StatusOK {
			resp.Body.Close()
			break
		}
		if resp != nil {
			resp.Body.Close()
		}
		if time.Now().After(end) {
			t.Fatalf("HTTP ingest never accepted the body: %v\n%s", err, errb.String())
		}
	}
	if err := os.WriteFile(follow, append(bytes.Join(followPart, []byte("\n")), '\n'), 0o600); err != nil {
		t.Fatal(err)
	}

	want := len(lines)
	got := 0
	for end := time.Now().Add(2 * time.Minute); got != want && time.Now().Before(end); time.Sleep(500 * time.Millisecond) {
		res, _, code := breachd(t, nil, "history", "sql", "--data", data, "--format", "tsv", "--reason", "test",
			"SELECT (SELECT count() FROM auth_events) + (SELECT count() FROM access_events) + (SELECT count() FROM directory_events) AS n")
		if code == 0 {
			got, _ = strconv.Atoi(strings.TrimSpace(strings.TrimPrefix(res, "n\n")))
		}
	}
	if got != want {
		t.Fatalf("history holds %d event rows (no FINAL), want %d\n%s", got, want, errb.String())
	}
	_ = cmd.Process.Signal(syscall.SIGINT)
	if err := cmd.Wait(); err != nil {
		t.Fatalf("breachd after SIGINT: %v\n%s", err, errb.String())
	}
	if !strings.Contains(out.String(), fmt.Sprintf("POST http://%s/v1/events", httpAddr)) {
		t.Errorf("the banner does not show the HTTP endpoint:\n%s", out.String())
	}
}

// TestRunDerivesMissingIDs: a canonical event without an id gets one derived from its content,
// so ingesting it twice stores it once.
func TestRunDerivesMissingIDs(t *testing.T) {
	data := filepath.Join(t.TempDir(), "data")
	line := []byte(`{"kind":"auth","time":"2026-11-02T08:01:13Z","org":"o.no","user":"kari@o.no","service":"https://lms","result":"success"}` + "\n")
	for range 2 {
		if out, errs, code := breachd(t, line, "run", "--exit-when-done", "--data", data, "--metrics-addr", "", "-"); code != 0 {
			t.Fatalf("run: exit %d\n%s\n%s", code, out, errs)
		}
	}
	got, errs, code := breachd(t, nil, "history", "sql", "--data", data, "--format", "tsv", "--reason", "test", "SELECT count() AS n, any(id) AS id FROM auth_events")
	if code != 0 || !strings.HasPrefix(got, "n\tid\n1\tc-") {
		t.Fatalf("history: %q (exit %d, %s); want one row with a derived id c-…", got, code, errs)
	}
}

// TestRunRefusesOpenSecretFiles: a bearer-token or SASL password file that others may read
// stops breachd with an error naming the file and the fix.
func TestRunRefusesOpenSecretFiles(t *testing.T) {
	dir := t.TempDir()
	secret := func(name, content string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		if err := os.Chmod(p, 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	tokens := secret("tokens", "lms 0123456789abcdef0123\n")
	password := secret("sasl-password", "hunter2-hunter2\n")
	for _, c := range []struct {
		name, file string
		args       []string
	}{
		{"http token file", tokens, []string{"--http-listen", "127.0.0.1:0", "--http-token-file", tokens}},
		{"kafka sasl password file", password, []string{"--kafka-brokers", "127.0.0.1:1", "--kafka-topics", "t",
			"--kafka-sasl-mechanism", "scram-sha-256", "--kafka-sasl-username", "u", "--kafka-sasl-password-file", password}},
	} {
		t.Run(c.name, func(t *testing.T) {
			args := append([]string{"run", "--data", filepath.Join(dir, "data"), "--metrics-addr", ""}, c.args...)
			out, errs, code := breachd(t, nil, args...)
			if code != 1 || !strings.Contains(errs, "secret file "+c.file+" is readable by group or others") ||
				!strings.Contains(errs, "chmod 600 "+c.file) {
				t.Fatalf("exit %d, want 1 naming %s and the fix\n%s\n%s", code, c.file, out, errs)
			}
			if strings.Contains(errs, "0123456789abcdef") || strings.Contains(errs, "hunter2") {
				t.Fatalf("the error leaks the secret:\n%s", errs)
			}
		})
	}
}

// TestRunStopsWhenASourceFails: a Kafka topic that does not exist stops breachd with an error
// naming it, although the HTTP endpoint beside it would run for ever.
func TestRunStopsWhenASourceFails(t *testing.T) {
	cluster, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(1, "feide-auth"))
	if err != nil {
		t.Fatal(err)
	}
	defer cluster.Close()
	out, errs, code := breachd(t, nil, "run", "--data", filepath.Join(t.TempDir(), "data"), "--metrics-addr", "",
		"--kafka-brokers", strings.Join(cluster.ListenAddrs(), ","), "--kafka-topics", "no-such-topic",
		"--http-listen", "127.0.0.1:0", "--http-insecure")
	if code != 1 || !strings.Contains(errs, "no-such-topic") {
		t.Fatalf("exit %d, want 1 with the missing topic named\n%s\n%s", code, out, errs)
	}
}
