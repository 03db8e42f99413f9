package bus

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"

	"breachd/promreg"
)

// Consumers beyond a stream's end.
//
// When a stream loses its tail, a consumer that had been delivered messages of it is left
// beyond the stream's new end, and skips the new messages the stream numbers as it did the
// lost ones. CheckStore moves such a consumer back (resetAhead) when nothing uses it; EndsWatch
// reports one found while processes run (a NATS server restarted on a damaged store under
// them) and never moves it.

// ownerQuiet is how long after its last delivery a consumer counts as used by a live client.
// The server keeps that time in memory only, so a consumer of a restarted server has none
// until it delivers again.
const ownerQuiet = time.Minute

// activeOwner says why ci has a live client ("" when none seems to): a pinned client of a
// priority group, pull requests waiting, a bound push subscription, or a delivery within
// ownerQuiet of now. Moving such a consumer would drop what its client has in flight (a
// reset forgets the pending messages: they would count as acknowledged and never be
// delivered again).
func activeOwner(ci *jetstream.ConsumerInfo, now time.Time) string {
	for _, g := range ci.PriorityGroups {
		if g.PinnedClientID != "" {
			return fmt.Sprintf("client %s pinned in priority group %s", g.PinnedClientID, g.Group)
		}
	}
	switch {
	case ci.NumWaiting > 0:
		return fmt.Sprintf("%d pull requests waiting", ci.NumWaiting)
	case ci.PushBound:
		return "a push subscription bound"
	case ci.Delivered.Last != nil && now.Sub(*ci.Delivered.Last) < ownerQuiet:
		return "delivered at " + ci.Delivered.Last.UTC().Format(time.RFC3339)
	}
	return ""
}

// aheadNow reads consumer name of st, then the stream's state (in this order, so that a
// message published and delivered in between is not taken for a lost tail), and says whether
// the consumer was delivered beyond the stream's end. A consumer gone meanwhile is not ahead.
func aheadNow(ctx context.Context, st jetstream.Stream, name string) (*jetstream.ConsumerInfo, *jetstream.StreamInfo, bool, error) {
	c, err := st.Consumer(ctx, name)
	if errors.Is(err, jetstream.ErrConsumerNotFound) {
		return nil, nil, false, nil
	}
	if err != nil {
		return nil, nil, false, err
	}
	info, err := st.Info(ctx)
	if err != nil {
		return nil, nil, false, err
	}
	ci := c.CachedInfo()
	return ci, info, ci.Delivered.Stream > info.State.LastSeq, nil
}

// resetAhead moves the consumers ahead of stream, which lost its tail, back to just after its
// end (a consumer by start sequence: not below its start): left there, a consumer would skip
// the new messages the stream numbers as it did the lost ones. What they had acked there is
// lost with the tail (reported); nothing the stream holds is delivered twice. Each is checked
// again first: one no longer beyond the end is left alone, and one in use (activeOwner) is
// reported at Error and left alone too.
func resetAhead(ctx context.Context, js jetstream.JetStream, stream string, ahead []string, log *slog.Logger) error {
	if len(ahead) == 0 {
		return nil
	}
	st, err := js.Stream(ctx, stream)
	if err != nil {
		return fmt.Errorf("stream %s lost its tail: %w", stream, err)
	}
	for _, name := range ahead {
		ci, info, still, err := aheadNow(ctx, st, name)
		if err != nil {
			return fmt.Errorf("stream %s lost its tail: check consumer %s: %w", stream, name, err)
		}
		if !still {
			continue
		}
		last := info.State.LastSeq
		if owner := activeOwner(ci, time.Now()); owner != "" {
			log.Error("consumer beyond the end of a stream that lost its tail is in use: not moved back; it skips the new messages up to the sequence it was delivered",
				"stream", stream, "consumer", name, "delivered", ci.Delivered.Stream, "stream_last", last, "in_use", owner,
				"to_do", "stop every process consuming it, then start one: its start moves the consumer back")
			continue
		}
		seq := last + 1
		if ci.Config.DeliverPolicy == jetstream.DeliverByStartSequencePolicy && ci.Config.OptStartSeq > seq {
			seq = ci.Config.OptStartSeq // the server refuses a reset below the start; nothing below it is the consumer's
		}
		if _, err := js.ResetConsumerToSequence(ctx, stream, name, seq); err != nil {
			return fmt.Errorf("stream %s lost its tail and consumer %s is beyond its end: moving it back to sequence %d failed: %w "+
				"(delete the consumer, nats consumer rm %s %s, and start again)", stream, name, seq, err, stream, name)
		}
		log.Warn("consumer was beyond the end of a stream that lost its tail: moved back to the stream's next sequence",
			"stream", stream, "consumer", name, "sequence", seq)
	}
	return nil
}

