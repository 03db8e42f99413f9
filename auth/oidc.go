package auth

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"html"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	"github.com/nats-io/nats.go/jetstream"
	"golang.org/x/oauth2"
)

// oidcRP is breachd as an OpenID Connect relying party. It discovers the provider when it
// starts and, if the provider cannot be reached then, on the first use after
// rediscoverEvery: a server starts (and local users sign in) while the provider is down.
type oidcRP struct {
	cfg   *OIDCConfig
	clock func() time.Time

	mu      sync.Mutex
	disc    *discovered // nil until discovery succeeded
	lastErr error
	lastTry time.Time // wall clock
}

// discovered is the provider as discovery found it.
type discovered struct {
	provider *oidc.Provider
	verifier *oidc.IDTokenVerifier // audience: the client id; expiry against the service's clock
	oauth    oauth2.Config
}

// errProviderDown wraps a failed discovery: sign-in through the provider is unavailable (503).
var errProviderDown = errors.New("the identity provider cannot be reached")

const (
	rediscoverEvery  = 10 * time.Second
	discoveryTimeout = 10 * time.Second
)

// signInTimeout is how long a person has at the provider between /auth/oidc/login and the
// callback.
const signInTimeout = 10 * time.Minute

// stateCookie binds a sign-in's state to the browser that started it.
const stateCookie = "breachd_oidc"

// newOIDC reads the OIDC file (an error in it is New's error) and discovers the provider
// (a failure is logged, and discovery tried again when needed).
func newOIDC(ctx context.Context, file string, public *url.URL, clock func() time.Time, log *slog.Logger) (*oidcRP, error) {
	cfg, err := LoadOIDCConfig(file, public)
	if err != nil {
		return nil, err
	}
	o := &oidcRP{cfg: cfg, clock: clock}
	if _, err := o.ready(ctx); err != nil {
		log.Warn("OIDC sign-in is unavailable until the provider answers", "err", err)
	}
	return o, nil
}

// ready returns the discovered provider, discovering it if that has not been done (and not
// tried in the last rediscoverEvery); an error wrapping errProviderDown when it fails.
func (o *oidcRP) ready(ctx context.Context) (*discovered, error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.disc != nil {
		return o.disc, nil
	}
	if time.Since(o.lastTry) < rediscoverEvery {
		return nil, o.lastErr
	}
	o.lastTry = time.Now()
	dctx, cancel := context.WithTimeout(ctx, discoveryTimeout)
	defer cancel()
	// The provider keeps dctx's values (not its deadline) for fetching the signing keys.
	provider, err := oidc.NewProvider(dctx, o.cfg.Issuer)
	if err != nil {
		o.lastErr = fmt.Errorf("%w: discover %s: %w", errProviderDown, o.cfg.Issuer, err)
		return nil, o.lastErr
	}
	o.disc = &discovered{
		provider: provider,
		verifier: provider.Verifier(&oidc.Config{ClientID: o.cfg.ClientID, Now: o.clock}),
		oauth: oauth2.Config{ClientID: o.cfg.ClientID, ClientSecret: o.cfg.ClientSecret, Endpoint: provider.Endpoint(),
			RedirectURL: o.cfg.RedirectURL, Scopes: o.cfg.Scopes},
	}
	return o.disc, nil
}

// bearer verifies an ID token presented as a bearer token: this issuer, audience the client
// id, not expired, and — when it names other audiences too — issued to this client (azp), so
// a token another client obtained cannot act here.
func (o *oidcRP) bearer(ctx context.Context, raw string) (*Principal, error) {
	d, err := o.ready(ctx)
	if err != nil {
		return nil, err
	}
	idt, err := d.verifier.Verify(ctx, raw)
	if err != nil {
		return nil, err
	}
	var claims map[string]any
	if err := idt.Claims(&claims); err != nil {
		return nil, err
	}
	if azp, _ := claims["azp"].(string); len(idt.Audience) > 1 && azp != o.cfg.ClientID {
		return nil, fmt.Errorf("ID token issued to %q, not to this client", azp)
	}
	return o.cfg.Principal(claims, ViaBearer)
}

