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

	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"

	"breachd/bus"
	"breachd/event"
)

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
	_, err := read(f, data, p.checkFuture, nil)
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
	_, err := read(f, data, nil, nil)
	return err
}

// read reads one record with f (nil: canonical JSON) and validates its events, then checks
// each event's time with future (nil: no check). It returns the parser's error wrapping
// ErrSkip for a record that is not an event; every other failure is an *event.InvalidError, so that the record is
// dead-lettered rather than failing the batch. A Parser's event is returned in buf[:1] when
// buf has room: the caller may reuse the slice once done with the events.
func read(f Format, data []byte, future func(time.Time) error, buf []event.Event) ([]event.Event, error) {
	if f == nil {
		f = Parser(nil)
	}
	var evs []event.Event
	var err error
	if p, ok := f.(Parser); ok {
		evs, err = p.appendTo(buf[:0], data)
	} else {
		evs, err = f.Parse(data)
	}
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
// more than event.DefaultMaxFutureSkew ahead of time.Now; WithFutureLimit changes that. It
// fails only when its metrics cannot be registered on reg.
func NewPipeline(pub *bus.Publisher, layout bus.Layout, log *slog.Logger, reg prometheus.Registerer) (*Pipeline, error) {
	m, err := newMetrics(reg)
	if err != nil {
		return nil, err
	}
	return &Pipeline{pub: pub, layout: layout, log: log.With("component", "ingest"), metrics: m,
		clock: time.Now, maxSkew: event.DefaultMaxFutureSkew}, nil
}

// Submit implements Sink: it reads every record with b.Format, publishes the events of the
// valid ones and dead-letters the others, and returns when all of it is durable.
//
// Directory fence: within a batch, an activity event that follows directory events is
// published only after those are stored (their PubAcks awaited). Publishing is asynchronous, so
// when a stream leader dies with messages in flight (a cluster's failover) some of them are
// lost while later ones are stored, and the batch's resubmission appends the lost ones after
// them: without the fence an access could be stored, and evaluated, before the membership
// change that precedes it in the log, and judged against a directory without it. The other way
// round (an activity event stored after a later directory change) is harmless: the detector
// answers directory questions as of each event's time. A batch of directory events alone (a
// snapshot) or of activity alone waits for nothing more than before.
func (p *Pipeline) Submit(ctx context.Context, b Batch) (Result, error) {
	var res Result
	recs := b.Records
	futures := make([]jetstream.PubAckFuture, 0, len(recs))
	accepted := make([]bool, 0, len(recs))
	fail := func(err error) (Result, error) {
		p.metrics.failures.Inc()
		return Result{}, fmt.Errorf("submit %d records from %s: %w", len(recs), b.Source, err)
	}
	var buf []event.Event // the events of one record, published before the next is read
	// dirAhead holds the indexes in futures of directory events not yet awaited: an activity
	// event is published only once the directory events before it are stored (the fence);
	// fenced keeps the PubAcks awaited so (a future delivers its outcome once).
	var dirAhead []int
	fenced := map[int]*jetstream.PubAck{}
	for i, r := range recs {
		evs, err := read(b.Format, r.Data, p.checkFuture, buf)
		if evs != nil {
			buf = evs
		}
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
				if evs[i].Kind != event.KindDirectory {
					for _, j := range dirAhead {
						a, err := bus.WaitOne(ctx, futures[j])
						if err != nil {
							return fail(err)
						}
						fenced[j] = a
					}
					dirAhead = dirAhead[:0]
				}
				f, err := p.publishEvent(ctx, &evs[i])
				if err != nil {
					return fail(err)
				}
				if evs[i].Kind == event.KindDirectory {
					dirAhead = append(dirAhead, len(futures))
				}
				futures, accepted = append(futures, f), append(accepted, true)
			}
		}
	}
	acks := make([]*jetstream.PubAck, len(futures))
	for i, f := range futures {
		if a, ok := fenced[i]; ok {
			acks[i] = a
			continue
		}
		a, err := bus.WaitOne(ctx, f)
		if err != nil {
			return fail(err)
		}
		acks[i] = a
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
