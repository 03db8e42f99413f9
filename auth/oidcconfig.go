package auth

import (
	"errors"
	"fmt"
	"net/url"
	"os"
	"regexp"
	"slices"
	"strings"
	"time"

	"breachd/secretfile"
	"breachd/yamlx"
)

// OIDCConfig is the OpenID Connect file (YAML, decoded strictly): the provider, this client,
// and how the claims of a person's ID token map to breachd roles and organisations. Example
// for Feide:
//
//	issuer: https://auth.dataporten.no
//	client_id: 5f3c…
//	client_secret_file: /etc/breachd/feide-secret
//	scopes: [openid, userid-feide, groups-edu]
//	roles:
//	  - {claim: eduPersonEntitlement, value: "urn:mace:feide.no:breachd:soc", role: soc}
//	  - {claim: eduPersonEntitlement, value: "urn:mace:feide.no:breachd:org-admin", role: org-admin}
//	orgs:
//	  - {claim: eduPersonPrincipalName, pattern: "@(.+)$"}
//	name_claim: email
type OIDCConfig struct {
	Issuer           string   `yaml:"issuer"`
	ClientID         string   `yaml:"client_id"`
	ClientSecret     string   `yaml:"client_secret"`      // or ClientSecretFile; neither: a public client (PKCE only)
	ClientSecretFile string   `yaml:"client_secret_file"` // mode 0600
	RedirectURL      string   `yaml:"redirect_url"`       // default: the public URL + /auth/oidc/callback
	Scopes           []string `yaml:"scopes"`             // default: openid, email, profile (openid is always asked for)
	// Roles map claim values to roles: a person gets the role of every rule whose claim (a
	// string, or a list of strings) holds the value. A person mapped to no role cannot sign in.
	Roles []RoleRule `yaml:"roles"`
	// Orgs find a person's organisations (needed by org-admin and dpo): each rule takes the
	// values of its claim, matched against pattern when given (the first capture group, or
	// the whole match), in lower case.
	Orgs []OrgRule `yaml:"orgs"`
	// NameClaim is the claim of the name people read (default: email, then name); the
	// subject when the person has none.
	NameClaim string `yaml:"name_claim"`
	// SessionLifetime ends a session signed in through the provider this long after sign-in
	// (default 1h, at most the absolute timeout), so that roles or organisations the provider
	// withdrew stop applying then: the roles are read at sign-in. Signing in again is usually
	// a redirect without a prompt (the provider's own session).
	SessionLifetime time.Duration `yaml:"session_lifetime"`
}

// DefaultOIDCSessionLifetime is OIDCConfig.SessionLifetime's default.
const DefaultOIDCSessionLifetime = time.Hour

// RoleRule gives Role to a person whose Claim holds Value.
type RoleRule struct {
	Claim string `yaml:"claim"`
	Value string `yaml:"value"`
	Role  Role   `yaml:"role"`
}

// OrgRule takes organisations from Claim, through Pattern (a regular expression) if given.
type OrgRule struct {
	Claim   string `yaml:"claim"`
	Pattern string `yaml:"pattern"`
	re      *regexp.Regexp
}

