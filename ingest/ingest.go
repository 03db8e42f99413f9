package ingest

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"

	"breachd/bus"
	"breachd/event"
)

// Record is one raw input unit (one JSON Lines line) and where it came from.
type Record struct {
	Data []byte
	// Where locates the record for people reading a dead letter, e.g. "demo.jsonl:42".
	Where string
}

// Batch is what a source hands to a Sink at once: records of one source, all of one format.
type Batch struct {
	// Source names the input (a configured, small set of names: "file", "http:<token name>");
	// it is the source of dead letters and the label of the ingest metrics, so it never
	// carries an account, a client's IP or anything else taken from the records.
	Source string
	// Format reads the records; it is the source's (file, stdin and followed files: the
	// configured log format; HTTP: canonical JSON). nil: canonical JSON (Canonical).
	Format  Format
	Records []Record
}

// Sink accepts batches of records from a source.
//
// Submit blocks until every record is durably in JetStream (as an event or a dead letter) and
// then returns nil; only then may the source advance its position. An error means nothing about
// the batch may be assumed durable: the source must not advance, and may resubmit the whole
// batch (ids make that idempotent). Submit must not keep b.Records after it returns: the
// caller reuses the slice for its next batch.
type Sink interface {
	Submit(ctx context.Context, b Batch) (Result, error)
}

// Source reads raw records and submits them to a Sink, in batches that name the source and
// its Format.
//
// Run returns nil when its input is exhausted or ctx is cancelled, and an error when it cannot
// go on. It advances its position only after Submit returned nil.
type Source interface {
	Run(ctx context.Context, sink Sink) error
}

// Result says what happened to a submitted batch.
type Result struct {
	Accepted int // valid events published (including duplicates JetStream dropped)
	Rejected int // records sent to the dead-letter stream
	// Duplicates counts accepted events JetStream reported as already stored.
	Duplicates int
	// Skipped counts records the parser recognised as not being events (ErrSkip).
	Skipped int
	// Refusals lists, in order, the records that were dead-lettered or skipped, with why: what
	// the HTTP endpoint tells its client and `breachd dlq replay` its user, without reading
	// the records again. Add does not carry them over (their indices are per batch).
	Refusals []Refusal
}

// Refusal says why one record of a batch was not published as an event.
type Refusal struct {
	Index   int  // the record's position in Batch.Records
	Skipped bool // not an event (ErrSkip); otherwise the record was dead-lettered
	// Reason is the dead letter's reason (Breachd-Reason), or why the parser skipped it.
	Reason string
}

// Add adds the counts of o to r.
func (r *Result) Add(o Result) {
	r.Accepted += o.Accepted
	r.Rejected += o.Rejected
	r.Duplicates += o.Duplicates
	r.Skipped += o.Skipped
}

// Format reads the records of one log format as canonical events. It is a property of the
// source: Parser and MultiParser are Formats, and a nil Format, Parser or MultiParser reads
// canonical JSON (Canonical). Package ingest/format has the other formats.
type Format interface {
	Parse(data []byte) ([]event.Event, error)
}

// Parser maps one raw record of some log format to a canonical event. An error wrapping ErrSkip
// says the record is well formed but not an event (debug noise): it is counted as skipped. Any
// other error rejects the record: it becomes a dead letter with the error's text as the reason.
// The pipeline validates what a parser returns (event.Validate), so a parser need not repeat
// the contract's checks.
type Parser func(data []byte) (event.Event, error)

// Parse implements Format; a nil p is Canonical.
func (p Parser) Parse(data []byte) ([]event.Event, error) {
	if p == nil {
		p = parseCanonical
	}
	ev, err := p(data)
	if err != nil {
		return nil, err
	}
	return []event.Event{ev}, nil
}

// MultiParser is a Parser for records that hold several events (e.g. an Event Hub batch of
// Entra sign-ins). A record is taken whole or not at all: if the parser fails or any of its
// events is invalid, the whole record is dead-lettered, so a replay of it stays idempotent.
type MultiParser func(data []byte) ([]event.Event, error)

// Parse implements Format; a nil p is Canonical.
func (p MultiParser) Parse(data []byte) ([]event.Event, error) {
	if p == nil {
		return Parser(nil).Parse(data)
	}
	return p(data)
}

// ErrSkip is returned (possibly wrapped) by a parser for a record that is not an event.
var ErrSkip = errors.New("not an event (skipped)")

