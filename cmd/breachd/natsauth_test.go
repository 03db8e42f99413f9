package main

import (
	"encoding/json"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"breachd/bus"
	"breachd/deploy"
)

// TestDLQAgainstRunningInstance: with a `breachd run` holding the data directory, `breachd
// dlq` logs in through the endpoint file as the operator (list) and as replay (replay
// --delete); nobody gets in without a credential, and the operator's login cannot purge.
func TestDLQAgainstRunningInstance(t *testing.T) {
	dir := t.TempDir()
	data := filepath.Join(dir, "data")
	saml, err := os.ReadFile("../../ingest/format/testdata/simplesamlphp/idp-rsyslog-rfc3339.log")
	if err != nil {
		t.Fatal(err)
	}
	in := filepath.Join(dir, "in.jsonl")
	if err := os.WriteFile(in, []byte(strings.SplitN(string(saml), "\n", 2)[0]+"\nnot json\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	run := exec.Command(binary, "run", "--data", data, "--follow", in, "--metrics-addr", "")
	var out, errb syncBuffer
	run.Stdout, run.Stderr = &out, &errb
	if err := run.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- run.Wait() }()
	defer func() {
		_ = run.Process.Signal(os.Interrupt)
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("breachd run: %v\n%s", err, errb.String())
			}
		case <-time.After(2 * time.Minute):
			_ = run.Process.Kill()
			t.Errorf("breachd run did not stop after SIGINT\n%s", errb.String())
		}
		for _, line := range strings.Split(errb.String(), "\n") { // but for the purge tried below
			if strings.Contains(line, "Violation") && !strings.Contains(line, "STREAM.PURGE.DEADLETTER") {
				t.Errorf("NATS refused a client of breachd run: %s", line)
			}
		}
	}()

	// Wait for both letters, read through the running instance.
	var letters []struct{ Seq uint64 }
	for deadline := time.Now().Add(2 * time.Minute); len(letters) < 2; time.Sleep(200 * time.Millisecond) {
		select {
		case err := <-done:
			t.Fatalf("breachd run exited: %v\n%s", err, errb.String())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("no 2 dead letters in 2 minutes\n%s", errb.String())
		}
		if _, err := deploy.ReadEndpoint(data); err != nil {
			continue
		}
		o, errs, code := breachd(t, nil, "dlq", "list", "--data", data, "--format", "json")
		if code != 0 || strings.Contains(errs, "opening the data directory") {
			t.Fatalf("dlq list did not read through the running instance: exit %d\n%s", code, errs)
		}
		letters = nil
		if err := json.Unmarshal([]byte(o), &letters); err != nil {
			t.Fatalf("dlq list: %v\n%s", err, o)
		}
	}
	ep, err := deploy.ReadEndpoint(data)
	if err != nil {
		t.Fatal(err)
	}

	// Anonymous: refused. Operator: may not purge (the request is refused, the letters stay).
	if nc, err := nats.Connect(ep.NATS); err == nil {
		nc.Close()
		t.Error("an anonymous client connected to the running instance's nats-server")
	}
	nc, _, err := bus.Connect(ep.NATS, "test", slog.New(slog.DiscardHandler), ep.NATSLogin(deploy.NATSOperator)...)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := nc.Request("$JS.API.STREAM.PURGE."+bus.StreamDLQ, nil, time.Second); err == nil {
		t.Error("the operator purged DEADLETTER")
	}
	nc.Close()

	// Replay with --delete of the SimpleSAMLphp letter: accepted, published and deleted.
	first := strconv.FormatUint(letters[0].Seq, 10)
	o, errs, code := breachd(t, nil, "dlq", "replay", "--data", data, "--format-in", "simplesamlphp", "--delete", first)
	if code != 0 || !strings.Contains(o, first+"\tfile\tin.jsonl:1\taccepted (deleted)") {
		t.Errorf("dlq replay %s: exit %d\n%s%s", first, code, o, errs)
	}
	o, errs, code = breachd(t, nil, "dlq", "stats", "--data", data)
	if code != 0 || !strings.HasPrefix(o, "1 dead letter") {
		t.Errorf("dlq stats after the replay: exit %d\n%s%s", code, o, errs)
	}
}
