package channel

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"breachd/bus"
	"breachd/retry"
)

// Names of the NATS objects this package uses. Neither collides with bus.Ensure's streams:
// INCIDENTS covers breachd.incidents.>, not breachd.notifications.>.
const (
	StreamNotifications  = "NOTIFICATIONS"
	SubjectNotifications = "breachd.notifications" // messages go to <prefix>.<kind>
	BucketNotifications  = "notifications"         // dedup records, see Dispatcher
)

// NATS publishes the message JSON (WebhookPayload: the message, its incident and delivery
// id) on <prefix>.<kind> for other systems. With JetStream (the default) it waits for the
// PubAck and sets Nats-Msg-Id to the delivery id, so the stream's duplicate window drops a
// re-sent copy; a stream must cover the subjects (EnsureStream). With Core it publishes and
// flushes: nobody listening means the message is gone, and that is not an error.
type NATS struct {
	name   string
	js     jetstream.JetStream
	prefix string
	core   bool
}

// NewNATS returns a NATS channel; prefix "" means SubjectNotifications.
func NewNATS(name string, js jetstream.JetStream, prefix string, core bool) (*NATS, error) {
	if js == nil {
		return nil, fmt.Errorf("nats %s: no JetStream connection", name)
	}
	if prefix == "" {
		prefix = SubjectNotifications
	}
	return &NATS{name: name, js: js, prefix: prefix, core: core}, nil
}

// Name returns the channel's configured name.
func (n *NATS) Name() string { return n.name }

// Subject returns the subject m is published on.
func (n *NATS) Subject(m *Message) string { return n.prefix + "." + m.Kind }

// Send publishes m once. "no responders" (no stream covers the subject) is transient: the
// stream may be being created; a rejected publish (e.g. message too large) is permanent.
func (n *NATS) Send(ctx context.Context, m Message) error {
	body, err := json.Marshal(WebhookPayload{Delivery: m.DeliveryID(), Message: m})
	if err != nil {
		return retry.Permanent(fmt.Errorf("nats %s: encode: %w", n.name, err))
	}
	msg := &nats.Msg{Subject: n.Subject(&m), Data: body, Header: nats.Header{}}
	msg.Header.Set(bus.HeaderMsgID, m.DeliveryID())
	msg.Header.Set(HeaderDelivery, m.DeliveryID())
	if n.core {
		nc := n.js.Conn()
		if err := nc.PublishMsg(msg); err != nil {
			return n.classify(err)
		}
		if err := nc.FlushWithContext(ctx); err != nil {
			return n.classify(err)
		}
		return nil
	}
	if _, err := n.js.PublishMsg(ctx, msg); err != nil {
		return n.classify(err)
	}
	return nil
}

func (n *NATS) classify(err error) error {
	err = fmt.Errorf("nats %s: %w", n.name, err)
	var apiErr *jetstream.APIError
	if errors.Is(err, nats.ErrMaxPayload) || (errors.As(err, &apiErr) && apiErr.Code >= 400 && apiErr.Code < 500 && apiErr.Code != 408) {
		return retry.Permanent(err)
	}
	return retry.Transient(err, 0)
}

// EnsureStream creates or updates the NOTIFICATIONS stream on SubjectNotifications.> (file
// storage, 30 days, 24 h duplicate window). Safe to call from several processes.
func EnsureStream(ctx context.Context, js jetstream.JetStream, replicas int) error {
	if replicas <= 0 {
		replicas = 1
	}
	_, err := js.CreateOrUpdateStream(ctx, jetstream.StreamConfig{
		Name:       StreamNotifications,
		Subjects:   []string{SubjectNotifications + ".>"},
		Storage:    jetstream.FileStorage,
		Replicas:   replicas,
		MaxAge:     30 * 24 * time.Hour,
		Duplicates: 24 * time.Hour,
	})
	if err != nil {
		return fmt.Errorf("ensure stream %s: %w", StreamNotifications, err)
	}
	return nil
}

// DefaultDedupTTL is how long the dedup bucket remembers a delivery.
const DefaultDedupTTL = 7 * 24 * time.Hour

// EnsureBucket creates or updates the dedup KV bucket (BucketNotifications) with the given
// TTL (0: DefaultDedupTTL) and returns it. A Key re-sent after the TTL is delivered again.
func EnsureBucket(ctx context.Context, js jetstream.JetStream, ttl time.Duration, replicas int) (jetstream.KeyValue, error) {
	if ttl <= 0 {
		ttl = DefaultDedupTTL
	}
	if replicas <= 0 {
		replicas = 1
	}
	kv, err := js.CreateOrUpdateKeyValue(ctx, jetstream.KeyValueConfig{
		Bucket:      BucketNotifications,
		Description: "breachd notification deliveries (dedup)",
		History:     1,
		TTL:         ttl,
		Storage:     jetstream.FileStorage,
		Replicas:    replicas,
	})
	if err != nil {
		return nil, fmt.Errorf("ensure bucket %s: %w", BucketNotifications, err)
	}
	return kv, nil
}
