package dlq

import (
	"context"
	"fmt"
	"log/slog"

	"github.com/nats-io/nats.go/jetstream"

	"breachd/bus"
	"breachd/ingest"
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
