// Package scim deactivates and reactivates accounts through a SCIM 2.0 service provider
// (RFC 7643, RFC 7644): it finds the User by userName with a filter query and sets its
// "active" attribute with a PatchOp. It implements respond.Adapter.
//
// Both operations are idempotent: a user already in the wanted state is left alone (no
// PATCH). Errors are classified for the engine's retries: 400, 401, 403, 404, 409 and other
// 4xx, a user not found or found twice, and a PATCH answer that does not show the change are
// permanent; network errors and the statuses retry.TransientStatus names (408, 425, 429 and
// 5xx, honouring Retry-After) are transient.
// The bearer token never appears in errors.
package scim

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	"breachd/respond"
	"breachd/retry"
)

// Config configures a Client.
type Config struct {
	BaseURL    string       // the service provider's base, e.g. https://idp.example/scim/v2 (required)
	Token      string       // bearer token (required)
	HTTPClient *http.Client // default: a client with a 30 s timeout
	Clock      func() time.Time
}

// Client is the SCIM adapter.
type Client struct {
	base  string
	token string
	hc    *http.Client
	clock func() time.Time
}

// New checks cfg and returns a Client.
func New(cfg Config) (*Client, error) {
	u, err := url.Parse(cfg.BaseURL)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		return nil, fmt.Errorf("scim: base URL %q is not an http(s) URL", cfg.BaseURL)
	}
	if cfg.Token == "" {
		return nil, errors.New("scim: a bearer token is required")
	}
	if cfg.HTTPClient == nil {
		cfg.HTTPClient = &http.Client{Timeout: 30 * time.Second}
	}
	if cfg.Clock == nil {
		cfg.Clock = time.Now
	}
	return &Client{base: strings.TrimRight(cfg.BaseURL, "/"), token: cfg.Token, hc: cfg.HTTPClient, clock: cfg.Clock}, nil
}

// Name returns "scim".
func (c *Client) Name() string { return "scim" }

// Deactivate sets active=false on the user whose userName is t.Account.
func (c *Client) Deactivate(ctx context.Context, t respond.Target) error {
	return c.setActive(ctx, t.Account, false)
}

// Reactivate sets active=true on the user whose userName is t.Account.
func (c *Client) Reactivate(ctx context.Context, t respond.Target) error {
	return c.setActive(ctx, t.Account, true)
}

const (
	mediaType   = "application/scim+json"
	schemaList  = "urn:ietf:params:scim:api:messages:2.0:ListResponse"
	schemaPatch = "urn:ietf:params:scim:api:messages:2.0:PatchOp"
	maxBody     = 1 << 20
)

type user struct {
	ID       string `json:"id"`
	UserName string `json:"userName"`
	Active   *bool  `json:"active"`
}

type listResponse struct {
	Schemas      []string `json:"schemas"`
	TotalResults int      `json:"totalResults"`
	Resources    []user   `json:"Resources"`
}

type patchOp struct {
	Schemas    []string    `json:"schemas"`
	Operations []operation `json:"Operations"`
}

type operation struct {
	Op    string `json:"op"`
	Path  string `json:"path"`
	Value bool   `json:"value"`
}

func (c *Client) setActive(ctx context.Context, account string, active bool) error {
	if account == "" {
		return retry.Permanent(errors.New("scim: empty account"))
	}
	u, err := c.find(ctx, account)
	if err != nil {
		return err
	}
	if u.Active != nil && *u.Active == active {
		return nil // already so; the user's "active" defaults to true when absent
	}
	body, _ := json.Marshal(patchOp{
		Schemas:    []string{schemaPatch},
		Operations: []operation{{Op: "replace", Path: "active", Value: active}},
	})
	what := "SCIM PATCH /Users/{id}"
	resp, err := c.do(ctx, http.MethodPatch, c.base+"/Users/"+url.PathEscape(u.ID), body)
	if err != nil {
		return fmt.Errorf("%s: %w", what, err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, maxBody))
	if err != nil {
		return fmt.Errorf("%s: read answer: %w", what, err)
	}
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return retry.StatusError(what, resp, scimDetail(data), c.clock())
	}
	if resp.StatusCode == http.StatusNoContent || len(bytes.TrimSpace(data)) == 0 {
		return nil // RFC 7644 3.5.2: 204 without the resource is a success
	}
	var got user
	if err := json.Unmarshal(data, &got); err != nil {
		return retry.Permanent(fmt.Errorf("%s: answer is not a SCIM resource: %w", what, err))
	}
	if got.Active != nil && *got.Active != active {
		return retry.Permanent(fmt.Errorf("%s: answer shows active=%t after setting it to %t", what, *got.Active, active))
	}
	return nil
}

// find returns the one user whose userName equals account.
func (c *Client) find(ctx context.Context, account string) (user, error) {
	what := "SCIM GET /Users?filter"
	q := url.Values{"filter": {`userName eq ` + filterString(account)}}
	resp, err := c.do(ctx, http.MethodGet, c.base+"/Users?"+q.Encode(), nil)
	if err != nil {
		return user{}, fmt.Errorf("%s: %w", what, err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, maxBody))
	if err != nil {
		return user{}, fmt.Errorf("%s: read answer: %w", what, err)
	}
	if resp.StatusCode != http.StatusOK {
		return user{}, retry.StatusError(what, resp, scimDetail(data), c.clock())
	}
	var lr listResponse
	if err := json.Unmarshal(data, &lr); err != nil {
		return user{}, retry.Permanent(fmt.Errorf("%s: answer is not a ListResponse: %w", what, err))
	}
	// userName is case-insensitive in SCIM (RFC 7643 4.1.1): compare the same way.
	var found []user
	for _, u := range lr.Resources {
		if strings.EqualFold(u.UserName, account) && u.ID != "" {
			found = append(found, u)
		}
	}
	switch len(found) {
	case 0:
		return user{}, retry.Permanent(fmt.Errorf("%s: no user with that userName (%d results)", what, lr.TotalResults))
	case 1:
		return found[0], nil
	}
	return user{}, retry.Permanent(fmt.Errorf("%s: %d users share that userName; refusing to guess", what, len(found)))
}

func (c *Client) do(ctx context.Context, method, u string, body []byte) (*http.Response, error) {
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, u, rd)
	if err != nil {
		return nil, retry.Permanent(err)
	}
	req.Header.Set("Authorization", "Bearer "+c.token)
	req.Header.Set("Accept", mediaType)
	if body != nil {
		req.Header.Set("Content-Type", mediaType)
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) { // drop the URL: it holds the account in the filter
			return nil, fmt.Errorf("%s: %w", method, ue.Err)
		}
		return nil, err
	}
	return resp, nil
}

// filterString quotes s as a SCIM filter string value: a JSON string (RFC 7644 3.4.2.2),
// so quotes and backslashes are escaped.
func filterString(s string) string {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(s)
	return strings.TrimSuffix(b.String(), "\n")
}

// scimDetail extracts "detail" (and scimType) of a SCIM error body, clipped.
func scimDetail(data []byte) string {
	var e struct {
		Detail   string `json:"detail"`
		ScimType string `json:"scimType"`
	}
	if json.Unmarshal(data, &e) != nil || (e.Detail == "" && e.ScimType == "") {
		return ""
	}
	d := strings.TrimSpace(e.ScimType + " " + e.Detail)
	if len(d) > 200 {
		d = d[:200]
	}
	return d
}
