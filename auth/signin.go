package auth

import (
	"errors"
	"net"
	"net/http"
	"net/netip"
	"slices"
	"strings"
	"time"
)

// Register adds the sign-in routes to mux: POST /auth/login, POST /auth/logout,
// GET /auth/oidc/login, GET /auth/oidc/callback, GET /auth/methods (public: how people may
// sign in, for the console's sign-in page), GET /api/me, and GET and PUT /api/me/prefs (the
// caller's console preferences; authenticated).
func (s *Service) Register(mux *http.ServeMux) {
	mux.HandleFunc("GET /auth/methods", func(w http.ResponseWriter, _ *http.Request) {
		writeJSON(w, http.StatusOK, map[string][]string{"methods": s.Methods()})
	})
	mux.Handle("POST /auth/login", s.cop.Handler(http.HandlerFunc(s.login)))
	mux.Handle("POST /auth/logout", s.cop.Handler(http.HandlerFunc(s.logout)))
	mux.HandleFunc("GET /auth/oidc/login", s.oidcLogin)
	mux.HandleFunc("GET /auth/oidc/callback", s.oidcCallback)
	mux.Handle("GET /api/me", s.Authenticate(http.HandlerFunc(s.me)))
	mux.Handle("GET /api/me/prefs", s.Authenticate(http.HandlerFunc(s.getPrefs)))
	mux.Handle("PUT /api/me/prefs", s.Authenticate(http.HandlerFunc(s.putPrefs)))
}

// Me is what GET /api/me and a sign-in answer.
type Me struct {
	Principal *Principal `json:"principal"`
	Actor     string     `json:"actor"`                // how the principal reads in timelines and the audit log
	Actions   []Action   `json:"actions"`              // what its roles allow (Allowed), sorted
	CSRFToken string     `json:"csrf_token,omitempty"` // when signed in with a session
	Methods   []string   `json:"methods"`
}

// meOf is what /api/me and a sign-in answer for p.
func (s *Service) meOf(p *Principal, csrf string) Me {
	actions := []Action{}
	for a := range Allowed {
		if p.May(a) {
			actions = append(actions, a)
		}
	}
	slices.Sort(actions)
	return Me{Principal: p, Actor: p.Actor(), Actions: actions, CSRFToken: csrf, Methods: s.Methods()}
}

func (s *Service) me(w http.ResponseWriter, r *http.Request) {
	csrf, _ := r.Context().Value(csrfKey{}).(string)
	writeJSON(w, http.StatusOK, s.meOf(FromContext(r.Context()), csrf))
}

// maxAuthBody bounds the body of a sign-in request.
const maxAuthBody = 16 << 10

func (s *Service) login(w http.ResponseWriter, r *http.Request) {
	var req struct {
		Username string `json:"username"`
		Password string `json:"password"`
	}
	if !decodeStrict(w, r, maxAuthBody, &req) {
		return
	}
	name := strings.ToLower(strings.TrimSpace(req.Username))
	if name == "" || req.Password == "" {
		WriteError(w, http.StatusBadRequest, "bad_request", "give username and password")
		return
	}
	if !userName.MatchString(name) { // no such user can exist: no bucket, no hash (the name format is public)
		s.metrics.signins.WithLabelValues("local", signinRefused).Inc()
		WriteError(w, http.StatusUnauthorized, "unauthenticated", "wrong user name or password")
		return
	}
	now := s.now()
	d := s.perIP.take(clientIP(r), now)
	if d <= 0 {
		d = s.perUser.take(name, now)
	}
	if d > 0 {
		s.metrics.signins.WithLabelValues("local", signinRateLimited).Inc()
		w.Header().Set("Retry-After", retryAfter(d))
		WriteError(w, http.StatusTooManyRequests, "rate_limited", "too many sign-in attempts; try again later")
		return
	}
	su := s.users.get(name)
	hash := s.dummy
	if su != nil {
		hash = su.Password
	}
	// argon2id takes 19 MiB and a core for tens of ms: at most one per core at once, whatever
	// the limits above let through; a sign-in waits a moment for a slot, then is told to retry.
	wait := time.NewTimer(2 * time.Second)
	defer wait.Stop()
	select {
	case s.hashing <- struct{}{}:
	case <-wait.C:
		w.Header().Set("Retry-After", "1")
		WriteError(w, http.StatusServiceUnavailable, "unavailable", "too many sign-ins at once; try again in a second")
		return
	case <-r.Context().Done():
		return
	}
	ok, err := verifyPassword(hash, req.Password)
	<-s.hashing
	if err != nil {
		s.log.Error("verify password: the users file holds a damaged hash", "user", name, "err", err)
	}
	if !ok || su == nil || su.Disabled {
		s.log.Info("sign-in refused", "user", name)
		s.metrics.signins.WithLabelValues("local", signinRefused).Inc()
		WriteError(w, http.StatusUnauthorized, "unauthenticated", "wrong user name or password")
		return
	}
	s.signIn(w, r, "local", su.principal(ViaSession), su.credential(), func(ss *session) {
		writeJSON(w, http.StatusOK, s.meOf(ss.Principal, ss.CSRF))
	})
}

// signIn starts a session for p, signed in by method, (ending the one r came with, if any), sets the cookie and
// calls done; on a failure of the session store it answers 503.
func (s *Service) signIn(w http.ResponseWriter, r *http.Request, method string, p *Principal, credential string, done func(*session)) {
	if c, err := r.Cookie(SessionCookie); err == nil {
		if err := s.endSession(r.Context(), c.Value); err != nil {
			s.log.Warn("end the previous session", "err", err)
		}
	}
	id, ss, err := s.newSession(r.Context(), p, credential)
	if err != nil {
		s.log.Error("sign in", "err", err)
		WriteError(w, http.StatusServiceUnavailable, "unavailable", "sign-in is unavailable; try again shortly")
		return
	}
	s.log.Info("signed in", "issuer", p.Issuer, "subject", p.Subject)
	s.metrics.signins.WithLabelValues(method, signinOK).Inc()
	s.setCookie(w, r, SessionCookie, id, "/", int(s.absolute/time.Second))
	done(ss)
}

func (s *Service) logout(w http.ResponseWriter, r *http.Request) {
	c, err := r.Cookie(SessionCookie)
	if err == nil {
		ss, err := s.session(r.Context(), c.Value)
		switch {
		case err == nil && !csrfOK(r, ss):
			WriteError(w, http.StatusForbidden, "csrf", "missing or wrong X-CSRF-Token header")
			return
		case err == nil:
			if err := s.endSession(r.Context(), c.Value); err != nil {
				s.log.Error("sign out", "err", err)
				WriteError(w, http.StatusServiceUnavailable, "unavailable", "sign-out failed; try again shortly")
				return
			}
		case !errors.Is(err, errNoSession):
			s.log.Error("sign out", "err", err)
			WriteError(w, http.StatusServiceUnavailable, "unavailable", "sign-out failed; try again shortly")
			return
		}
	}
	s.setCookie(w, r, SessionCookie, "", "/", -1)
	w.WriteHeader(http.StatusNoContent)
}

// clientIP is the address the request came from (a proxy's X-Forwarded-For is not trusted:
// it would let a client choose its own rate-limit bucket).
func clientIP(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	if a, err := netip.ParseAddr(host); err == nil && a.Is6() && !a.Is4In6() {
		p, _ := a.Prefix(64) // one holder of a /64 has all its addresses: one bucket
		return p.String()
	}
	return host
}
