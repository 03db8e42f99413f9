package faulttest

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"breachd/bus"
	"breachd/deploy"
	"breachd/detect"
	"breachd/event"
)

// members is the size of the detector set: the stages run as at least four processes (ingest,
// two detectors, the notifier).
const members = 2

// standbys is how many hot standbys run beside each active detector (same --member; one of
// them takes over when the active one dies); with 0, scenario (b) restarts the killed detector
// instead. The standbys start once
// their member's durable exists: a detector that creates its durable lists the stream's
// consumers, which on a cluster waits up to 4 s for one being created beside it.
const standbys = 1

// detectBatch is the detectors' --detect-batch: small, so the simulated day takes many batches
// and a fault lands between them, not after the only one.
const detectBatch = "500"

// input is the simulated day every scenario feeds, and how many events of each kind it has.
type input struct {
	lines [][]byte
	kinds map[event.Kind]int
}

// simulatedDay writes a day of one organisation with injected breaches (breachd simulate).
func simulatedDay(t *testing.T) input {
	t.Helper()
	path := filepath.Join(t.TempDir(), "day.jsonl")
	if out, err := exec.Command(binary, "simulate", "--seed", "9", "--orgs", "1", "-o", path).CombinedOutput(); err != nil {
		t.Fatalf("simulate: %v\n%s", err, out)
	}
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	in := input{kinds: map[event.Kind]int{}}
	for _, l := range bytes.Split(bytes.TrimSpace(raw), []byte("\n")) {
		e, err := event.Parse(l)
		if err != nil {
			t.Fatal(err)
		}
		in.kinds[e.Kind]++
		in.lines = append(in.lines, append(l, '\n'))
	}
	return in
}

// pipeline is one scenario's deployment: a fresh cluster and database, and the stages as
// separate breachd processes — ingest (reading the day on stdin, as the test feeds it), the
// detector set, the notifier.
type pipeline struct {
	t        *testing.T
	dir      string
	logDir   string
	cl       *cluster
	db       *database
	dets     [members][]*proc // each member's running detector processes
	started  [members]int     // each member's detector processes started, for their names
	notifier *proc
	ingest   *proc
	stdin    io.WriteCloser
}

// startPipeline starts the cluster, the database name and every stage but ingest.
func startPipeline(ctx context.Context, t *testing.T, name string) *pipeline {
	t.Helper()
	dir := t.TempDir()
	p := &pipeline{t: t, dir: dir, logDir: filepath.Join(dir, "logs")}
	if err := os.Mkdir(p.logDir, 0o700); err != nil {
		t.Fatal(err)
	}
	p.cl = startCluster(ctx, t, filepath.Join(dir, "nats"), p.logDir)
	p.db = newDatabase(ctx, t, openEngine(t), name)
	for m := range members {
		p.startDetector(m)
	}
	if standbys > 0 {
		// The standbys join members whose durables exist, as in a rolling start.
		if err := retryUntil(ctx, 2*time.Minute, func(ctx context.Context) error {
			for durable := range detectConsumers() {
				if _, err := p.cl.JS.Consumer(ctx, bus.StreamEvents, durable); err != nil {
					return fmt.Errorf("%s: %w", durable, err)
				}
			}
			return nil
		}); err != nil {
			t.Fatalf("detector durables: %v", err)
		}
		for m := range members {
			for range standbys {
				p.startDetector(m)
			}
		}
	}
	p.notifier = p.start("notify", "run", "--stages", deploy.StageNotify, "--listen", "", "--data", filepath.Join(dir, "notify"))
	return p
}

// common are the flags of every stage process: the cluster, the history through the proxy,
// three replicas, no metrics endpoint.
func (p *pipeline) common() []string {
	return []string{"--nats", p.cl.URLs(), "--clickhouse", p.db.DSN, "--replicas", strconv.Itoa(replicas), "--metrics-addr", ""}
}

// start runs breachd with args and the common flags as the process name.
func (p *pipeline) start(name string, args ...string) *proc {
	return p.startWith(name, nil, args...)
}

func (p *pipeline) startWith(name string, stdin io.Reader, args ...string) *proc {
	cmd := exec.Command(binary, append(args, p.common()...)...)
	cmd.Stdin = stdin
	return startProc(p.t, p.logDir, name, cmd)
}

// startDetector starts a detector process of member m, named detect-<m>.<n> for the member's
// n-th process.
func (p *pipeline) startDetector(m int) *proc {
	d := p.start(fmt.Sprintf("detect-%d.%d", m, p.started[m]), "detect", "--member", strconv.Itoa(m), "--members", strconv.Itoa(members),
		"--detect-batch", detectBatch)
	p.started[m]++
	p.dets[m] = append(p.dets[m], d)
	return d
}

// startIngest starts the ingest process reading the day on stdin (fed by feed, until stdin is
// closed).
func (p *pipeline) startIngest() {
	r, w, err := os.Pipe()
	if err != nil {
		p.t.Fatal(err)
	}
	p.ingest = p.startWith("ingest", r, "run", "--stages", deploy.StageIngest, "--exit-when-done", "--listen", "",
		"--data", filepath.Join(p.dir, "ingest"), "-")
	r.Close() // the child has its copy
	p.stdin = w
	p.t.Cleanup(func() { w.Close() })
}

