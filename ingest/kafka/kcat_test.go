package kafka_test

import (
	"bytes"
	"context"
	"os/exec"
	"testing"
	"time"

	"breachd/bus"
	"breachd/bus/bustest"
	"breachd/ingest/kafka"
)

// An independent Kafka client (librdkafka's kcat, from Debian) produces canonical JSON lines
// into a kfake broker on loopback; the Source consumes them into JetStream.
func TestKcatProducer(t *testing.T) {
	kcat, err := exec.LookPath("kcat")
	if err != nil {
		t.Fatalf("kcat not found (%v): install kcat: scripts/setup.sh (apt-get install kcat)", err)
	}
	s := bustest.Start(t)
	brokers := startKafka(t)
	bad := map[int]string{42: `{"kind":"auth","id":"no-time","org":"o","user":"u","service":"s","result":"success"}`}
	values, ids := lines(t, "kcat", 1000, bad)

	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	// -P: one message per stdin line; acks from all replicas; messages spread at random over
	// the partitions; fail rather than hang if the broker is unreachable.
	cmd := exec.CommandContext(ctx, kcat, "-P", "-b", brokers[0], "-t", topic,
		"-X", "acks=all", "-X", "topic.partitioner=random", "-X", "message.timeout.ms=20000")
	cmd.Stdin = bytes.NewReader(append(bytes.Join(values, []byte("\n")), '\n'))
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		t.Fatalf("kcat -P: %v\n%s", err, out.Bytes())
	}

	src, err := kafka.New(config(brokers, "breachd-kcat"))
	if err != nil {
		t.Fatal(err)
	}
	sink := &tally{Sink: pipeline(t, s)}
	r := start(t, context.Background(), src, sink)
	waitFor(t, "every partition committed to its end", func() bool { return caughtUp(t, brokers, "breachd-kcat") })
	r.stop(t)

	sameIDs(t, storedIDs(t, s), ids)
	dlq := s.Messages(t, bus.StreamDLQ)
	if len(dlq) != 1 || string(dlq[0].Data) != bad[42] {
		t.Fatalf("DEADLETTER holds %d messages, want the one bad line", len(dlq))
	}
	if res := sink.result(); res.Accepted != 999 || res.Rejected != 1 {
		t.Errorf("results %+v, want 999 accepted and 1 rejected", res)
	}
}
