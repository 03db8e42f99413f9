package apiclient

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"strings"
	"time"
)

// DefaultTimeout bounds one request (connect, send, and read the whole answer) unless
// Config.Timeout says otherwise: longer than the server's own limit of the longest call
// (a backtest, 5 minutes), so the server's answer arrives rather than a client timeout.
const DefaultTimeout = 6 * time.Minute

// maxBody bounds an answer read into memory; a longer one is an error, not a truncated result.
const maxBody = 256 << 20

// Config says which server a Client talks to and as whom.
type Config struct {
	// Server is the API's base URL (https://breachd.example.no, http://127.0.0.1:8080).
	// http:// is refused unless the host is loopback: the token would cross the network in
	// clear.
	Server string
	// Token is a breachd API token (or an OIDC bearer token), sent as "Authorization: Bearer".
	Token string
	// CACert is a PEM file of the certificate authorities to trust besides the system's
	// (a server with a private CA); empty: the system's only.
	CACert string
	// Timeout bounds each request (default DefaultTimeout).
	Timeout time.Duration
	// UserAgent names the client (default "breachd-cli").
	UserAgent string
}

// Client calls the breachd HTTP API. It is safe for concurrent use.
type Client struct {
	base  *url.URL
	token string
	ua    string
	http  *http.Client
}

// New returns a client of cfg.Server. It connects to nothing yet.
func New(cfg Config) (*Client, error) {
	base, err := url.Parse(strings.TrimRight(cfg.Server, "/"))
	if err != nil || (base.Scheme != "http" && base.Scheme != "https") || base.Host == "" {
		return nil, fmt.Errorf("server %q is not an http:// or https:// URL", cfg.Server)
	}
	if base.User != nil {
		return nil, errors.New("the server URL must not hold credentials: give a token")
	}
	if base.Scheme == "http" && !loopback(base.Hostname()) {
		return nil, fmt.Errorf("server %s: plain http:// would send the token unencrypted: use https://, or http:// only to a loopback address (127.0.0.1, ::1, localhost)", cfg.Server)
	}
	if strings.ContainsAny(cfg.Token, " \t\r\n") {
		return nil, errors.New("the token holds white space (a copy-paste mistake?)")
	}
	tr := http.DefaultTransport.(*http.Transport).Clone()
	if cfg.CACert != "" {
		pem, err := os.ReadFile(cfg.CACert)
		if err != nil {
			return nil, fmt.Errorf("CA certificate: %w", err)
		}
		pool, err := x509.SystemCertPool()
		if err != nil {
			pool = x509.NewCertPool()
		}
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("CA certificate %s holds no PEM certificate", cfg.CACert)
		}
		tr.TLSClientConfig = &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}
	}
	timeout := cfg.Timeout
	if timeout <= 0 {
		timeout = DefaultTimeout
	}
	ua := cfg.UserAgent
	if ua == "" {
		ua = "breachd-cli"
	}
	// Redirects are not followed: the token goes to cfg.Server and nowhere else.
	noRedirect := func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	return &Client{base: base, token: cfg.Token, ua: ua, http: &http.Client{Transport: tr, Timeout: timeout, CheckRedirect: noRedirect}}, nil
}

// loopback reports whether host (a URL's host name) is this machine: localhost or a
// loopback IP address.
func loopback(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// Server is the base URL of the API.
func (c *Client) Server() string { return c.base.String() }

// Error is an answer of the API other than success: its status and the error body
// {"error":{"code":"…","message":"…"}} (the stable codes of docs/api.md).
type Error struct {
	Status  int
	Code    string
	Message string
}

// Error reads "<message> (<code>, HTTP <status>)".
func (e *Error) Error() string {
	return fmt.Sprintf("%s (%s, HTTP %d)", e.Message, e.Code, e.Status)
}

// Do sends method path?query with body as JSON (nil: none) and decodes the JSON answer into
// out (nil: the answer is discarded). Numbers decode as json.Number where out holds an any.
// An answer other than 2xx is an *Error.
func (c *Client) Do(ctx context.Context, method, path string, query url.Values, body, out any) error {
	b, err := c.Raw(ctx, method, path, query, body)
	if err != nil || out == nil {
		return err
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	if err := dec.Decode(out); err != nil {
		return fmt.Errorf("%s %s: the answer is not the JSON expected: %w", method, path, err)
	}
	return nil
}

// Raw is Do returning the answer's bytes as they came (e.g. a Markdown document).
func (c *Client) Raw(ctx context.Context, method, path string, query url.Values, body any) ([]byte, error) {
	u := *c.base
	u.Path = c.base.Path + path
	u.RawQuery = query.Encode()
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return nil, err
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, u.String(), rd)
	if err != nil {
		return nil, err
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	req.Header.Set("Accept", "application/json")
	req.Header.Set("User-Agent", c.ua)
	if c.token != "" {
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return nil, fmt.Errorf("%s %s: %w", method, c.base.Host+path, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, maxBody+1))
	if err != nil {
		return nil, fmt.Errorf("%s %s: read the answer: %w", method, path, err)
	}
	if resp.StatusCode/100 == 3 {
		return nil, &Error{Status: resp.StatusCode, Code: "redirect", Message: fmt.Sprintf("the server redirects to %q, not followed "+
			"(the token goes only to --server): give the API's own URL", resp.Header.Get("Location"))}
	}
	if resp.StatusCode/100 != 2 {
		return nil, errorOf(resp, b)
	}
	if len(b) > maxBody {
		return nil, fmt.Errorf("%s %s: the answer is larger than %d MiB", method, path, maxBody>>20)
	}
	return b, nil
}

// errorOf is the *Error of a failed answer: its error body, or (a proxy's page, say) the
// status with the start of the body.
func errorOf(resp *http.Response, body []byte) *Error {
	var eb struct {
		Error struct {
			Code    string `json:"code"`
			Message string `json:"message"`
		} `json:"error"`
	}
	if json.Unmarshal(body, &eb) == nil && eb.Error.Message != "" {
		return &Error{Status: resp.StatusCode, Code: eb.Error.Code, Message: eb.Error.Message}
	}
	msg := strings.TrimSpace(string(body))
	if len(msg) > 200 {
		msg = msg[:200] + "…"
	}
	if msg == "" || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/plain") {
		msg = http.StatusText(resp.StatusCode) + " (not an answer of the breachd API: is the server URL right?)"
	}
	return &Error{Status: resp.StatusCode, Code: "http", Message: msg}
}
