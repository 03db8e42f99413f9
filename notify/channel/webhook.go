package channel

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// Headers of a Webhook request.
const (
	HeaderSignature = "X-Breachd-Signature" // sha256=<hex HMAC-SHA256(secret, "<timestamp>.<body>")>
	HeaderTimestamp = "X-Breachd-Timestamp" // Unix seconds when the attempt was signed
	HeaderDelivery  = "X-Breachd-Delivery"  // Message.DeliveryID: the same for every attempt
)

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
		return Permanent(fmt.Errorf("webhook %s: encode: %w", w.name, err))
	}
	ts := strconv.FormatInt(w.http.Clock().Unix(), 10)
	h := http.Header{}
	h.Set(HeaderTimestamp, ts)
	h.Set(HeaderSignature, Sign(w.secret, ts, body))
	h.Set(HeaderDelivery, m.DeliveryID())
	return w.http.post(ctx, "webhook "+w.name, w.url, h, body)
}

// Sign returns the X-Breachd-Signature value for body sent at ts (Unix seconds as a string).
func Sign(secret []byte, ts string, body []byte) string {
	mac := hmac.New(sha256.New, secret)
	mac.Write([]byte(ts))
	mac.Write([]byte{'.'})
	mac.Write(body)
	return "sha256=" + hex.EncodeToString(mac.Sum(nil))
}

// Errors of VerifySignature.
var (
	ErrBadSignature = errors.New("signature does not match")
	ErrStale        = errors.New("timestamp outside the allowed skew")
)

// VerifySignature checks a Webhook request as a receiver should: sig must be the HMAC of
// "<ts>.<body>" under secret (compared in constant time) and ts (Unix seconds) within maxSkew
// of now, which stops replays of old requests. Receivers should also drop repeated
// X-Breachd-Delivery ids: retries re-send the same delivery with a new timestamp.
func VerifySignature(secret []byte, ts string, body []byte, sig string, maxSkew time.Duration, now time.Time) error {
	sec, err := strconv.ParseInt(ts, 10, 64)
	if err != nil {
		return fmt.Errorf("timestamp %q: %w", ts, err)
	}
	skew := now.Sub(time.Unix(sec, 0))
	if skew < 0 {
		skew = -skew
	}
	if skew > maxSkew {
		return fmt.Errorf("%w: %s off", ErrStale, skew.Round(time.Second))
	}
	hexSig, ok := strings.CutPrefix(sig, "sha256=")
	if !ok {
		return fmt.Errorf("%w: no sha256= prefix", ErrBadSignature)
	}
	got, err := hex.DecodeString(hexSig)
	if err != nil {
		return fmt.Errorf("%w: not hex", ErrBadSignature)
	}
	mac := hmac.New(sha256.New, secret)
	mac.Write([]byte(ts))
	mac.Write([]byte{'.'})
	mac.Write(body)
	if !hmac.Equal(got, mac.Sum(nil)) {
		return ErrBadSignature
	}
	return nil
}