// pending is a sign-in between the redirect to the provider and the callback, stored under
// pendingKey(state).
type pending struct {
	Nonce    string    `json:"nonce"`
	Verifier string    `json:"verifier"` // PKCE
	Next     string    `json:"next"`
	Created  time.Time `json:"created"`
}

func pendingKey(state string) string {
	sum := sha256.Sum256([]byte(state))
	return "o." + hex.EncodeToString(sum[:])
}

// localPath reports whether next is a path on this server: no scheme, no host, no "//" or
// backslash (which browsers read as another host), no control characters.
func localPath(next string) bool {
	if !strings.HasPrefix(next, "/") || strings.HasPrefix(next, "//") || strings.ContainsAny(next, "\\") ||
		strings.ContainsFunc(next, func(r rune) bool { return r < ' ' || r == 0x7f }) {
		return false
	}
	u, err := url.Parse(next)
	return err == nil && u.Scheme == "" && u.Host == "" && u.User == nil
}

var errNoOIDC = &httpError{http.StatusNotFound, "not_found", "sign-in with OpenID Connect is not configured on this server"}

// oidcLogin starts a sign-in at the provider: GET /auth/oidc/login?next=/path.
func (s *Service) oidcLogin(w http.ResponseWriter, r *http.Request) {
	if s.oidc == nil {
		browserError(w, r, errNoOIDC.status, errNoOIDC.code, errNoOIDC.msg)
		return
	}
	next := r.URL.Query().Get("next")
	if next == "" {
		next = "/"
	}
	if !localPath(next) {
		browserError(w, r, http.StatusBadRequest, "bad_request", "next must be a path on this server, such as /incidents")
		return
	}
	if d := s.oidcStarts.take(clientIP(r), s.now()); d > 0 {
		w.Header().Set("Retry-After", retryAfter(d))
		browserError(w, r, http.StatusTooManyRequests, "rate_limited", "too many sign-ins started; try again later")
		return
	}
	d, err := s.oidc.ready(r.Context())
	if err != nil {
		s.log.Warn("oidc sign-in", "err", err)
		browserError(w, r, http.StatusServiceUnavailable, "unavailable", "the identity provider cannot be reached; try again shortly")
		return
	}
	state, verifier := randomText(32), oauth2.GenerateVerifier()
	p := pending{Nonce: randomText(32), Verifier: verifier, Next: next, Created: s.now()}
	b, _ := json.Marshal(p)
	if _, err := s.kv.Create(r.Context(), pendingKey(state), b); err != nil {
		s.log.Error("store the sign-in state", "err", err)
		browserError(w, r, http.StatusServiceUnavailable, "unavailable", "sign-in is unavailable; try again shortly")
		return
	}
	s.setCookie(w, r, stateCookie, state, "/auth/oidc/", int(signInTimeout/time.Second))
	http.Redirect(w, r, d.oauth.AuthCodeURL(state, oidc.Nonce(p.Nonce), oauth2.S256ChallengeOption(verifier)), http.StatusFound)
}

// oidcCallback finishes a sign-in: GET /auth/oidc/callback?code=…&state=…. It checks the
// state against the browser's cookie and the stored record (used once), exchanges the code
// with the PKCE verifier, verifies the ID token and its nonce, maps the claims, and starts
// a session; then it redirects to the next path of the login.
func (s *Service) oidcCallback(w http.ResponseWriter, r *http.Request) {
	if s.oidc == nil {
		browserError(w, r, errNoOIDC.status, errNoOIDC.code, errNoOIDC.msg)
		return
	}
	p, err := s.finishOIDC(r)
	var he *httpError
	switch {
	case errors.Is(err, ErrNoRole):
		s.metrics.signins.WithLabelValues("oidc", signinNoRole).Inc()
		browserError(w, r, http.StatusForbidden, "forbidden", ErrNoRole.Error())
		return
	case errors.As(err, &he):
		browserError(w, r, he.status, he.code, he.msg)
		return
	case errors.Is(err, errProviderDown):
		s.log.Warn("oidc sign-in", "err", err)
		browserError(w, r, http.StatusServiceUnavailable, "unavailable", "the identity provider cannot be reached; try again shortly")
		return
	case err != nil:
		s.metrics.signins.WithLabelValues("oidc", signinRefused).Inc()
		s.log.Warn("oidc sign-in failed", "err", err)
		browserError(w, r, http.StatusUnauthorized, "unauthenticated", "the sign-in at the identity provider failed; start again")
		return
	}
	s.setCookie(w, r, stateCookie, "", "/auth/oidc/", -1)
	s.signIn(w, r, "oidc", p.Principal, "", func(*session) { http.Redirect(w, r, p.next, http.StatusSeeOther) })
}

