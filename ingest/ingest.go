package ingest

import (
	"context"
	"errors"

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
func (p Parser) Parse(data []byte) ([]event.Event, error) { return p.appendTo(nil, data) }

// appendTo is Parse appending the event to evs (the pipeline reuses one slice for a batch's
// records rather than allocating one per record).
func (p Parser) appendTo(evs []event.Event, data []byte) ([]event.Event, error) {
	if p == nil {
		p = parseCanonical
	}
	ev, err := p(data)
	if err != nil {
		return nil, err
	}
	return append(evs, ev), nil
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
// leaves unset. ev is valid only during the call (the pipeline reuses its memory for the next
// record): an Enricher must not keep it.
type Enricher func(ev *event.Event)
