package bus

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"os"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"golang.org/x/crypto/bcrypt"
)

// Credential is a user name and password on a NATS server. Its password is a secret: never
// log it or put it in an error.
type Credential struct {
	User     string `json:"user"`
	Password string `json:"password"`
}

// Options returns the nats.go options that log in as c, with reply subjects under
// InboxPrefix(c.User), so that a user may be allowed to subscribe to its own replies only.
// The zero Credential returns nil: no login, default inboxes.
func (c Credential) Options() []nats.Option {
	if c.User == "" {
		return nil
	}
	return []nats.Option{nats.UserInfo(c.User, c.Password), nats.CustomInboxPrefix(InboxPrefix(c.User))}
}

// InboxPrefix is the prefix of the reply subjects of user on the embedded server: "_INBOX_<user>".
func InboxPrefix(user string) string { return "_INBOX_" + user }

// passwordBytes is the entropy of a generated password: 192 bits.
const passwordBytes = 24

// NewCredential returns user with a random password (crypto/rand, hex).
func NewCredential(user string) (Credential, error) {
	b := make([]byte, passwordBytes)
	if _, err := rand.Read(b); err != nil {
		return Credential{}, fmt.Errorf("no randomness for the nats password of %s: %w", user, err)
	}
	return Credential{User: user, Password: hex.EncodeToString(b)}, nil
}

// Subjects are the subjects a user may publish or subscribe to: those matching an Allow
// pattern and no Deny pattern (NATS wildcards * and >).
type Subjects struct {
	Allow []string `json:"allow"`
	Deny  []string `json:"deny,omitempty"`
}

// User is a user of the embedded server and what it may do. Only an Admin user is unrestricted;
// any other user with an empty Allow list may do nothing of that kind.
type User struct {
	Credential
	Admin     bool
	Publish   Subjects
	Subscribe Subjects
}

// serverUsers converts users for server.Options.Users. The server gets bcrypt hashes, never
// the passwords themselves (minimum cost: the passwords are random, so the hash only keeps the
// password out of the server's memory and monitoring, not slows guessing).
func serverUsers(users []User) ([]*server.User, error) {
	if len(users) == 0 {
		return nil, nil // a non-nil empty list would make the server refuse everybody
	}
	out := make([]*server.User, 0, len(users))
	seen := map[string]bool{}
	for _, u := range users {
		if u.User == "" || len(u.Password) < 16 {
			return nil, fmt.Errorf("nats user %q: want a name and a password of at least 16 characters", u.User)
		}
		if seen[u.User] {
			return nil, fmt.Errorf("nats user %q given twice", u.User)
		}
		seen[u.User] = true
		hash, err := bcrypt.GenerateFromPassword([]byte(u.Password), bcrypt.MinCost)
		if err != nil {
			return nil, fmt.Errorf("nats user %q: hash password: %w", u.User, err)
		}
		su := &server.User{Username: u.User, Password: string(hash)}
		if !u.Admin {
			if len(u.Publish.Allow) == 0 && len(u.Subscribe.Allow) == 0 {
				return nil, fmt.Errorf("nats user %q: no allowed subjects (set Admin for an unrestricted user)", u.User)
			}
			su.Permissions = &server.Permissions{Publish: permission(u.Publish), Subscribe: permission(u.Subscribe)}
		}
		out = append(out, su)
	}
	return out, nil
}

// permission converts s, denying everything when nothing is allowed (NATS itself would read
// an empty allow list as "everything").
func permission(s Subjects) *server.SubjectPermission {
	if len(s.Allow) == 0 {
		return &server.SubjectPermission{Deny: []string{">"}}
	}
	return &server.SubjectPermission{Allow: s.Allow, Deny: s.Deny}
}

// CredsFile returns the nats.go option that authenticates with a NATS .creds file (a user JWT
// and its nkey seed, as `nsc` writes them), after checking that the file can be read. A file
// that group or others may read is accepted with a warning on log: its seed is a secret.
func CredsFile(path string, warn func(msg string, args ...any)) (nats.Option, error) {
	if path == "" {
		return nil, errors.New("nats creds file: empty path")
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("nats creds file: %w", err)
	}
	st, err := f.Stat()
	_ = f.Close()
	if err != nil {
		return nil, fmt.Errorf("nats creds file: %w", err)
	}
	if st.Mode().Perm()&0o077 != 0 && warn != nil {
		warn("nats creds file is readable by group or others: chmod 600 it", "path", path, "mode", fmt.Sprintf("%04o", st.Mode().Perm()))
	}
	return nats.UserCredentials(path), nil
}

// CredsLogin returns the login options for a NATS .creds file (CredsFile), or none when path
// is empty: then the URL's own user:password@, if any, is the login.
func CredsLogin(path string, warn func(msg string, args ...any)) ([]nats.Option, error) {
	if path == "" {
		return nil, nil
	}
	opt, err := CredsFile(path, warn)
	if err != nil {
		return nil, err
	}
	return []nats.Option{opt}, nil
}