type finished struct {
	*Principal
	next string
}

var errStaleSignIn = &httpError{http.StatusBadRequest, "bad_request", "this sign-in expired or was started elsewhere; start again"}

func (s *Service) finishOIDC(r *http.Request) (*finished, error) {
	ctx := r.Context()
	q := r.URL.Query()
	if e := q.Get("error"); e != "" {
		return nil, fmt.Errorf("the provider answered %q", e)
	}
	state := q.Get("state")
	c, err := r.Cookie(stateCookie)
	if state == "" || err != nil || subtle.ConstantTimeCompare([]byte(c.Value), []byte(state)) != 1 {
		return nil, errStaleSignIn
	}
	key := pendingKey(state)
	e, err := s.kv.Get(ctx, key)
	if errors.Is(err, jetstream.ErrKeyNotFound) {
		return nil, errStaleSignIn
	}
	if err != nil {
		return nil, fmt.Errorf("read the sign-in state: %w", err)
	}
	// Used once: a second callback with the same state finds nothing.
	if err := s.kv.Delete(ctx, key, jetstream.LastRevision(e.Revision())); err != nil {
		return nil, errStaleSignIn
	}
	var pd pending
	if err := json.Unmarshal(e.Value(), &pd); err != nil || s.now().Sub(pd.Created) > signInTimeout {
		return nil, errStaleSignIn
	}
	d, err := s.oidc.ready(ctx)
	if err != nil {
		return nil, err
	}
	tok, err := d.oauth.Exchange(ctx, q.Get("code"), oauth2.VerifierOption(pd.Verifier))
	if err != nil {
		return nil, fmt.Errorf("exchange the code: %w", err)
	}
	raw, _ := tok.Extra("id_token").(string)
	if raw == "" {
		return nil, errors.New("the token response has no id_token")
	}
	idt, err := d.verifier.Verify(ctx, raw)
	if err != nil {
		return nil, fmt.Errorf("verify the ID token: %w", err)
	}
	if subtle.ConstantTimeCompare([]byte(idt.Nonce), []byte(pd.Nonce)) != 1 {
		return nil, errors.New("the ID token's nonce is not this sign-in's")
	}
	claims := map[string]any{}
	if err := idt.Claims(&claims); err != nil {
		return nil, err
	}
	// The userinfo endpoint often holds the claims the mapping needs (Feide's groups); the
	// ID token's own claims win.
	if ui, err := d.provider.UserInfo(ctx, oauth2.StaticTokenSource(tok)); err == nil && ui.Subject == idt.Subject {
		var more map[string]any
		if ui.Claims(&more) == nil {
			for k, v := range more {
				if _, ok := claims[k]; !ok {
					claims[k] = v
				}
			}
		}
	}
	p, err := s.oidc.cfg.Principal(claims, ViaSession)
	if err != nil {
		if errors.Is(err, ErrNoRole) {
			s.log.Info("oidc sign-in refused: no role", "subject", idt.Subject)
		}
		return nil, err
	}
	return &finished{Principal: p, next: pd.Next}, nil
}

// browserError answers an OIDC sign-in step, which is a browser's navigation: a small page
// saying what happened when the browser asks for HTML, else the API's JSON error.
func browserError(w http.ResponseWriter, r *http.Request, status int, code, msg string) {
	if !strings.Contains(r.Header.Get("Accept"), "text/html") {
		WriteError(w, status, code, msg)
		return
	}
	h := w.Header()
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Content-Security-Policy", "default-src 'none'")
	h.Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	fmt.Fprintf(w, "<!doctype html>\n<title>breachd: sign-in refused</title>\n<h1>Sign-in refused</h1>\n<p>%s</p>\n<p><a href=\"/\">Back to breachd</a></p>\n",
		html.EscapeString(msg))
}
