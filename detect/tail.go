package detect

import (
	"context"
	"errors"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"breachd/bus"
	"breachd/event"
	"breachd/retry"
)

// dirTail keeps the catalogue of a standby current: it applies the directory events of the
// stream (an ordered consumer on breachd.events.directory: no acks, no durable state), so that
// taking over needs no rebuild from history. Applying a directory event the catalogue holds
// already is harmless (the catalogue is temporal: what a rule reads is the fact in force at
// the event's time, whatever the order the changes were applied in).
type dirTail struct {
	finish chan uint64 // the last stream sequence to apply before stopping
	done   chan struct{}
}

// tailDirectory starts a tail from stream sequence from.
func (d *Detector) tailDirectory(ctx context.Context, from uint64) *dirTail {
	t := &dirTail{finish: make(chan uint64, 1), done: make(chan struct{})}
	go func() {
		defer close(t.done)
		d.tail(ctx, from, t.finish)
	}()
	return t
}

// stop applies every directory event up to stream sequence upto (those above it come through
// the durable), then stops the tail and returns; or returns when ctx ends.
func (t *dirTail) stop(upto uint64) {
	t.finish <- upto
	<-t.done
}

func (d *Detector) tail(ctx context.Context, from uint64, finish <-chan uint64) {
	var c jetstream.Consumer
	upto, stopping := uint64(0), false
	for ctx.Err() == nil {
		if !stopping {
			select {
			case upto = <-finish:
				stopping = true
			default:
			}
		}
		if c == nil {
			var err error
			c, err = d.js.OrderedConsumer(ctx, bus.StreamEvents, jetstream.OrderedConsumerConfig{
				FilterSubjects: []string{bus.SubjectDirectory},
				DeliverPolicy:  jetstream.DeliverByStartSequencePolicy,
				OptStartSeq:    max(from, 1),
			})
			if err != nil {
				d.log.Warn("directory tail of the standby: no consumer, retrying", "err", err)
				_ = retry.Sleep(ctx, time.Second)
				continue
			}
		}
		var fetched jetstream.MessageBatch
		var err error
		if stopping {
			fetched, err = c.FetchNoWait(1000) // what is there now; nothing left means caught up
		} else {
			fetched, err = c.Fetch(1000, jetstream.FetchMaxWait(250*time.Millisecond)) // short: a takeover waits for it
		}
		if err != nil {
			d.log.Warn("directory tail of the standby: fetch failed, retrying", "err", err)
			_ = retry.Sleep(ctx, time.Second)
			continue
		}
		n, past := 0, false
		for m := range fetched.Messages() {
			n++
			md, err := m.Metadata()
			if err != nil || past {
				continue
			}
			if stopping && md.Sequence.Stream > upto {
				past = true
				continue
			}
			from = md.Sequence.Stream + 1
			e, err := event.Parse(m.Data())
			if err != nil {
				continue // the durable terminates it when it comes through
			}
			if err := d.cat.Apply(&e); err != nil {
				d.log.Error("directory event not applied", "id", e.ID, "err", err)
			}
		}
		if err := fetched.Error(); err != nil && !errors.Is(err, jetstream.ErrNoMessages) && !errors.Is(err, context.DeadlineExceeded) && ctx.Err() == nil {
			d.log.Warn("directory tail of the standby: fetch ended with error", "err", err)
		}
		if stopping && (n == 0 || past || from > upto) {
			return
		}
	}
}