// Enricher adds derived fields to a parsed, valid event before it is published (e.g. the
// country of an IP address from a local database). It must not fail: what it cannot derive it
// leaves unset.
type Enricher func(ev *event.Event)

// Pipeline is the Sink that parses (with each batch's Format), validates and publishes. Safe
// for concurrent use.
type Pipeline struct {
	pub     *bus.Publisher
	layout  bus.Layout
	log     *slog.Logger
	metrics *metrics
	enrich  Enricher // nil: none
	clock   func() time.Time
	// maxSkew is how far ahead of clock an event time may be (event.CheckFuture); <= 0: any.
	maxSkew time.Duration
}

// WithEnricher returns a Pipeline like p that calls enrich on every valid event.
func (p *Pipeline) WithEnricher(enrich Enricher) *Pipeline {
	q := *p
	q.enrich = enrich
	return &q
}

// WithFutureLimit returns a Pipeline like p that dead-letters events whose time is more
// than maxSkew ahead of clock (event.CheckFuture); maxSkew <= 0 turns the check off. The
// default (NewPipeline) is event.DefaultMaxFutureSkew on time.Now. Old events are never
// rejected for their age: a backfill goes through.
func (p *Pipeline) WithFutureLimit(clock func() time.Time, maxSkew time.Duration) *Pipeline {
	q := *p
	if clock == nil {
		clock = time.Now
	}
	q.clock, q.maxSkew = clock, maxSkew
	return &q
}

// Check says what Submit would do with one record read with f, without publishing anything:
// nil when it would be accepted, an error wrapping ErrSkip when skipped, and otherwise the
// reason it would be dead-lettered (an *event.InvalidError).
func (p *Pipeline) Check(f Format, data []byte) error {
	_, err := read(f, data, p.checkFuture)
	return err
}

// Checker is a Sink that says itself what Submit would do with one record (Pipeline.Check,
// which includes checks that depend on its clock).
type Checker interface {
	Check(f Format, data []byte) error
}

// CheckRecord says what sink would do with one record read with f, without submitting it: nil
// when it would be accepted, an error wrapping ErrSkip when skipped, otherwise the reason it
// would be dead-lettered. A Checker sink is asked; for any other (or none) the record is read
// and validated as a Pipeline does, without the Pipeline's clock check. `breachd dlq replay
// --dry-run` uses it.
func CheckRecord(sink Sink, f Format, data []byte) error {
	if c, ok := sink.(Checker); ok {
		return c.Check(f, data)
	}
	_, err := read(f, data, nil)
	return err
}

// read reads one record with f (nil: canonical JSON) and validates its events, then checks
// each event's time with future (nil: no check). It returns the parser's error wrapping
// ErrSkip for a record that is not an event; every other failure is an *event.InvalidError, so that the record is
// dead-lettered rather than failing the batch.
func read(f Format, data []byte, future func(time.Time) error) ([]event.Event, error) {
	if f == nil {
		f = Parser(nil)
	}
	evs, err := f.Parse(data)
	if errors.Is(err, ErrSkip) {
		return nil, err
	}
	for i := 0; err == nil && i < len(evs); i++ {
		evs[i].Time = evs[i].Time.UTC()
		err = evs[i].Validate()
		if err == nil && future != nil {
			err = future(evs[i].Time)
		}
		if err != nil && len(evs) > 1 {
			err = fmt.Errorf("event %d of the record: %w", i, err)
		}
	}
	if err != nil {
		var ie *event.InvalidError
		if !errors.As(err, &ie) || len(evs) > 1 {
			err = &event.InvalidError{Reason: err.Error()}
		}
		return nil, err
	}
	return evs, nil
}

func (p *Pipeline) checkFuture(t time.Time) error { return event.CheckFuture(t, p.clock(), p.maxSkew) }

// NewPipeline returns a Pipeline publishing through pub on the subjects of layout, which must
// be the one the EVENTS stream records (bus.ReadLayout). reg may be nil. It rejects events
// more than event.DefaultMaxFutureSkew ahead of time.Now; WithFutureLimit changes that.
func NewPipeline(pub *bus.Publisher, layout bus.Layout, log *slog.Logger, reg prometheus.Registerer) *Pipeline {
	return &Pipeline{pub: pub, layout: layout, log: log.With("component", "ingest"), metrics: newMetrics(reg),
		clock: time.Now, maxSkew: event.DefaultMaxFutureSkew}
}

