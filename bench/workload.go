package bench

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"time"

	"breachd/event"
	"breachd/simulate"
)

// errEnough stops the simulator once a workload has its events.
var errEnough = errors.New("enough events")

// simulated runs the simulator of cfg and hands each event to emit, at most limit events (0:
// all).
func simulated(ctx context.Context, cfg simulate.Config, limit int, emit func(e *event.Event) error) (int, error) {
	gen, err := simulate.New(cfg)
	if err != nil {
		return 0, fmt.Errorf("simulator: %w", err)
	}
	n := 0
	err = gen.Run(ctx, func(e *event.Event) error {
		if limit > 0 && n == limit {
			return errEnough
		}
		n++
		return emit(e)
	})
	if errors.Is(err, errEnough) {
		err = nil
	}
	return n, err
}

// marshal is e in canonical JSON.
func marshal(e *event.Event) ([]byte, error) {
	data, err := event.Marshal(e)
	if err != nil {
		return nil, fmt.Errorf("marshal simulated event %s: %w", e.ID, err)
	}
	return data, nil
}

// Workload is the simulated events of the raw and pipeline phases, written as JSON Lines to a
// file (the pipeline phase reads it as `breachd run FILE` does).
type Workload struct {
	Path   string
	Events int
	Bytes  int64
}

// writeWorkload writes the events of cfg (at most limit; 0: all) to path, their ids prefixed
// with prefix (so that no two runs share an id: JetStream would drop the second as a
// duplicate).
func writeWorkload(ctx context.Context, cfg simulate.Config, prefix string, limit int, path string) (Workload, error) {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return Workload{}, fmt.Errorf("workload file: %w", err)
	}
	defer f.Close()
	w := bufio.NewWriterSize(f, 1<<20)
	wl := Workload{Path: path}
	wl.Events, err = simulated(ctx, cfg, limit, func(e *event.Event) error {
		e.ID = prefix + e.ID
		data, err := marshal(e)
		if err != nil {
			return err
		}
		wl.Bytes += int64(len(data)) + 1
		w.Write(data)
		return w.WriteByte('\n')
	})
	if err == nil {
		err = w.Flush()
	}
	if err == nil {
		err = f.Close()
	}
	if err != nil {
		return Workload{}, fmt.Errorf("workload file %s: %w", path, err)
	}
	return wl, nil
}

// payload is an event as the raw phase publishes it: its canonical JSON, and its id as the
// message id.
type payload struct {
	id   string
	data []byte
}

// readPayloads reads the workload's lines into memory, one payload each (the raw phase
// publishes them).
func readPayloads(wl Workload) ([]payload, error) {
	b, err := os.ReadFile(wl.Path)
	if err != nil {
		return nil, fmt.Errorf("workload file: %w", err)
	}
	out := make([]payload, 0, wl.Events)
	for line := range bytes.Lines(b) {
		if line = bytes.TrimSuffix(line, []byte("\n")); len(line) > 0 {
			e, err := event.Parse(line)
			if err != nil {
				return nil, fmt.Errorf("workload file %s, line %d: %w", wl.Path, len(out)+1, err)
			}
			out = append(out, payload{id: e.ID, data: line[:len(line):len(line)]})
		}
	}
	if len(out) != wl.Events {
		return nil, fmt.Errorf("workload file %s: %d lines, want %d", wl.Path, len(out), wl.Events)
	}
	return out, nil
}

// Probe kinds: the breach causes a probe replays on a fresh account, each turned into an
// incident by the shipped rule pack.
const (
	// ProbeBulkExport is one export of 800 special-needs records (rule bulk-export-sensitive).
	ProbeBulkExport = "bulk_export"
	// ProbeCredentialStuffing is 20 failed logins within a few seconds, then a successful one
	// (rule credential-stuffing); the incident is expected on the success.
	ProbeCredentialStuffing = "credential_stuffing"
)

// probeKinds alternate in the latency phase.
var probeKinds = []string{ProbeBulkExport, ProbeCredentialStuffing}

// probe returns the events of probe n of kind on a fresh account of realm (tag is the run's),
// timed from at, with ids "probe-<n>-<i>"; the last is the one the incident is expected on.
func probe(kind, tag, realm string, n int, at time.Time) []event.Event {
	acct := fmt.Sprintf("bench-%s-probe-%d@%s", tag, n, realm) // fresh in every run
	id := func(i int) string { return fmt.Sprintf("probe-%d-%d", n, i) }
	switch kind {
	case ProbeCredentialStuffing:
		evs := make([]event.Event, 0, 21)
		for i := range 21 {
			result := "failure"
			if i == 20 {
				result = "success"
			}
			evs = append(evs, event.Event{Kind: event.KindAuth, ID: id(i), Time: at.Add(time.Duration(i) * 100 * time.Millisecond),
				Org: realm, User: acct, Service: "https://lms.example.no/saml", Result: result, Method: "password",
				IP: "203.0.113.77", Country: "VN"})
		}
		return evs
	default:
		return []event.Event{{Kind: event.KindAccess, ID: id(0), Time: at, Org: realm, Actor: acct, ActorRole: "admin",
			Action: "export", Subject: "bench-pupil@" + realm, Resource: "special_needs",
			Service: "https://sas.example.no/saml", Records: 800}}
	}
}
