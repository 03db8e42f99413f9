package simulate

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"slices"
	"strconv"

	"breachd/event"
)

// PCG streams: each concern draws from its own stream of the seed, so that the population does
// not depend on the scenarios and one day's activity does not depend on another's.
const (
	streamPopulation = 0x706f70756c617465
	streamScenarios  = 0x7363656e6172696f
	streamActivity   = 0x6163746976697479
)

// Generator produces the event stream of one Config. It is immutable after New: Run may be
// called any number of times, also concurrently, and every call emits the same events.
type Generator struct {
	cfg      Config
	clk      clock
	pop      *population
	scripts  []script
	breaches []Breach
	edges    []EdgeCase
}

// New builds the population and plans the scenarios of cfg. Zero fields of cfg take their
// defaults (see Defaults); an out-of-range field is an error naming it.
func New(cfg Config) (*Generator, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg = cfg.withDefaults()
	g := &Generator{cfg: cfg, clk: newClock(cfg.Start, cfg.Days)}
	g.pop = buildPopulation(cfg, rand.New(rand.NewPCG(uint64(cfg.Seed), streamPopulation)))
	g.plan(rand.New(rand.NewPCG(uint64(cfg.Seed), streamScenarios)))
	return g, nil
}

// Config returns the configuration in use, with defaults filled in.
func (g *Generator) Config() Config { return g.cfg }

// Breaches returns the ground truth of the injected breaches in the order of their first
// event (empty unless Config.Breaches). The caller may modify the result.
func (g *Generator) Breaches() []Breach {
	out := slices.Clone(g.breaches)
	for i := range out {
		out[i].Subjects = slices.Clone(out[i].Subjects)
	}
	return out
}

// EdgeCases returns the scripted legitimate activity that resembles a breach but is not one,
// in the order of their first event. The caller may modify the result.
func (g *Generator) EdgeCases() []EdgeCase {
	out := slices.Clone(g.edges)
	for i := range out {
		out[i].Subjects = slices.Clone(out[i].Subjects)
		out[i].Accounts = slices.Clone(out[i].Accounts)
	}
	return out
}

// Run emits every event in order: the directory snapshot of all orgs (dated 22:00 the evening
// before day 1), then each day's activity in non-decreasing time. emit receives a new event
// each call and may keep it. Run blocks until done; it returns the first error of emit
// unchanged, or ctx.Err() once ctx is done (checked every few hundred events).
func (g *Generator) Run(ctx context.Context, emit func(*event.Event) error) error {
	r := &runner{g: g, ctx: ctx, emit: emit, seq: make([][numSources]uint64, len(g.pop.orgs))}
	if err := r.snapshot(g.clk.at(0, -2*hour)); err != nil {
		return err
	}
	for day := range g.cfg.Days {
		if err := r.day(day); err != nil {
			return err
		}
	}
	return nil
}

// WriteJSONLines writes the whole stream to w as canonical JSON Lines (event.Marshal, one
// object per line) through a buffer. n is the number of events (lines) written.
func (g *Generator) WriteJSONLines(ctx context.Context, w io.Writer) (n int64, err error) {
	lw := newLineWriter(w)
	if err := g.Run(ctx, lw.write); err != nil {
		return lw.events, err
	}
	return lw.events, lw.flush()
}

// lineWriter writes events as canonical JSON Lines through a buffer, counting them and their
// bytes.
type lineWriter struct {
	bw            *bufio.Writer
	events, bytes int64
}

func newLineWriter(w io.Writer) *lineWriter { return &lineWriter{bw: bufio.NewWriterSize(w, 64<<10)} }

func (lw *lineWriter) write(e *event.Event) error {
	b, err := event.Marshal(e)
	if err != nil {
		return fmt.Errorf("marshal event %s: %w", e.ID, err)
	}
	b = append(b, '\n')
	if _, err := lw.bw.Write(b); err != nil {
		return fmt.Errorf("write event %s: %w", e.ID, err)
	}
	lw.events++
	lw.bytes += int64(len(b))
	return nil
}

func (lw *lineWriter) flush() error {
	if err := lw.bw.Flush(); err != nil {
		return fmt.Errorf("flush: %w", err)
	}
	return nil
}

// runner is the state of one Run: id sequences, the emit callback and the day's sessions.
type runner struct {
	g    *Generator
	ctx  context.Context
	emit func(*event.Event) error
	seq  [][numSources]uint64 // per org and source: the last sequence number used
	n    int64
	rng  *rand.Rand
	q    queue
}

// ctxEvery is how often (in events) Run looks at its context.
const ctxEvery = 512

// send stamps e with its id, org and time and hands it to emit.
func (r *runner) send(o int32, src source, ms int64, e *event.Event) error {
	if r.n%ctxEvery == 0 {
		if err := r.ctx.Err(); err != nil {
			return err
		}
	}
	r.n++
	r.seq[o][src]++
	e.ID = eventID(src, o, r.seq[o][src])
	e.Org = r.g.pop.orgs[o].realm
	e.Time = r.g.clk.time(ms)
	return r.emit(e)
}

// eventID is <source>-<org number from 1>-<sequence, at least 6 digits>, e.g. idp-1-000001.
func eventID(src source, o int32, seq uint64) string {
	var buf [48]byte
	b := append(buf[:0], sourceNames[src]...)
	b = append(b, '-')
	b = strconv.AppendInt(b, int64(o)+1, 10)
	b = append(b, '-')
	var num [20]byte
	d := strconv.AppendUint(num[:0], seq, 10)
	for i := len(d); i < 6; i++ {
		b = append(b, '0')
	}
	return string(append(b, d...))
}
