package auth

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// Session settings.
const (
	SessionCookie          = "breachd_session"
	BucketSessions         = "sessions"
	DefaultIdleTimeout     = 30 * time.Minute
	DefaultAbsoluteTimeout = 12 * time.Hour
	// lastSeenEvery is how stale a session's last-seen time may get before a request writes it.
	lastSeenEvery = time.Minute
)

// SessionBucket creates or opens the KV bucket of sessions (BucketSessions) with a TTL of
// DefaultAbsoluteTimeout: a session nobody signs out of is dropped by the server after its
// last write plus that. Service checks the timeouts itself on every request; a Config with
// a longer AbsoluteTimeout than the bucket's TTL is refused by New.
func SessionBucket(ctx context.Context, js jetstream.JetStream, replicas int) (jetstream.KeyValue, error) {
	kv, err := js.CreateOrUpdateKeyValue(ctx, jetstream.KeyValueConfig{
		Bucket:      BucketSessions,
		Description: "breachd sign-in sessions (keys: SHA-256 of the cookie) and OIDC sign-in state",
		History:     1,
		TTL:         DefaultAbsoluteTimeout,
		Storage:     jetstream.FileStorage,
		Replicas:    max(replicas, 1),
	})
	if err != nil {
		return nil, fmt.Errorf("ensure bucket %s: %w", BucketSessions, err)
	}
	return kv, nil
}

// session is a signed-in browser's record in the bucket, under sessionKey(cookie).
type session struct {
	Principal *Principal `json:"principal"`
	Created   time.Time  `json:"created"`
	LastSeen  time.Time  `json:"last_seen"`
	CSRF      string     `json:"csrf"`
	// Credential is a local user's password at sign-in (storedUser.credential).
	Credential string `json:"credential,omitempty"`
	// Ends is when a session signed in through the provider ends (OIDCConfig.SessionLifetime):
	// its roles were read at sign-in. Zero for a local user (checked on every request).
	Ends time.Time `json:"ends,omitzero"`
}

// sessionKey is the bucket key of the session whose cookie value is id: a hash, so the
// bucket's contents do not yield cookies.
func sessionKey(id string) string {
	sum := sha256.Sum256([]byte(id))
	return "s." + hex.EncodeToString(sum[:])
}

// newSession stores a session for p (with credential, for a local user) and returns the
// cookie value and the session.
func (s *Service) newSession(ctx context.Context, p *Principal, credential string) (string, *session, error) {
	id := randomText(32) // 256 bits
	now := s.now()
	ss := &session{Principal: p, Created: now, LastSeen: now, CSRF: randomText(32), Credential: credential}
	if p.Issuer != IssuerLocal && s.oidc != nil {
		ss.Ends = now.Add(s.oidc.cfg.SessionLifetime)
	}
	b, err := json.Marshal(ss)
	if err != nil {
		return "", nil, err
	}
	if _, err := s.kv.Create(ctx, sessionKey(id), b); err != nil {
		return "", nil, fmt.Errorf("store session: %w", err)
	}
	return id, ss, nil
}

// errNoSession is a missing, forged, expired or revoked session (401 without detail).
var errNoSession = errors.New("no valid session")

// session returns the live session of cookie value id, refreshing its last-seen time when
// it is older than lastSeenEvery, and for a local user their current roles and
// organisations (a disabled or removed user, or one whose password changed, has no session). Anything else is errNoSession,
// or an error of the bucket.
func (s *Service) session(ctx context.Context, id string) (*session, error) {
	if len(id) != base64.RawURLEncoding.EncodedLen(32) {
		return nil, errNoSession
	}
	key := sessionKey(id)
	e, err := s.kv.Get(ctx, key)
	if errors.Is(err, jetstream.ErrKeyNotFound) {
		return nil, errNoSession
	}
	if err != nil {
		return nil, fmt.Errorf("read session: %w", err)
	}
	var ss session
	if err := json.Unmarshal(e.Value(), &ss); err != nil || ss.Principal == nil {
		return nil, errNoSession
	}
	now := s.now()
	if now.Sub(ss.Created) >= s.absolute || now.Sub(ss.LastSeen) >= s.idle || !ss.Ends.IsZero() && !now.Before(ss.Ends) {
		s.kv.Delete(ctx, key)
		return nil, errNoSession
	}
	if ss.Principal.Issuer == IssuerLocal {
		su := s.users.active(ss.Principal.Subject)
		if su == nil || su.credential() != ss.Credential {
			s.kv.Delete(ctx, key)
			return nil, errNoSession
		}
		ss.Principal = su.principal(ViaSession)
	}
	if now.Sub(ss.LastSeen) >= lastSeenEvery {
		ss.LastSeen = now
		if b, err := json.Marshal(&ss); err == nil {
			// A concurrent request may have written it first: either write will do.
			if _, err := s.kv.Update(ctx, key, b, e.Revision()); err != nil && !errors.Is(err, jetstream.ErrKeyRevisionMismatch) {
				s.log.Warn("refresh session", "err", err)
			}
		}
	}
	return &ss, nil
}

// endSession deletes the session of cookie value id (no error when there is none).
func (s *Service) endSession(ctx context.Context, id string) error {
	if err := s.kv.Delete(ctx, sessionKey(id)); err != nil && !errors.Is(err, jetstream.ErrKeyNotFound) {
		return fmt.Errorf("delete session: %w", err)
	}
	return nil
}

// setCookie sets the session cookie (value "" and maxAge < 0 removes it).
func (s *Service) setCookie(w http.ResponseWriter, r *http.Request, name, value, path string, maxAge int) {
	http.SetCookie(w, &http.Cookie{
		Name: name, Value: value, Path: path, MaxAge: maxAge,
		HttpOnly: true, SameSite: http.SameSiteLaxMode, Secure: s.secure || r.TLS != nil,
	})
}

// csrfOK reports whether r carries ss's CSRF token in X-CSRF-Token.
func csrfOK(r *http.Request, ss *session) bool {
	got := r.Header.Get("X-CSRF-Token")
	return got != "" && subtle.ConstantTimeCompare([]byte(got), []byte(ss.CSRF)) == 1
}
