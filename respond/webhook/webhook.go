// Package webhook asks another system to deactivate or reactivate an account with a signed
// HTTP POST. It implements respond.Adapter.
//
// The body is JSON: {"action":"deactivate"|"reactivate","org","account","incident",
// "request_id"}. Headers: Content-Type application/json, Idempotency-Key: <request id>-<action>,
// X-Breachd-Timestamp: Unix seconds, and X-Breachd-Signature: sha256=<hex HMAC-SHA256 of
// timestamp "." body with the shared secret>. The receiver should check the signature with a
// constant-time compare, reject timestamps older than a few minutes, and treat a repeated
// Idempotency-Key as success: the engine may repeat a call after a crash.
//
// A 2xx answer means done. Network errors and the statuses retry.TransientStatus names (408,
// 425, 429 and 5xx, honouring Retry-After) are transient; every other status is permanent.
package webhook

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"time"

	"breachd/hmacsig"
	"breachd/respond"
	"breachd/retry"
)

// Config configures a Client.
type Config struct {
	URL        string       // required, http or https
	Secret     []byte       // required, at least 16 bytes
	HTTPClient *http.Client // default: a client with a 30 s timeout
	Clock      func() time.Time
}

// Client is the webhook adapter.
type Client struct {
	url    string
	secret []byte
	hc     *http.Client
	clock  func() time.Time
}

// New checks cfg and returns a Client.
func New(cfg Config) (*Client, error) {
	u, err := url.Parse(cfg.URL)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		return nil, errors.New("webhook: URL is not an http(s) URL")
	}
	if len(cfg.Secret) < 16 {
		return nil, errors.New("webhook: the signing secret must be at least 16 bytes")
	}
	if cfg.HTTPClient == nil {
		cfg.HTTPClient = &http.Client{Timeout: 30 * time.Second}
	}
	if cfg.Clock == nil {
		cfg.Clock = time.Now
	}
	return &Client{url: cfg.URL, secret: append([]byte(nil), cfg.Secret...), hc: cfg.HTTPClient, clock: cfg.Clock}, nil
}

// Payload is the JSON body of a call.
type Payload struct {
	Action    string `json:"action"`
	Org       string `json:"org"`
	Account   string `json:"account"`
	Incident  string `json:"incident"`
	RequestID string `json:"request_id"`
}

// Name returns "webhook".
func (c *Client) Name() string { return "webhook" }

// Deactivate posts action "deactivate".
func (c *Client) Deactivate(ctx context.Context, t respond.Target) error {
	return c.post(ctx, "deactivate", t)
}

// Reactivate posts action "reactivate".
func (c *Client) Reactivate(ctx context.Context, t respond.Target) error {
	return c.post(ctx, "reactivate", t)
}

func (c *Client) post(ctx context.Context, action string, t respond.Target) error {
	if t.Account == "" {
		return retry.Permanent(errors.New("webhook: empty account"))
	}
	body, err := json.Marshal(Payload{Action: action, Org: t.Org, Account: t.Account, Incident: t.Incident, RequestID: t.Request})
	if err != nil {
		return retry.Permanent(fmt.Errorf("webhook: encode: %w", err))
	}
	now := c.clock()
	ts := strconv.FormatInt(now.Unix(), 10)
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.url, bytes.NewReader(body))
	if err != nil {
		return retry.Permanent(fmt.Errorf("webhook: %w", err))
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set(hmacsig.HeaderTimestamp, ts)
	req.Header.Set(hmacsig.HeaderSignature, hmacsig.Sign(c.secret, ts, body))
	if t.Request != "" {
		req.Header.Set("Idempotency-Key", t.Request+"-"+action)
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err // the URL may carry a token in its query
		}
		return fmt.Errorf("webhook %s: %w", action, err)
	}
	defer resp.Body.Close()
	defer func() { _, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<20)) }() // reuse the connection
	if resp.StatusCode >= 200 && resp.StatusCode <= 299 {
		return nil
	}
	return retry.HTTPError("webhook "+action, resp, now)
}
