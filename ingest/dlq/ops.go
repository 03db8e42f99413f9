package dlq

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"breachd/bus"
	"breachd/ingest"
	"breachd/timespec"
)

// ReplayRequest is a replay as people ask for it (`breachd dlq replay`, the API): the letters
// of sequence numbers Seqs, or All those Filter selects (up to its Limit), replayed with
// Options.
type ReplayRequest struct {
	Seqs    []uint64
	All     bool
	Filter  Filter
	Options ReplayOptions
}

// ReplayLetters runs r: it fetches the letters and replays them through an ingest.Pipeline
// publishing on js with the stream layout js records (also for a dry run: the pipeline's
// Check says what it would do, including its future-time limit, event.DefaultMaxFutureSkew as
// `breachd run` by default). The error is the replay's failure, or the report's (Err: a
// letter rejected again or failed); the report is nil when nothing ran ("nothing replayed").
func ReplayLetters(ctx context.Context, js jetstream.JetStream, r ReplayRequest, log *slog.Logger) (*ReplayReport, error) {
	var page Listing
	if r.All == (len(r.Seqs) > 0) {
		return nil, fmt.Errorf("nothing replayed: give sequence numbers or all, one of them")
	}
	if r.All {
		var err error
		if page, err = Page(ctx, js, r.Filter); err != nil {
			return nil, err
		}
	}
	for _, seq := range r.Seqs {
		l, err := Get(ctx, js, seq)
		if err != nil {
			return nil, fmt.Errorf("nothing replayed: %w", err)
		}
		page.Letters = append(page.Letters, l)
	}
	layout, err := bus.ReadLayout(ctx, js)
	if err != nil {
		return nil, fmt.Errorf("nothing replayed: %w", err)
	}
	p, err := ingest.NewPipeline(bus.NewPublisher(js), layout, log, nil)
	if err != nil {
		return nil, fmt.Errorf("nothing replayed: %w", err)
	}
	outs, err := Replay(ctx, js, p, page.Letters, r.Options)
	rep := &ReplayReport{DryRun: r.Options.DryRun, Outcomes: outs, Totals: Tally(outs), More: page.More}
	if err == nil {
		err = rep.Err()
	}
	return rep, err
}

// FilterSpec is a Filter as people write it (command-line flags, query parameters): Since and
// Until as package timespec reads them (empty: unbounded).
type FilterSpec struct {
	Source, Since, Until, Reason string
	Limit                        int
}

// Filter returns the filter s describes, its times read in loc at now. The errors name the
// field that is wrong.
func (s FilterSpec) Filter(loc *time.Location, now time.Time) (Filter, error) {
	f := Filter{Source: s.Source, ReasonContains: s.Reason, Limit: s.Limit}
	if s.Limit <= 0 {
		return f, fmt.Errorf("limit: want a positive number, got %d", s.Limit)
	}
	for _, b := range []struct {
		name, spec string
		t          *time.Time
	}{{"since", s.Since, &f.Since}, {"until", s.Until, &f.Until}} {
		if b.spec == "" {
			continue
		}
		t, err := timespec.Parse(b.spec, loc, now)
		if err != nil {
			return f, fmt.Errorf("%s: %w", b.name, err)
		}
		*b.t = t
	}
	if !f.Since.IsZero() && !f.Until.IsZero() && f.Until.Before(f.Since) {
		return f, fmt.Errorf("until %s is before since %s", s.Until, s.Since)
	}
	return f, nil
}
