// Package ldap deactivates and reactivates accounts in an LDAP directory: it binds as a
// service account, finds the account's entry with a configured filter, and replaces one
// attribute with a "disabled" value (Deactivate) or deletes it (Reactivate). The default is
// OpenLDAP's password policy lock: pwdAccountLockedTime: 000001010000Z, which locks the
// account until an administrator removes the attribute (the ppolicy overlay must be loaded).
// It implements respond.Adapter.
//
// Each call opens its own connection (ldaps://, or ldap:// with StartTLS, or plain ldap://
// when allowed explicitly), binds, searches and modifies, and closes it: deactivations are
// rare, and a fresh connection needs no keep-alive or reconnect logic. ctx's deadline bounds
// the whole call; cancelling ctx closes the connection.
//
// Both operations are idempotent: replacing with the same value succeeds, deleting an absent
// attribute counts as done. Errors: no entry or several entries, bad credentials,
// insufficient access, schema violations and other LDAP result codes are permanent; network
// errors, busy, unavailable, time or admin limit exceeded are transient. The bind password
// never appears in errors.
package ldap

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/url"
	"strings"
	"time"

	goldap "github.com/go-ldap/ldap/v3"

	"breachd/respond"
	"breachd/retry"
)

// Config configures a Client.
type Config struct {
	URL          string      // ldaps://host:636 or ldap://host:389 (required)
	StartTLS     bool        // upgrade an ldap:// connection with StartTLS
	AllowPlain   bool        // permit ldap:// without StartTLS (tests, a local socket): the password travels in clear
	TLSConfig    *tls.Config // for ldaps:// and StartTLS; default: system roots, server name from URL
	BindDN       string      // the service account (required)
	BindPassword string      // required
	BaseDN       string      // where accounts live (required)
	// Filter finds the account's entry; %s is replaced by the escaped account name.
	// Default "(eduPersonPrincipalName=%s)".
	Filter string
	// Attribute and Value are what Deactivate sets (replace). Defaults pwdAccountLockedTime
	// and 000001010000Z. Reactivate deletes Attribute.
	Attribute string
	Value     string
	Timeout   time.Duration // per call when ctx has no deadline (default 30 s)
}

// Client is the LDAP adapter.
type Client struct {
	cfg Config
	tls *tls.Config
}

// New checks cfg and returns a Client.
func New(cfg Config) (*Client, error) {
	u, err := url.Parse(cfg.URL)
	if err != nil || (u.Scheme != "ldap" && u.Scheme != "ldaps") || u.Host == "" {
		return nil, fmt.Errorf("ldap: URL %q is not ldap:// or ldaps://", cfg.URL)
	}
	if u.Scheme == "ldap" && !cfg.StartTLS && !cfg.AllowPlain {
		return nil, errors.New("ldap: ldap:// without StartTLS sends the bind password in clear; set StartTLS, use ldaps://, or set AllowPlain")
	}
	if u.Scheme == "ldaps" && cfg.StartTLS {
		return nil, errors.New("ldap: StartTLS is for ldap://, not ldaps://")
	}
	if cfg.BindDN == "" || cfg.BindPassword == "" || cfg.BaseDN == "" {
		return nil, errors.New("ldap: BindDN, BindPassword and BaseDN are required")
	}
	if cfg.Filter == "" {
		cfg.Filter = "(eduPersonPrincipalName=%s)"
	}
	if strings.Count(cfg.Filter, "%s") != 1 || strings.Count(cfg.Filter, "%") != 1 {
		return nil, fmt.Errorf("ldap: filter %q must contain %%s exactly once and no other %%", cfg.Filter)
	}
	if _, err := goldap.CompileFilter(fmt.Sprintf(cfg.Filter, "x")); err != nil {
		return nil, fmt.Errorf("ldap: filter %q: %w", cfg.Filter, err)
	}
	if cfg.Attribute == "" {
		cfg.Attribute, cfg.Value = "pwdAccountLockedTime", "000001010000Z"
	}
	if cfg.Value == "" {
		return nil, fmt.Errorf("ldap: a value for attribute %s is required", cfg.Attribute)
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = 30 * time.Second
	}
	tc := cfg.TLSConfig
	if tc == nil {
		tc = &tls.Config{MinVersion: tls.VersionTLS12}
	}
	tc = tc.Clone()
	if tc.ServerName == "" {
		tc.ServerName = u.Hostname()
	}
	return &Client{cfg: cfg, tls: tc}, nil
}

