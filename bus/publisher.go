package bus

import (
	"context"
	"fmt"
	"log/slog"
	"maps"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// Publisher publishes to JetStream asynchronously with a bounded number of unacknowledged
// messages in flight. It is safe for concurrent use.
//
// Publish may block while the window is full (until ctx ends). A nil error from Publish only
// means the message was sent; durability is known from the returned future, or for a whole
// batch from Flush.
type Publisher struct {
	js jetstream.JetStream
}

// DefaultWindow is the default number of unacknowledged async publishes.
const DefaultWindow = 4096

// NewPublisher wraps js. The window is set on js itself (jetstream.WithPublishAsyncMaxPending),
// so pass a JetStream created by NewJetStream.
func NewPublisher(js jetstream.JetStream) *Publisher { return &Publisher{js: js} }

// PubAckTimeout bounds the wait for an asynchronous publish's PubAck. A message that reached a
// stream leader which then died (kill -9 of a cluster's server) is never answered: without a
// bound its future, and whoever waits for it, would wait forever. After PubAckTimeout the
// future fails with jetstream.ErrAsyncPublishTimeout (Unavailable), and the message may be
// published again.
const PubAckTimeout = 30 * time.Second

// pubAckTimeout is PubAckTimeout, shorter in this package's tests.
var pubAckTimeout = PubAckTimeout

// NewJetStream creates a JetStream context with a bounded async publish window and PubAcks
// awaited for at most PubAckTimeout. Streams and buckets created or updated through it follow
// breachd's replica policy (replicas.go): an existing stream's replicas are never lowered (log
// gets a warning when asked to), and a count the server cannot place is an error wrapping
// ErrReplicas that says what to do.
func NewJetStream(nc *nats.Conn, window int, log *slog.Logger) (jetstream.JetStream, error) {
	if window <= 0 {
		window = DefaultWindow
	}
	js, err := jetstream.New(nc, jetstream.WithPublishAsyncMaxPending(window), jetstream.WithPublishAsyncTimeout(pubAckTimeout))
	if err != nil {
		return nil, err
	}
	return replicaGuard{JetStream: js, log: log}, nil
}

// Publish sends data on subject with msgID as Nats-Msg-Id (JetStream drops a second message
// with the same id within the stream's duplicate window). hdr may be nil; it is copied, not
// modified, so a caller may reuse it.
func (p *Publisher) Publish(ctx context.Context, subject, msgID string, data []byte, hdr nats.Header) (jetstream.PubAckFuture, error) {
	msg := &nats.Msg{Subject: subject, Data: data, Header: make(nats.Header, len(hdr)+1)}
	maps.Copy(msg.Header, hdr)
	if msgID != "" {
		msg.Header[HeaderMsgID] = []string{msgID} // Set without canonicalising a canonical key
	}
	for {
		f, err := p.js.PublishMsgAsync(msg)
		if err == nil {
			return f, nil
		}
		if err != jetstream.ErrTooManyStalledMsgs {
			return nil, fmt.Errorf("publish %s: %w", subject, err)
		}
		// Window full for longer than the stall wait: wait for completions, then retry.
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-p.js.PublishAsyncComplete():
		}
	}
}

// Wait waits for every future and returns their acks in order, or the first error, so a caller
// can ack its input only after every output is durable.
func Wait(ctx context.Context, futures []jetstream.PubAckFuture) ([]*jetstream.PubAck, error) {
	acks := make([]*jetstream.PubAck, len(futures))
	for i, f := range futures {
		a, err := WaitOne(ctx, f)
		if err != nil {
			return nil, err
		}
		acks[i] = a
	}
	return acks, nil
}

// WaitOne waits for one future's PubAck. A future delivers its outcome once: wait for each
// future once, with Wait or WaitOne.
func WaitOne(ctx context.Context, f jetstream.PubAckFuture) (*jetstream.PubAck, error) {
	select {
	case <-ctx.Done():
		return nil, ctx.Err()
	case a := <-f.Ok():
		return a, nil
	case err := <-f.Err():
		return nil, fmt.Errorf("publish %s: %w", f.Msg().Subject, err)
	}
}