// Submit implements Sink: it reads every record with b.Format, publishes the events of the
// valid ones and dead-letters the others, and returns when all of it is durable.
func (p *Pipeline) Submit(ctx context.Context, b Batch) (Result, error) {
	var res Result
	recs := b.Records
	futures := make([]jetstream.PubAckFuture, 0, len(recs))
	accepted := make([]bool, 0, len(recs))
	fail := func(err error) (Result, error) {
		p.metrics.failures.Inc()
		return Result{}, fmt.Errorf("submit %d records from %s: %w", len(recs), b.Source, err)
	}
	for i, r := range recs {
		evs, err := read(b.Format, r.Data, p.checkFuture)
		switch {
		case errors.Is(err, ErrSkip):
			res.Skipped++
			res.Refusals = append(res.Refusals, Refusal{Index: i, Skipped: true, Reason: err.Error()})
		case err != nil:
			f, reason, err := p.deadLetter(ctx, b.Source, r, err)
			if err != nil {
				return fail(err)
			}
			futures, accepted = append(futures, f), append(accepted, false)
			res.Refusals = append(res.Refusals, Refusal{Index: i, Reason: reason})
		default:
			for i := range evs {
				if p.enrich != nil {
					p.enrich(&evs[i])
				}
				f, err := p.publishEvent(ctx, &evs[i])
				if err != nil {
					return fail(err)
				}
				futures, accepted = append(futures, f), append(accepted, true)
			}
		}
	}
	acks, err := bus.Wait(ctx, futures)
	if err != nil {
		return fail(err)
	}
	for i, a := range acks {
		switch {
		case !accepted[i]:
			res.Rejected++
		case a.Duplicate:
			res.Accepted++
			res.Duplicates++
		default:
			res.Accepted++
		}
	}
	label := p.metrics.sourceLabel(b.Source)
	p.metrics.accepted.WithLabelValues(label).Add(float64(res.Accepted))
	p.metrics.rejected.WithLabelValues(label).Add(float64(res.Rejected))
	p.metrics.duplicates.WithLabelValues(label).Add(float64(res.Duplicates))
	p.metrics.skipped.WithLabelValues(label).Add(float64(res.Skipped))
	return res, nil
}

func (p *Pipeline) publishEvent(ctx context.Context, ev *event.Event) (jetstream.PubAckFuture, error) {
	data, err := event.Marshal(ev)
	if err != nil {
		return nil, fmt.Errorf("marshal event %s: %w", ev.ID, err)
	}
	return p.pub.Publish(ctx, p.layout.EventSubject(ev), msgID(ev.ID), data, nil)
}

// msgID is the Nats-Msg-Id of the event with id: the id itself, unless a header cannot carry
// it verbatim. The client trims surrounding spaces and tabs from header values and turns CR
// and LF into spaces, so " a" and "a\nb" would be sent as "a" and "a b" and JetStream would
// drop them as duplicates of other events; such ids are sent as a hash instead.
func msgID(id string) string {
	if strings.ContainsAny(id, "\r\n") || strings.Trim(id, " \t") != id {
		h := sha256.Sum256([]byte(id))
		return "id-sha256-" + hex.EncodeToString(h[:16])
	}
	return id
}

// deadLetter publishes the original bytes with the reason. The message id is a hash of source,
// location and bytes: replaying the same input does not pile up copies, while two identical bad
// lines at different places stay two dead letters.
func (p *Pipeline) deadLetter(ctx context.Context, source string, r Record, cause error) (f jetstream.PubAckFuture, reason string, err error) {
	var ie *event.InvalidError
	if !errors.As(cause, &ie) {
		return nil, "", fmt.Errorf("parse %s: %w", r.Where, cause)
	}
	h := sha256.Sum256(append([]byte(source+"\x00"+r.Where+"\x00"), r.Data...))
	hdr := nats.Header{}
	hdr.Set(bus.HeaderSource, source)
	hdr.Set(bus.HeaderReason, ie.Error())
	if r.Where != "" {
		hdr.Set(bus.HeaderWhere, r.Where)
	}
	p.log.Debug("dead letter", "source", source, "where", r.Where, "reason", ie.Error())
	f, err = p.pub.Publish(ctx, bus.DLQSubject(source), "dlq-"+hex.EncodeToString(h[:16]), r.Data, hdr)
	return f, ie.Error(), err
}