// Name returns "ldap".
func (c *Client) Name() string { return "ldap" }

// Deactivate replaces the configured attribute with the disabled value.
func (c *Client) Deactivate(ctx context.Context, t respond.Target) error {
	return c.modify(ctx, t.Account, true)
}

// Reactivate deletes the configured attribute.
func (c *Client) Reactivate(ctx context.Context, t respond.Target) error {
	return c.modify(ctx, t.Account, false)
}

func (c *Client) modify(ctx context.Context, account string, disable bool) error {
	if account == "" {
		return retry.Permanent(errors.New("ldap: empty account"))
	}
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, c.cfg.Timeout)
		defer cancel()
	}
	deadline, _ := ctx.Deadline()
	conn, err := c.connect(ctx, time.Until(deadline))
	if err != nil {
		return err
	}
	defer conn.Close()
	stop := context.AfterFunc(ctx, func() { _ = conn.Close() })
	defer stop()

	sr, err := conn.Search(goldap.NewSearchRequest(c.cfg.BaseDN, goldap.ScopeWholeSubtree, goldap.NeverDerefAliases,
		2, int(max(time.Until(deadline)/time.Second, 1)), false,
		fmt.Sprintf(c.cfg.Filter, goldap.EscapeFilter(account)), []string{"1.1"}, nil))
	if goldap.IsErrorWithCode(err, goldap.LDAPResultSizeLimitExceeded) {
		return retry.Permanent(errors.New("ldap search: several entries match the account; refusing to guess"))
	}
	if err != nil {
		return classify("search", ctx, err)
	}
	switch n := len(sr.Entries); {
	case n == 0:
		return retry.Permanent(errors.New("ldap search: no entry matches the account"))
	case n > 1:
		return retry.Permanent(fmt.Errorf("ldap search: %d entries match the account; refusing to guess", n))
	}
	dn := sr.Entries[0].DN
	mr := goldap.NewModifyRequest(dn, nil)
	if disable {
		mr.Replace(c.cfg.Attribute, []string{c.cfg.Value})
	} else {
		mr.Delete(c.cfg.Attribute, nil)
	}
	if err := conn.Modify(mr); err != nil {
		if !disable && goldap.IsErrorWithCode(err, goldap.LDAPResultNoSuchAttribute) {
			return nil // already on
		}
		return classify("modify "+c.cfg.Attribute, ctx, err)
	}
	return nil
}

func (c *Client) connect(ctx context.Context, timeout time.Duration) (*goldap.Conn, error) {
	d := &net.Dialer{Timeout: timeout}
	conn, err := goldap.DialURL(c.cfg.URL, goldap.DialWithDialer(d), goldap.DialWithTLSConfig(c.tls))
	if err != nil {
		return nil, classify("connect", ctx, err)
	}
	conn.SetTimeout(timeout)
	if c.cfg.StartTLS {
		if err := conn.StartTLS(c.tls); err != nil {
			conn.Close()
			return nil, classify("StartTLS", ctx, err)
		}
	}
	if err := conn.Bind(c.cfg.BindDN, c.cfg.BindPassword); err != nil {
		conn.Close()
		return nil, classify("bind as "+c.cfg.BindDN, ctx, err)
	}
	return conn, nil
}

// transientCodes are the LDAP result codes worth retrying.
var transientCodes = []uint16{
	goldap.LDAPResultBusy, goldap.LDAPResultUnavailable, goldap.LDAPResultTimeLimitExceeded,
	goldap.LDAPResultAdminLimitExceeded, goldap.LDAPResultUnwillingToPerform, goldap.LDAPResultOther,
	goldap.LDAPResultLoopDetect, goldap.ErrorNetwork, goldap.LDAPResultTimeout,
}

func classify(what string, ctx context.Context, err error) error {
	err = fmt.Errorf("ldap %s: %w", what, err)
	if ctx.Err() != nil {
		return fmt.Errorf("%w (%w)", err, ctx.Err())
	}
	var le *goldap.Error
	if !errors.As(err, &le) || goldap.IsErrorAnyOf(err, transientCodes...) {
		return err
	}
	return retry.Permanent(err)
}
