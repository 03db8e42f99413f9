package dlq

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"breachd/ingest"
)

// Status is what became of a replayed letter.
type Status string

// The statuses of an Outcome.
const (
	// Accepted: the record is now an event on EVENTS (or more than one, for a multi-event
	// parser). With DryRun: it would be.
	Accepted Status = "accepted"
	// Rejected: the sink dead-lettered the record again (see the package doc on duplicates).
	Rejected Status = "rejected-again"
	// Skipped: the parser recognised the record as not being an event (ingest.ErrSkip).
	Skipped Status = "skipped"
	// Failed: Submit returned an error; nothing about the letter may be assumed.
	Failed Status = "failed"
)

// Outcome is what Replay did with one letter.
type Outcome struct {
	Seq    uint64 `json:"seq"`
	Source string `json:"source"`
	Where  string `json:"where,omitempty"`
	Status Status `json:"status"`
	// Reason says why the letter was rejected again or skipped (as the sink read it with
	// ReplayOptions.Format), or why the replay failed.
	Reason string `json:"reason,omitempty"`
	// Duplicate: accepted, but EVENTS already held an event with the same id.
	Duplicate bool `json:"duplicate,omitempty"`
	// Deleted: the letter was removed from DEADLETTER (Delete, accepted only).
	Deleted bool `json:"deleted,omitempty"`
	// NewCopy: rejected again and older than the stream's duplicate window, so JetStream stored
	// the record as a new dead letter instead of dropping it as a duplicate.
	NewCopy bool `json:"new_copy,omitempty"`
}

// ReplayOptions configures Replay.
type ReplayOptions struct {
	// Delete removes each accepted letter from DEADLETTER after the Submit that accepted it
	// returned. Letters rejected again, skipped or failed are kept.
	Delete bool
	// DryRun checks each letter instead of submitting it (ingest.CheckRecord: the sink's own
	// Check when it has one, as ingest.Pipeline has, with its future-time limit): nothing is
	// published or deleted. The sink may be nil then.
	DryRun bool
	// Format reads the letters (nil: canonical JSON). It need not be the format that
	// rejected them: a letter rejected because the wrong log format was configured is
	// replayed with the right one.
	Format ingest.Format
	// Timeout bounds each Submit (default 30 s).
	Timeout time.Duration
	// Now is the clock used for NewCopy (default time.Now).
	Now func() time.Time
}

// Totals counts outcomes by status.
type Totals struct {
	Accepted, Rejected, Skipped, Failed, Deleted, Duplicates int
}

// Tally counts outs.
func Tally(outs []Outcome) Totals {
	var t Totals
	for _, o := range outs {
		switch o.Status {
		case Accepted:
			t.Accepted++
		case Rejected:
			t.Rejected++
		case Skipped:
			t.Skipped++
		case Failed:
			t.Failed++
		}
		if o.Deleted {
			t.Deleted++
		}
		if o.Duplicate {
			t.Duplicates++
		}
	}
	return t
}

// Replay submits the original bytes of each letter to sink (nil with DryRun) again, under the letter's source
// name and location, one letter per Submit, and returns one Outcome per letter in order. A
// failed Submit or delete is reported in its Outcome and Replay goes on with the next letter;
// the returned error is only for what stops the whole replay (ctx ended, DEADLETTER missing).
func Replay(ctx context.Context, js jetstream.JetStream, sink ingest.Sink, letters []Letter, opts ReplayOptions) ([]Outcome, error) {
	if opts.Timeout <= 0 {
		opts.Timeout = 30 * time.Second
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if sink == nil && !opts.DryRun {
		return nil, errors.New("replay: no sink to submit to (a nil sink is only for DryRun)")
	}
	st, err := dlqStream(ctx, js)
	if err != nil {
		return nil, err
	}
	dupWindow := st.CachedInfo().Config.Duplicates
	outs := make([]Outcome, 0, len(letters))
	recs := make([]ingest.Record, 1)
	for _, l := range letters {
		if err := ctx.Err(); err != nil {
			return outs, err
		}
		o := Outcome{Seq: l.Seq, Source: l.Source, Where: l.Where}
		if opts.DryRun {
			o.Status, o.Reason = status(ingest.CheckRecord(sink, opts.Format, l.Data))
			outs = append(outs, o)
			continue
		}
		recs[0] = ingest.Record{Data: l.Data, Where: l.Where}
		sctx, cancel := context.WithTimeout(ctx, opts.Timeout)
		res, err := sink.Submit(sctx, ingest.Batch{Source: l.Source, Format: opts.Format, Records: recs})
		cancel()
		if len(res.Refusals) > 0 {
			o.Reason = res.Refusals[0].Reason
		}
		switch {
		case err != nil:
			if ctx.Err() != nil {
				return outs, ctx.Err()
			}
			o.Status, o.Reason = Failed, err.Error()
		case res.Rejected > 0:
			o.Status = Rejected
			o.NewCopy = dupWindow > 0 && opts.Now().Sub(l.Time) >= dupWindow
		case res.Accepted > 0:
			o.Status, o.Duplicate = Accepted, res.Duplicates == res.Accepted
		default:
			o.Status = Skipped
		}
		if o.Status == Accepted && opts.Delete {
			if err := st.DeleteMsg(ctx, l.Seq); err != nil {
				o.Reason = fmt.Sprintf("accepted, but deleting dead letter %d failed: %v", l.Seq, err)
			} else {
				o.Deleted = true
			}
		}
		outs = append(outs, o)
	}
	return outs, nil
}

func status(err error) (Status, string) {
	switch {
	case err == nil:
		return Accepted, ""
	case errors.Is(err, ingest.ErrSkip):
		return Skipped, err.Error()
	}
	return Rejected, err.Error()
}
