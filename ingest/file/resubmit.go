package file

import (
	"context"
	"log/slog"
	"time"

	"breachd/bus"
	"breachd/ingest"
	"breachd/retry"
)

// resubmitting is the Sink of a file or stdin read: it submits a batch again, with backoff,
// while Submit fails because NATS is out of reach for a while (bus.Unavailable: a server of
// the cluster died or a stream is electing a new leader, which takes seconds), so that a
// read survives a cluster's failover; any other error ends the read at once, as before. Event
// and dead-letter ids make a resubmission idempotent. (The follower retries every error.)
type resubmitting struct {
	sink ingest.Sink
	log  *slog.Logger
}

var resubmitBackoff = retry.Backoff{Initial: 100 * time.Millisecond, Max: 5 * time.Second}

func (r resubmitting) Submit(ctx context.Context, b ingest.Batch) (ingest.Result, error) {
	for n := 1; ; n++ {
		res, err := r.sink.Submit(ctx, b)
		if err == nil {
			if n > 1 {
				r.log.Info("NATS reachable again: batch submitted", "attempts", n)
			}
			return res, nil
		}
		if !bus.Unavailable(err) {
			return res, err
		}
		if n == 1 {
			r.log.Warn("NATS unavailable: submitting the batch again until it is durable", "err", err)
		}
		if serr := retry.Sleep(ctx, resubmitBackoff.Delay(n)); serr != nil {
			return res, err
		}
	}
}
