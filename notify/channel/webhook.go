package channel

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"

	"breachd/hmacsig"
	"breachd/retry"
)

// Headers of a Webhook request: hmacsig.HeaderSignature and hmacsig.HeaderTimestamp (see
// package hmacsig, whose Verify receivers use), and HeaderDelivery. Receivers should also drop
// repeated delivery ids: retries re-send the same delivery with a new timestamp.
const HeaderDelivery = "X-Breachd-Delivery" // Message.DeliveryID: the same for every attempt

// WebhookPayload is the JSON body a Webhook posts: the message (with the incident) and the
// delivery id.
type WebhookPayload struct {
	Delivery string `json:"delivery"`
	Message
}

// Webhook posts the message as JSON to a URL, signed with HMAC-SHA256 so the receiver can
// check it came from breachd and is fresh (see VerifySignature).
type Webhook struct {
	name   string
	url    string
	secret []byte
	http   HTTPOptions
}

// NewWebhook returns a webhook channel. The secret must not be empty.
func NewWebhook(name, url string, secret []byte, opts HTTPOptions) (*Webhook, error) {
	if url == "" {
		return nil, fmt.Errorf("webhook %s: no url", name)
	}
	if len(secret) == 0 {
		return nil, fmt.Errorf("webhook %s: empty signing secret", name)
	}
	return &Webhook{name: name, url: url, secret: append([]byte(nil), secret...), http: opts.withDefaults()}, nil
}

// Name returns the channel's configured name.
func (w *Webhook) Name() string { return w.name }

// Send posts m once. See Channel for the error contract.
func (w *Webhook) Send(ctx context.Context, m Message) error {
	body, err := json.Marshal(WebhookPayload{Delivery: m.DeliveryID(), Message: m})
	if err != nil {
		return retry.Permanent(fmt.Errorf("webhook %s: encode: %w", w.name, err))
	}
	ts := strconv.FormatInt(w.http.Clock().Unix(), 10)
	h := http.Header{}
	h.Set(hmacsig.HeaderTimestamp, ts)
	h.Set(hmacsig.HeaderSignature, hmacsig.Sign(w.secret, ts, body))
	h.Set(HeaderDelivery, m.DeliveryID())
	return w.http.post(ctx, "webhook "+w.name, w.url, h, body)
}
