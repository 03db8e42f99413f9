package deploy

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"breachd/retry"
)

// WaitIdle waits until every named durable consumer on its stream has delivered and had acked
// everything currently in the stream that it consumes (a detector's consumer filters its
// partitions: detect.DurableName names it), polling every interval. A consumer that does not
// exist yet is not idle. It is how `breachd run --exit-when-done`, `breachd detect
// --exit-when-done` and the tests know the pipeline has caught up.
func WaitIdle(ctx context.Context, js jetstream.JetStream, interval time.Duration, consumers map[string]string) error {
	for {
		idle := true
		for durable, stream := range consumers {
			c, err := js.Consumer(ctx, stream, durable)
			if err != nil {
				if ctx.Err() != nil {
					return ctx.Err()
				}
				idle = false // not created yet
				continue
			}
			info, err := c.Info(ctx)
			if err != nil {
				return fmt.Errorf("consumer %s info: %w", durable, err)
			}
			if info.NumPending > 0 || info.NumAckPending > 0 || info.NumRedelivered > 0 {
				idle = false
				continue
			}
			// NumPending can read 0 just after a consumer is created or updated, before the
			// server has counted its stream: its ack floor must also be at the last message it
			// consumes (of the whole stream, or the last of each subject it filters).
			last, err := lastConsumed(ctx, js, stream, info.Config)
			if err != nil {
				return err
			}
			if info.AckFloor.Stream < last {
				idle = false
			}
		}
		if idle {
			return nil
		}
		if err := retry.Sleep(ctx, interval); err != nil {
			return err
		}
	}
}

// lastConsumed is the sequence of the last message in stream that a consumer with cfg
// consumes: the stream's last, or with filters the latest of the last message of each (0
// when none has one).
func lastConsumed(ctx context.Context, js jetstream.JetStream, stream string, cfg jetstream.ConsumerConfig) (uint64, error) {
	s, err := js.Stream(ctx, stream)
	if err != nil {
		return 0, fmt.Errorf("stream %s: %w", stream, err)
	}
	filters := cfg.FilterSubjects
	if cfg.FilterSubject != "" {
		filters = append(filters, cfg.FilterSubject)
	}
	if len(filters) == 0 {
		return s.CachedInfo().State.LastSeq, nil // read by js.Stream just now
	}
	var last uint64
	for _, f := range filters {
		m, err := s.GetLastMsgForSubject(ctx, f)
		switch {
		case errors.Is(err, jetstream.ErrMsgNotFound):
		case err != nil:
			return 0, fmt.Errorf("stream %s: the last message of %s: %w", stream, f, err)
		default:
			last = max(last, m.Sequence)
		}
	}
	return last, nil
}
