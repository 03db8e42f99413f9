package kafka_test

import (
	"context"
	"sync/atomic"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kmsg"

	"breachd/bus"
	"breachd/bus/bustest"
	"breachd/ingest/kafka"
)

// failCommits makes the broker refuse every offset commit (REQUEST_TIMED_OUT on each
// partition) while *on is true.
func failCommits(c *kfake.Cluster, on *atomic.Bool) {
	c.ControlKey(int16(kmsg.OffsetCommit), func(req kmsg.Request) (kmsg.Response, error, bool) {
		c.KeepControl()
		if !on.Load() {
			return nil, nil, false
		}
		creq := req.(*kmsg.OffsetCommitRequest)
		resp := creq.ResponseKind().(*kmsg.OffsetCommitResponse)
		for _, t := range creq.Topics {
			rt := kmsg.NewOffsetCommitResponseTopic()
			rt.Topic = t.Topic
			for _, p := range t.Partitions {
				rp := kmsg.NewOffsetCommitResponseTopicPartition()
				rp.Partition, rp.ErrorCode = p.Partition, 7 // REQUEST_TIMED_OUT
				rt.Partitions = append(rt.Partitions, rp)
			}
			resp.Topics = append(resp.Topics, rt)
		}
		return resp, nil, true
	})
}

// When the broker refuses commits, the source goes on publishing, counts the failures and
// keeps the offsets; once commits work again it commits them even though no new message comes,
// and nothing is stored twice.
func TestCommitOutage(t *testing.T) {
	s := bustest.Start(t)
	c, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(partitions, topic))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	brokers := c.ListenAddrs()
	var refuse atomic.Bool
	refuse.Store(true)
	failCommits(c, &refuse)

	values, ids := lines(t, "idp", 1500, nil)
	produce(t, brokers, values)
	const group = "breachd-commit-outage"
	cfg := config(brokers, group)
	reg := prometheus.NewRegistry()
	cfg.Registerer = reg
	src, err := kafka.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	r := start(t, context.Background(), src, pipeline(t, s))
	commitErrors := func() float64 { return counter(t, reg, "breach_ingest_kafka_commit_errors_total") }
	waitFor(t, "every event durable", func() bool { return s.Count(t, bus.StreamEvents) == uint64(len(ids)) })
	// The commit of the last batch may still be under way; two more refusals mean the source
	// has retried on its own, with no batch to carry the offsets.
	e0 := commitErrors()
	waitFor(t, "commits retried while idle", func() bool { return commitErrors() >= e0+2 })
	if committed, _ := offsets(t, brokers, group); committed[0] >= 0 || committed[1] >= 0 || committed[2] >= 0 {
		t.Fatalf("the broker refused every commit, yet the group has %v", committed)
	}

	refuse.Store(false)
	waitFor(t, "the held offsets committed", func() bool { return caughtUp(t, brokers, group) })
	r.stop(t)
	sameIDs(t, storedIDs(t, s), ids)
}
