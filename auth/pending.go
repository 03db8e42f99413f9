// PENDING — engineer D's stand-in for engineer A's package auth (issue 12). It holds only the
// signatures deploy and cmd/breachd call, so that branch i12-wire compiles on its own.
// THE LEAD DELETES THIS FILE AT MERGE; A's files replace it. Nothing here authenticates.

package auth

import (
	"context"
	"log/slog"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// Config is A's auth.Config (preamble contract).
type Config struct {
	UsersFile                    string
	OIDCFile                     string
	Sessions                     jetstream.KeyValue
	PublicURL                    string
	IdleTimeout, AbsoluteTimeout time.Duration
	Log                          *slog.Logger
	Clock                        func() time.Time
}

// Service is A's auth.Service.
type Service struct{ oidc bool }

// New is A's auth.New.
func New(_ context.Context, cfg Config) (*Service, error) {
	return &Service{oidc: cfg.OIDCFile != ""}, nil
}

// SessionBucket is A's auth.SessionBucket: the stand-in opens or creates "sessions".
func SessionBucket(ctx context.Context, js jetstream.JetStream, replicas int) (jetstream.KeyValue, error) {
	return js.CreateOrUpdateKeyValue(ctx, jetstream.KeyValueConfig{Bucket: "sessions", TTL: 12 * time.Hour, Replicas: replicas})
}

// Methods is A's Service.Methods.
func (s *Service) Methods() []string {
	if s.oidc {
		return []string{"local", "oidc"}
	}
	return []string{"local"}
}

// EnsureAdmin is A's auth.EnsureAdmin: the stand-in creates nothing.
func EnsureAdmin(file, password string) (created bool, pw string, err error) {
	return false, "", nil
}
