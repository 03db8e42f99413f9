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
// stream (an ordered consumer on breachd.events.directory: no acks, no durable state) up to
// the durable's ack floor, which the active detector moves, so that taking over needs no
// rebuild from history. It does not run ahead of the floor: at a takeover the catalogue is
// then as of the floor, and the durable delivers the changes above it in stream order,
// between the events they precede, as to the detector that was active.
type dirTail struct {
	finish chan uint64 // the last stream sequence to apply before stopping
	done   chan struct{}
	// reached is set when the tail stopped having applied every directory event up to the
	// sequence given to stop; read after done is closed.
	reached bool
}

// tailPoll is how often the tail reads the durable's ack floor and the directory events up to it.
const tailPoll = 250 * time.Millisecond

// tailDirectory starts a tail from stream sequence from, following the ack floor of cons.
func (d *Detector) tailDirectory(ctx context.Context, cons jetstream.Consumer, from uint64) *dirTail {
	t := &dirTail{finish: make(chan uint64, 1), done: make(chan struct{})}
	go func() {
		defer close(t.done)
		t.reached = d.tail(ctx, cons, from, t.finish)
	}()
	return t
}

// stop applies every directory event up to stream sequence upto (those above it come through
// the durable), then stops the tail and returns true; it keeps trying (the stream cannot be
// read) until it has, or the tail's ctx ends: then it returns false, and the catalogue may lack
// some of the directory events up to upto, which the durable will not deliver again.
func (t *dirTail) stop(upto uint64) bool {
	t.finish <- upto
	<-t.done
	return t.reached
}

// heldEvent is a directory event the tail has read and not applied yet: it is above the floor.
type heldEvent struct {
	seq uint64
	e   event.Event
}

// tail applies the directory events from stream sequence from on up to the ack floor of cons
// until a stop floor comes on finish; it returns true once every event up to that floor is
// applied, false when ctx ends first.
func (d *Detector) tail(ctx context.Context, cons jetstream.Consumer, from uint64, finish <-chan uint64) bool {
	var c jetstream.Consumer
	var held []heldEvent // read, above the floor, in stream order
	floor, stopping := uint64(0), false
	apply := func() {
		n := 0
		for ; n < len(held) && held[n].seq <= floor; n++ {
			if err := d.cat.Apply(&held[n].e); err != nil {
				d.log.Error("directory event not applied", "id", held[n].e.ID, "err", err)
			}
		}
		held = held[n:]
	}
	for ctx.Err() == nil {
		if !stopping { // once stopping, the floor stays the one given to stop
			select {
			case floor = <-finish:
				stopping = true
			case <-ctx.Done():
				return false
			case <-time.After(tailPoll):
				if info, err := cons.Info(ctx); err == nil {
					floor = info.AckFloor.Stream
				}
			}
		}
		apply()
		if len(held) > 0 {
			if stopping {
				return true // applied all up to the floor; what is held above it comes through the durable
			}
			continue // wait for the floor to pass what is held
		}
		if c == nil {
			var err error
			c, err = d.js.OrderedConsumer(ctx, bus.StreamEvents, jetstream.OrderedConsumerConfig{
				FilterSubjects: []string{bus.SubjectDirectory},
				DeliverPolicy:  jetstream.DeliverByStartSequencePolicy,
				OptStartSeq:    max(from, 1),
				// Every fetch of an ordered consumer first recreates its server-side consumer,
				// retrying MaxResetAttempts times without a context (unlimited by default: with
				// the server gone, the fetch would never return and the tail never stop). One
				// attempt bounds a fetch by the request's timeout (10 s, nats.go ordered.go
				// reset); the loop here retries, and stops when ctx ends.
				MaxResetAttempts: 1,
			})
			if err != nil {
				d.log.Warn("directory tail of the standby: no consumer, retrying", "err", err)
				_ = retry.Sleep(ctx, time.Second)
				continue
			}
		}
		// Read what is there up to the floor (a stop reads until nothing below it is left).
		caughtUp := false
		for len(held) == 0 && ctx.Err() == nil {
			fetched, err := c.FetchNoWait(1000)
			if err != nil {
				if ctx.Err() == nil {
					d.log.Warn("directory tail of the standby: fetch failed, retrying", "err", err)
				}
				break
			}
			n := 0
			for m := range fetched.Messages() {
				n++
				md, err := m.Metadata()
				if err != nil {
					continue
				}
				e, err := event.Parse(m.Data())
				if err != nil {
					continue // the durable terminates it when it comes through
				}
				held = append(held, heldEvent{seq: md.Sequence.Stream, e: e})
			}
			apply()
			if err := fetched.Error(); err != nil && !errors.Is(err, jetstream.ErrNoMessages) {
				if ctx.Err() == nil {
					d.log.Warn("directory tail of the standby: fetch ended with error", "err", err)
				}
				break // maybe not the end of the stream: read again
			}
			if n == 0 {
				caughtUp = true // with the stream
				break
			}
		}
		if stopping {
			if caughtUp || len(held) > 0 {
				return true
			}
			_ = retry.Sleep(ctx, tailPoll) // the stream could not be read to the floor: again
		}
	}
	return false
}