// feed writes lines to ingest's stdin in chunks, paced so that a half of the day takes a few
// seconds and a fault lands mid-stream. It returns when all is written or ctx ends.
func (p *pipeline) feed(ctx context.Context, lines [][]byte) error {
	const chunk = 50
	for i := 0; i < len(lines); i += chunk {
		var b []byte
		for _, l := range lines[i:min(i+chunk, len(lines))] {
			b = append(b, l...)
		}
		if _, err := p.stdin.Write(b); err != nil {
			return fmt.Errorf("feed ingest: %w", err)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(30 * time.Millisecond):
		}
	}
	return nil
}

// storedEvents is the number of event rows in history (without FINAL).
func (p *pipeline) storedEvents(ctx context.Context) (uint64, error) {
	var n uint64
	err := p.db.Store.Conn().QueryRow(ctx, `SELECT (SELECT count() FROM auth_events) + (SELECT count() FROM access_events)
		+ (SELECT count() FROM directory_events)`).Scan(&n)
	return n, err
}

// waitStored waits until history holds at least n event rows: the detectors are mid-stream.
func (p *pipeline) waitStored(ctx context.Context, n uint64) error {
	wctx, stop := p.watch(ctx)
	defer stop()
	err := retryUntil(wctx, 2*time.Minute, func(ctx context.Context) error {
		got, err := p.storedEvents(ctx)
		if err == nil && got < n {
			err = fmt.Errorf("%d event rows in history, waiting for %d", got, n)
		}
		return err
	})
	if cause := context.Cause(wctx); err != nil && cause != nil && cause != ctx.Err() {
		err = fmt.Errorf("%w: %v", err, cause)
	}
	return err
}

// watch returns a context that also ends, with the cause, when a detector or the notifier
// running now exits: nothing waits out its deadline for a stage that died.
func (p *pipeline) watch(ctx context.Context) (context.Context, context.CancelFunc) {
	wctx, cancel := context.WithCancelCause(ctx)
	services := []*proc{p.notifier}
	for m := range members {
		services = append(services, p.dets[m]...)
	}
	for _, s := range services {
		go func() {
			select {
			case <-s.done:
				cancel(fmt.Errorf("%s exited: %v", s.name, s.err))
			case <-wctx.Done():
			}
		}()
	}
	return wctx, func() { cancel(nil) }
}

// waitRunning waits until every member's durable has acked something: the whole detector set
// runs (a detector still starting when a server dies is another case: see the report).
func (p *pipeline) waitRunning(ctx context.Context) error {
	wctx, stop := p.watch(ctx)
	defer stop()
	err := retryUntil(wctx, 2*time.Minute, func(ctx context.Context) error {
		for durable := range detectConsumers() {
			c, err := p.cl.JS.Consumer(ctx, bus.StreamEvents, durable)
			if err != nil {
				return fmt.Errorf("%s: %w", durable, err)
			}
			info, err := c.Info(ctx)
			if err != nil {
				return fmt.Errorf("%s: %w", durable, err)
			}
			if info.AckFloor.Consumer == 0 {
				return fmt.Errorf("%s has acked nothing yet", durable)
			}
		}
		return nil
	})
	if cause := context.Cause(wctx); err != nil && cause != nil && cause != ctx.Err() {
		err = fmt.Errorf("%w: %v", err, cause)
	}
	return err
}

// detectConsumers are the detector set's durable consumers on EVENTS.
func detectConsumers() map[string]string {
	c := map[string]string{}
	for m := range members {
		c[detect.DurableName(m, members)] = bus.StreamEvents
	}
	return c
}

// finish waits until ingest has exited (it must exit 0) and the detectors have caught up, then
// stops the notifier and settles what it owes with a `breachd run --stages notify
// --exit-when-done` (incidents, evidence, deactivation requests), and stops the detectors.
func (p *pipeline) finish(ctx context.Context) error {
	wctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	if err := p.ingest.wait(wctx); err != nil {
		return err
	}
	if p.ingest.err != nil {
		return fmt.Errorf("ingest: %v", p.ingest.err)
	}
	// A detector's batch lost with a killed process comes back after AckWait (90 s) unless a
	// standby or the restarted detector takes it at once: allow for it.
	wctx, cancel = context.WithTimeout(ctx, 3*time.Minute)
	defer cancel()
	wctx, stop := p.watch(wctx)
	defer stop()
	if err := deploy.WaitIdle(wctx, p.cl.JS, 200*time.Millisecond, detectConsumers()); err != nil {
		return fmt.Errorf("detectors did not catch up: %w (%v)", err, context.Cause(wctx))
	}
	sctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	if err := p.notifier.stop(sctx, p.t); err != nil {
		return fmt.Errorf("stop the notifier: %w", err)
	}
	settle := p.start("notify-settle", "run", "--stages", deploy.StageNotify, "--exit-when-done", "--listen", "",
		"--data", filepath.Join(p.dir, "notify"))
	sctx, cancel = context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	if err := settle.wait(sctx); err != nil {
		return err
	}
	if settle.err != nil {
		return fmt.Errorf("notify --exit-when-done: %v", settle.err)
	}
	for m := range members {
		for _, d := range p.dets[m] {
			if err := d.stop(sctx, p.t); err != nil {
				return fmt.Errorf("stop %s: %w", d.name, err)
			}
		}
	}
	return nil
}
