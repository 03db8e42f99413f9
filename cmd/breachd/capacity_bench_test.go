package main

import (
	"bytes"
	"context"
	"fmt"
	"os/exec"
	"strconv"
	"sync"
	"testing"
	"time"

	"breachd/simulate"
)

// BenchmarkDetectorProcesses is the capacity-planning figure of deploy/README.md: how many
// events a `breachd detect` process handles per second and per CPU second when NATS and
// ClickHouse run elsewhere. This test process holds the infrastructure (the embedded NATS
// server and the embedded ClickHouse engine's endpoint stand in for a cluster and a server, as
// in TestDetectProcessesShareInfra) and ingests a simulated backlog; then n detector processes
// (members 0..n-1 of n, n = 1 and 2) consume it until they have caught up. It reports the
// backlog's events per second of wall time and the detectors' own CPU (user+system of their
// processes, from their rusage) per event: the engines' CPU is this process's and is not
// counted. Each run starts a fresh stream and engine, so only -benchtime 1x makes sense.
//
//	go test -run '^$' -bench DetectorProcesses -benchtime 1x ./cmd/breachd/
func BenchmarkDetectorProcesses(b *testing.B) {
	for _, members := range []int{1, 2} {
		b.Run(fmt.Sprintf("members=%d", members), func(b *testing.B) {
			for range b.N {
				benchDetectors(b, members)
			}
		})
	}
}

func benchDetectors(b *testing.B, members int) {
	b.StopTimer()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	in, natsURL := sharedInfra(ctx, b)
	cfg := simulate.Defaults()
	cfg.Orgs, cfg.Days = 10, 2
	ingestSimulated(ctx, b, in, cfg)
	st, err := in.JS.Stream(ctx, "EVENTS")
	if err != nil {
		b.Fatal(err)
	}
	events := st.CachedInfo().State.Msgs

	b.StartTimer()
	start := time.Now()
	var wg sync.WaitGroup
	cmds := make([]*exec.Cmd, members)
	logs := make([]bytes.Buffer, members)
	errs := make([]error, members)
	for i := range members {
		cmds[i] = exec.CommandContext(ctx, binary, "detect", "--member", strconv.Itoa(i), "--members", strconv.Itoa(members),
			"--nats", natsURL, "--clickhouse", in.EndpointDSN, "--exit-when-done", "--metrics-addr", "", "--log-level", "warn")
		cmds[i].Stdout, cmds[i].Stderr = &logs[i], &logs[i]
		wg.Go(func() { errs[i] = cmds[i].Run() })
	}
	wg.Wait()
	wall := time.Since(start)
	b.StopTimer()
	var cpu time.Duration
	for i, err := range errs {
		if err != nil {
			b.Fatalf("breachd detect --member %d: %v\n%s", i, err, logs[i].String())
		}
		cpu += cmds[i].ProcessState.UserTime() + cmds[i].ProcessState.SystemTime()
	}
	b.ReportMetric(float64(events)/wall.Seconds(), "events/s")
	b.ReportMetric(float64(cpu.Microseconds())/float64(events), "detector-µs/event")
	b.ReportMetric(float64(events), "events")
}
