package channel

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	"breachd/retry"
)

// HTTPOptions are shared by the HTTP channels (Webhook, Chat). The zero value is usable.
type HTTPOptions struct {
	// Client sends the requests (default: a client with a 15 s timeout that follows no
	// redirects, so a redirect is reported instead of silently re-posting elsewhere).
	Client *http.Client
	// Clock stamps signatures and reads Retry-After dates (default time.Now).
	Clock func() time.Time
	// UserAgent (default "breachd-notify").
	UserAgent string
}

func (o HTTPOptions) withDefaults() HTTPOptions {
	if o.Client == nil {
		o.Client = &http.Client{
			Timeout: 15 * time.Second,
			CheckRedirect: func(*http.Request, []*http.Request) error {
				return http.ErrUseLastResponse
			},
		}
	}
	if o.Clock == nil {
		o.Clock = time.Now
	}
	if o.UserAgent == "" {
		o.UserAgent = "breachd-notify"
	}
	return o
}

// post sends body as JSON to target and classifies the outcome. what names the channel in
// errors; target never appears in them (it may hold a token).
func (o HTTPOptions) post(ctx context.Context, what, target string, header http.Header, body []byte) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, target, bytes.NewReader(body))
	if err != nil {
		return retry.Permanent(fmt.Errorf("%s: build request: %w", what, redactURLError(err)))
	}
	for k, v := range header {
		req.Header[k] = v
	}
	req.Header.Set("Content-Type", "application/json; charset=utf-8")
	req.Header.Set("User-Agent", o.UserAgent)
	resp, err := o.Client.Do(req)
	if err != nil {
		if ctx.Err() != nil {
			return fmt.Errorf("%s: %w", what, ctx.Err())
		}
		return retry.Transient(fmt.Errorf("%s: %w", what, redactURLError(err)), 0)
	}
	defer resp.Body.Close()
	if resp.StatusCode >= 200 && resp.StatusCode < 300 {
		_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10)) // let the connection be reused
		return nil
	}
	return retry.HTTPError(what, resp, o.Clock())
}

// redactURLError strips the request URL from an http.Client error: chat webhook URLs carry
// their token in the path and must not reach logs.
func redactURLError(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		return fmt.Errorf("%s request: %w", strings.ToLower(ue.Op), ue.Err)
	}
	return err
}