// EndsEvery is how often EndsWatch looks by default.
const EndsEvery = time.Minute

// EndsWatch looks, every Every, for consumers of Streams delivered beyond their stream's
// end: what CheckStore finds at a process's start, found while processes run (a NATS server
// restarted on a damaged store under them, with an external NATS). It logs each at Error once
// and sets breach_bus_consumers_beyond_end{stream}; it never moves a consumer (its owner is
// running: the processes consuming it must be stopped and one started, whose CheckStore moves
// it back).
type EndsWatch struct {
	Streams    []string
	Every      time.Duration // 0: EndsEvery
	Log        *slog.Logger
	Registerer prometheus.Registerer // nil: none
}

// Run looks until ctx ends. A failed look is logged at Warn (once until one succeeds).
func (w EndsWatch) Run(ctx context.Context, js jetstream.JetStream) error {
	gauge, err := promreg.Register(w.Registerer, prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "breach_bus_consumers_beyond_end",
		Help: "Consumers delivered beyond the end of their stream (it lost its tail while they ran): they skip the new messages up to there."}, []string{"stream"}))
	if err != nil {
		return err
	}
	reported := map[string]uint64{} // stream/consumer → delivered sequence reported
	failing := false
	every := w.Every
	if every <= 0 {
		every = EndsEvery
	}
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
		lctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		err := w.look(lctx, js, gauge, reported)
		cancel()
		if err != nil && !failing && ctx.Err() == nil {
			w.Log.Warn("look for consumers beyond their stream's end", "err", err)
		}
		failing = err != nil
	}
}

// look is one look of Run.
func (w EndsWatch) look(ctx context.Context, js jetstream.JetStream, gauge *prometheus.GaugeVec, reported map[string]uint64) error {
	for _, stream := range w.Streams {
		st, err := js.Stream(ctx, stream)
		if errors.Is(err, jetstream.ErrStreamNotFound) {
			continue
		}
		if err != nil {
			return err
		}
		cs, err := consumersOf(ctx, st, true)
		if err != nil {
			return err
		}
		info, err := st.Info(ctx)
		if err != nil {
			return err
		}
		n := 0
		for _, c := range cs {
			if c.Delivered.Stream <= info.State.LastSeq {
				continue
			}
			ci, now, still, err := aheadNow(ctx, st, c.Name)
			if err != nil {
				return err
			}
			if !still {
				continue
			}
			n++
			if key := stream + "/" + c.Name; reported[key] != ci.Delivered.Stream {
				reported[key] = ci.Delivered.Stream
				w.Log.Error("NATS store damaged: consumer beyond the end of its stream, which lost its tail while it ran; it skips the new messages up to the sequence it was delivered",
					"stream", stream, "consumer", c.Name, "delivered", ci.Delivered.Stream, "stream_last", now.State.LastSeq,
					"to_do", "stop every process consuming it, then start one: its start checks the store, reports the loss and moves the consumer back")
			}
		}
		gauge.WithLabelValues(stream).Set(float64(n))
	}
	return nil
}
