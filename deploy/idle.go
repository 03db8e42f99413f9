package deploy

import (
	"context"
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
			// server has counted its stream. A consumer of the whole stream must also have its
			// ack floor at the stream's last message.
			if info.Config.FilterSubject == "" && len(info.Config.FilterSubjects) == 0 {
				s, err := js.Stream(ctx, stream)
				if err != nil {
					return fmt.Errorf("stream %s: %w", stream, err)
				}
				si, err := s.Info(ctx)
				if err != nil {
					return fmt.Errorf("stream %s info: %w", stream, err)
				}
				if info.AckFloor.Stream < si.State.LastSeq {
					idle = false
				}
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
