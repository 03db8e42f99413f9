package kafka

import (
	"context"
	"maps"
	"slices"
	"strconv"

	kafkago "github.com/segmentio/kafka-go"
)

type topicPartition struct {
	topic     string
	partition int
}

// pendingCommits holds, per partition, the last message of the durable batches whose offsets
// are not committed yet. Its size is bounded by the number of partitions.
type pendingCommits map[topicPartition]kafkago.Message

// add records the last message of each partition in msgs, a batch in fetch order.
func (p pendingCommits) add(msgs []kafkago.Message) {
	for _, m := range msgs {
		k := topicPartition{m.Topic, m.Partition}
		if prev, ok := p[k]; !ok || m.Offset > prev.Offset {
			p[k] = m
		}
	}
}

// commit commits, for each partition in pending, the offset after its last durable message,
// and empties pending. Batches are made durable in fetch order, so everything before those
// messages on their partitions is durable too. It reports false, keeping pending for a later
// attempt, when the commit failed; the records are then delivered again if the process stops
// before a commit succeeds, and JetStream drops them as duplicates.
func (s *Source) commit(ctx context.Context, r *kafkago.Reader, pending pendingCommits) bool {
	if len(pending) == 0 {
		return true
	}
	last := slices.Collect(maps.Values(pending))
	cctx, cancel := context.WithTimeout(ctx, commitTimeout)
	defer cancel()
	if err := r.CommitMessages(cctx, last...); err != nil {
		if ctx.Err() == nil {
			s.metrics.commitErrors.Inc()
			s.log.Warn("commit offsets failed; retrying, and the records are delivered again if no commit succeeds before a restart",
				"partitions", len(last), "err", err)
		}
		return false
	}
	clear(pending)
	if st := r.Stats(); st.Rebalances > 0 {
		// Partitions may have moved to another member: drop lag values this member no longer owns.
		s.metrics.rebalances.Add(float64(st.Rebalances))
		s.metrics.lag.Reset()
	}
	for _, m := range last {
		s.metrics.lag.WithLabelValues(m.Topic, strconv.Itoa(m.Partition)).Set(float64(max(m.HighWaterMark-m.Offset-1, 0)))
	}
	return true
}