// LoadOIDCConfig reads, defaults and checks the OIDC file; public is the server's public
// URL (for the default redirect URL; may be nil). Errors name the file, line and key.
func LoadOIDCConfig(file string, public *url.URL) (*OIDCConfig, error) {
	data, err := os.ReadFile(file)
	if err != nil {
		return nil, fmt.Errorf("oidc file: %w", err)
	}
	var c OIDCConfig
	doc, err := yamlx.Decode(file, data, &c)
	if err != nil {
		return nil, err
	}
	iss, err := url.Parse(c.Issuer)
	switch {
	case c.Issuer == "":
		return nil, doc.At(errors.New("give the provider's issuer URL"), "issuer")
	case err != nil || iss.Host == "" || !(iss.Scheme == "https" || iss.Scheme == "http" && loopback(iss.Hostname())):
		return nil, doc.At(fmt.Errorf("issuer %q: give an https URL", c.Issuer), "issuer")
	case c.ClientID == "":
		return nil, doc.At(errors.New("give the client_id the provider registered for breachd"), "client_id")
	case c.ClientSecret != "" && c.ClientSecretFile != "":
		return nil, doc.At(errors.New("give client_secret or client_secret_file, not both"), "client_secret_file")
	}
	if c.ClientSecret != "" {
		if fi, err := os.Stat(file); err == nil && fi.Mode().Perm()&0o077 != 0 {
			return nil, doc.At(fmt.Errorf("the file holds a secret but is open to group or others (mode %04o): chmod 600 %s, or use client_secret_file",
				uint32(fi.Mode().Perm()), file), "client_secret")
		}
	}
	if c.ClientSecretFile != "" {
		b, err := secretfile.Read(c.ClientSecretFile)
		if err != nil {
			return nil, doc.At(err, "client_secret_file")
		}
		c.ClientSecret = strings.TrimSpace(string(b))
	}
	if c.RedirectURL == "" {
		if public == nil {
			return nil, doc.At(errors.New("give redirect_url, or the server's public URL"), "redirect_url")
		}
		c.RedirectURL = strings.TrimSuffix(public.String(), "/") + "/auth/oidc/callback"
	} else if u, err := url.Parse(c.RedirectURL); err != nil || !u.IsAbs() {
		return nil, doc.At(fmt.Errorf("redirect_url %q: give an absolute URL", c.RedirectURL), "redirect_url")
	}
	if len(c.Scopes) == 0 {
		c.Scopes = []string{"openid", "email", "profile"}
	}
	switch {
	case c.SessionLifetime == 0:
		c.SessionLifetime = DefaultOIDCSessionLifetime
	case c.SessionLifetime < time.Minute:
		return nil, doc.At(fmt.Errorf("session_lifetime %s: give at least 1m", c.SessionLifetime), "session_lifetime")
	}
	if !slices.Contains(c.Scopes, "openid") {
		c.Scopes = append([]string{"openid"}, c.Scopes...)
	}
	if len(c.Roles) == 0 {
		return nil, doc.At(errors.New("map at least one claim value to a role: nobody could sign in"), "roles")
	}
	for i, r := range c.Roles {
		if r.Claim == "" || r.Value == "" {
			return nil, doc.At(errors.New("give claim and value"), "roles", i)
		}
		if _, err := ParseRole(string(r.Role)); err != nil {
			return nil, doc.At(err, "roles", i, "role")
		}
	}
	for i := range c.Orgs {
		o := &c.Orgs[i]
		if o.Claim == "" {
			return nil, doc.At(errors.New("give the claim"), "orgs", i)
		}
		if o.Pattern != "" {
			if o.re, err = regexp.Compile(o.Pattern); err != nil {
				return nil, doc.At(err, "orgs", i, "pattern")
			}
			if o.re.NumSubexp() > 1 {
				return nil, doc.At(errors.New("use at most one capture group: it is the organisation"), "orgs", i, "pattern")
			}
		}
	}
	return &c, nil
}

func loopback(host string) bool {
	return host == "localhost" || host == "127.0.0.1" || host == "::1"
}

// ErrNoRole is a person whose claims map to no role (or only to org-admin or dpo, without
// an organisation): they cannot sign in.
var ErrNoRole = errors.New("your account is not given any breachd role; ask your administrator for access")

// Principal maps the claims of a verified ID token (with the userinfo claims, if any) to
// a principal authenticated via. ErrNoRole when no role results.
func (c *OIDCConfig) Principal(claims map[string]any, via string) (*Principal, error) {
	sub, _ := claims["sub"].(string)
	if sub == "" {
		return nil, errors.New("the ID token has no subject")
	}
	p := &Principal{Issuer: c.Issuer, Subject: sub, Via: via, Roles: []Role{}, Orgs: []string{}}
	for _, o := range c.Orgs {
		for _, v := range claimValues(claims[o.Claim]) {
			if o.re != nil {
				m := o.re.FindStringSubmatch(v)
				if m == nil {
					continue
				}
				v = m[len(m)-1]
			}
			if v = strings.ToLower(strings.TrimSpace(v)); v != "" && !slices.Contains(p.Orgs, v) {
				p.Orgs = append(p.Orgs, v)
			}
		}
	}
	for _, r := range c.Roles {
		if slices.Contains(claimValues(claims[r.Claim]), r.Value) && !slices.Contains(p.Roles, r.Role) &&
			(len(p.Orgs) > 0 || r.Role != RoleOrgAdmin && r.Role != RoleDPO) {
			p.Roles = append(p.Roles, r.Role)
		}
	}
	if len(p.Roles) == 0 {
		return nil, ErrNoRole
	}
	names := []string{"email", "name"}
	if c.NameClaim != "" {
		names = []string{c.NameClaim}
	}
	p.Name = sub
	for _, n := range names {
		if v, _ := claims[n].(string); v != "" {
			p.Name = v
			break
		}
	}
	return p, nil
}

// claimValues is a claim that is a string or a list of strings, as a list.
func claimValues(v any) []string {
	switch v := v.(type) {
	case string:
		return []string{v}
	case []any:
		var out []string
		for _, e := range v {
			if s, ok := e.(string); ok {
				out = append(out, s)
			}
		}
		return out
	}
	return nil
}
