package auth

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"runtime"
	"strings"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"
)

// Config configures a Service.
type Config struct {
	UsersFile string // local users and API tokens (JSON, 0600), reloaded when it changes
	// OIDCFile is the OpenID Connect provider and claims mapping (YAML, strict; see
	// OIDCConfig); "" = no OIDC.
	OIDCFile string
	// Sessions is the shared session store (SessionBucket), so any number of API servers
	// behind a load balancer share sessions.
	Sessions jetstream.KeyValue
	// Prefs is the shared store of people's console preferences (PrefsBucket).
	Prefs jetstream.KeyValue
	// PublicURL is the externally visible base URL: the OIDC redirect, Secure cookies when
	// https, and a trusted origin for cross-origin protection behind a proxy.
	PublicURL string
	// IdleTimeout and AbsoluteTimeout of sessions: defaults DefaultIdleTimeout and
	// DefaultAbsoluteTimeout.
	IdleTimeout, AbsoluteTimeout time.Duration
	Log                          *slog.Logger
	Clock                        func() time.Time      // nil: time.Now
	Registry                     prometheus.Registerer // sign-in and refusal counters; nil: none
}

// Service authenticates the requests of the HTTP API: API tokens, ID tokens of the OIDC
// provider, and browser sessions (with CSRF protection); and it serves sign-in and
// sign-out. It decides who is asking, never what they may do (that is Allowed and the API).
// It keeps no state of its own besides caches: sessions live in the shared bucket, users
// and tokens in the users file. Safe for concurrent use.
type Service struct {
	users          *Users
	oidc           *oidcRP // nil: no OIDC
	kv             jetstream.KeyValue
	prefs          jetstream.KeyValue
	secure         bool // Secure cookies whatever the request came over
	idle, absolute time.Duration
	log            *slog.Logger
	clock          func() time.Time
	cop            *http.CrossOriginProtection
	perIP, perUser *limiter // local sign-in attempts
	oidcStarts     *limiter // OIDC sign-ins started, per address (each stores a record)
	metrics        *metrics
	dummy          string        // a hash to verify unknown users' passwords against (comparable work)
	hashing        chan struct{} // slots for password verifications at once (one per core)
}

// New opens the users file and, when configured, reads the OIDC file and discovers the
// provider (a provider that cannot be reached is logged and discovered again when needed:
// until then OIDC sign-in answers 503). It checks that the session bucket keeps sessions
// for the absolute timeout.
func New(ctx context.Context, cfg Config) (*Service, error) {
	if cfg.UsersFile == "" {
		return nil, errors.New("auth: no users file given")
	}
	if cfg.Sessions == nil {
		return nil, errors.New("auth: no session bucket given (SessionBucket)")
	}
	if cfg.Prefs == nil {
		return nil, errors.New("auth: no preferences bucket given (PrefsBucket)")
	}
	s := &Service{kv: cfg.Sessions, prefs: cfg.Prefs, idle: cfg.IdleTimeout, absolute: cfg.AbsoluteTimeout, log: cfg.Log, clock: cfg.Clock,
		cop: http.NewCrossOriginProtection(), perIP: newLimiter(10, 10), perUser: newLimiter(5, 5), oidcStarts: newLimiter(20, 20),
		hashing: make(chan struct{}, runtime.NumCPU())}
	if s.idle <= 0 {
		s.idle = DefaultIdleTimeout
	}
	if s.absolute <= 0 {
		s.absolute = DefaultAbsoluteTimeout
	}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	s.log = s.log.With("component", "auth")
	if s.clock == nil {
		s.clock = time.Now
	}
	var err error
	if s.metrics, err = newMetrics(cfg.Registry); err != nil {
		return nil, fmt.Errorf("auth: metrics: %w", err)
	}
	st, err := cfg.Sessions.Status(ctx)
	if err != nil {
		return nil, fmt.Errorf("auth: session bucket: %w", err)
	}
	if ttl := st.TTL(); ttl > 0 && s.absolute > ttl {
		return nil, fmt.Errorf("auth: the session absolute timeout %s is longer than the TTL %s of bucket %s", s.absolute, ttl, st.Bucket())
	}
	var public *url.URL
	if cfg.PublicURL != "" {
		if public, err = url.Parse(cfg.PublicURL); err != nil || public.Host == "" || (public.Scheme != "http" && public.Scheme != "https") {
			return nil, fmt.Errorf("auth: public URL %q: give an absolute http or https URL", cfg.PublicURL)
		}
		s.secure = public.Scheme == "https"
		if err := s.cop.AddTrustedOrigin(public.Scheme + "://" + public.Host); err != nil {
			return nil, fmt.Errorf("auth: public URL %q: %w", cfg.PublicURL, err)
		}
	}
	s.cop.SetDenyHandler(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		WriteError(w, http.StatusForbidden, "csrf", "cross-origin request refused")
	}))
	if s.users, err = OpenUsers(cfg.UsersFile); err != nil {
		return nil, err
	}
	s.users.clock, s.users.log = s.clock, s.log
	if s.dummy, err = hashPassword(randomText(16)); err != nil {
		return nil, err
	}
	if cfg.OIDCFile != "" {
		if s.oidc, err = newOIDC(ctx, cfg.OIDCFile, public, s.clock, s.log); err != nil {
			return nil, err
		}
	}
	return s, nil
}

// Users is the users file the service authenticates against (for the admin API).
func (s *Service) Users() *Users { return s.users }

// Methods names the ways people sign in: "local", and "oidc" when configured.
func (s *Service) Methods() []string {
	if s.oidc != nil {
		return []string{"local", "oidc"}
	}
	return []string{"local"}
}

func (s *Service) now() time.Time { return s.clock() }

type csrfKey struct{}

// Authenticate passes requests with a valid credential on to next with their principal in
// the context (NewContext). Credentials, in this order: Authorization: Bearer bd_… (an API
// token), Authorization: Bearer <ID token of the OIDC provider>, the session cookie. A
// request without one, or with one that is invalid, expired, revoked or of a disabled user,
// is answered 401 "unauthenticated"; an ID token of a person the claims mapping gives no
// role, 403 "forbidden". A session-authenticated POST, PUT, PATCH or DELETE must
// carry the session's token in X-CSRF-Token, else 403 "csrf"; cross-origin browser requests
// that change something are refused (403 "csrf") whatever their credential.
func (s *Service) Authenticate(next http.Handler) http.Handler {
	return s.cop.Handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p, ss, err := s.authenticate(r)
		var he *httpError
		switch {
		case errors.As(err, &he):
			s.metrics.refused.WithLabelValues(credentialKind(r)).Inc()
			if he.status == http.StatusUnauthorized {
				w.Header().Set("WWW-Authenticate", `Bearer realm="breachd"`)
			}
			WriteError(w, he.status, he.code, he.msg)
			return
		case err != nil:
			s.log.Error("authenticate", "err", err)
			WriteError(w, http.StatusServiceUnavailable, "unavailable", "sign-in is unavailable; try again shortly")
			return
		}
		ctx := NewContext(r.Context(), p)
		if ss != nil {
			if unsafeMethod(r.Method) && !csrfOK(r, ss) {
				WriteError(w, http.StatusForbidden, "csrf", "missing or wrong X-CSRF-Token header (GET /api/me returns the token)")
				return
			}
			ctx = context.WithValue(ctx, csrfKey{}, ss.CSRF)
		}
		next.ServeHTTP(w, r.WithContext(ctx))
	}))
}

// Valid reports whether r's credential still authenticates, as Authenticate would decide now:
// false once its session ended (signed out, expired, the password changed), its token was
// revoked or expired, or its user was disabled. A long-lived response (the live incident
// stream) asks it now and then, so that it does not outlive its credential. A failing
// session store answers true: the credential is not known to be gone.
func (s *Service) Valid(r *http.Request) bool {
	_, _, err := s.authenticate(r)
	var he *httpError
	return !errors.As(err, &he)
}

// httpError is a refusal with its status and code.
type httpError struct {
	status    int
	code, msg string
}

func (e *httpError) Error() string { return e.msg }

var (
	errUnauthenticated = &httpError{http.StatusUnauthorized, "unauthenticated", "sign in, or give an API token (Authorization: Bearer …)"}
	errBadCredential   = &httpError{http.StatusUnauthorized, "unauthenticated", "the credential is invalid or expired"}
)

// authenticate returns r's principal and, when it came with a session, the session; an
// *httpError for a refusal; another error when the session store fails.
func (s *Service) authenticate(r *http.Request) (*Principal, *session, error) {
	if h := r.Header.Get("Authorization"); h != "" {
		scheme, cred, ok := strings.Cut(h, " ")
		cred = strings.TrimSpace(cred)
		if !ok || !strings.EqualFold(scheme, "Bearer") || cred == "" {
			return nil, nil, &httpError{http.StatusUnauthorized, "unauthenticated", "use Authorization: Bearer <token>"}
		}
		if strings.HasPrefix(cred, TokenPrefix) {
			if p := s.users.tokenPrincipal(cred, s.now()); p != nil {
				return p, nil, nil
			}
			return nil, nil, errBadCredential
		}
		if s.oidc == nil {
			return nil, nil, errBadCredential
		}
		p, err := s.oidc.bearer(r.Context(), cred)
		switch {
		case errors.Is(err, ErrNoRole):
			return nil, nil, &httpError{http.StatusForbidden, "forbidden", ErrNoRole.Error()}
		case errors.Is(err, errProviderDown):
			return nil, nil, err // 503
		}
		if err != nil {
			s.log.Debug("bearer token refused", "err", err)
			return nil, nil, errBadCredential
		}
		return p, nil, nil
	}
	c, err := r.Cookie(SessionCookie)
	if err != nil {
		return nil, nil, errUnauthenticated
	}
	ss, err := s.session(r.Context(), c.Value)
	switch {
	case errors.Is(err, errNoSession):
		return nil, nil, &httpError{http.StatusUnauthorized, "unauthenticated", "the session has ended; sign in again"}
	case err != nil:
		return nil, nil, err
	}
	return ss.Principal, ss, nil
}

// credentialKind is the kind of credential r carries, for the metrics.
func credentialKind(r *http.Request) string {
	h := r.Header.Get("Authorization")
	switch _, cred, _ := strings.Cut(h, " "); {
	case strings.HasPrefix(strings.TrimSpace(cred), TokenPrefix):
		return "token"
	case h != "":
		return "bearer"
	}
	if _, err := r.Cookie(SessionCookie); err == nil {
		return "session"
	}
	return "none"
}

func unsafeMethod(m string) bool {
	return m != http.MethodGet && m != http.MethodHead && m != http.MethodOptions
}
