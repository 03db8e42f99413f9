package auth

import (
	"bytes"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"breachd/secretfile"
)

// Errors of the users file that callers branch on (the API: 404 and 409).
var (
	ErrNotFound = errors.New("not found")
	ErrExists   = errors.New("already exists")
)

// Token lifetimes.
const (
	DefaultTokenTTL = 90 * 24 * time.Hour
	MaxTokenTTL     = 366 * 24 * time.Hour
)

// TokenPrefix starts every breachd API token: bd_<id>_<secret>.
const TokenPrefix = "bd_"

// UserInfo is a local user as List shows it: never the password hash.
type UserInfo struct {
	Name     string    `json:"name"`
	Roles    []Role    `json:"roles"`
	Orgs     []string  `json:"orgs,omitempty"`
	Disabled bool      `json:"disabled"`
	Created  time.Time `json:"created"`
}

// TokenInfo is an API token as Tokens shows it: never the secret or its hash.
type TokenInfo struct {
	ID      string    `json:"id"`
	User    string    `json:"user"`
	Label   string    `json:"label"`
	Created time.Time `json:"created"`
	Expires time.Time `json:"expires"`
	Revoked bool      `json:"revoked"`
}

type storedUser struct {
	UserInfo
	Password string `json:"password"` // argon2id, PHC string
}

type storedToken struct {
	TokenInfo
	Hash string `json:"sha256"` // hex SHA-256 of the secret
}

// usersData is the users file.
type usersData struct {
	Users  []storedUser  `json:"users"`
	Tokens []storedToken `json:"tokens"`
}

func (d *usersData) user(name string) *storedUser {
	for i := range d.Users {
		if d.Users[i].Name == name {
			return &d.Users[i]
		}
	}
	return nil
}

// Users is the local users and API tokens in one JSON file (mode 0600). Every change takes
// an exclusive lock on FILE.lock, reads the file afresh, and replaces it atomically (temporary
// file and rename), so `breachd users …` and any number of running servers share it. Readers
// (sign-in, tokens, sessions) see a cached copy that is checked against the file (one stat) on
// every read: a user disabled or a token revoked by another process is refused at the next
// request. Users is safe for concurrent use.
type Users struct {
	file  string
	clock func() time.Time
	log   *slog.Logger // a file that cannot be reloaded

	mu    sync.Mutex
	data  usersData
	stamp os.FileInfo // of the file data was read from; nil: no file yet
}

// OpenUsers opens the users file (which need not exist yet: it is created by the first
// change). A file readable by group or others is refused with an error saying how to fix it.
func OpenUsers(file string) (*Users, error) {
	u := &Users{file: file, clock: time.Now, log: slog.New(slog.DiscardHandler)}
	if err := u.load(); err != nil {
		return nil, err
	}
	return u, nil
}

// load reads the file into u (u.mu held or u not shared yet).
func (u *Users) load() error {
	d, fi, err := readUsers(u.file)
	if err != nil {
		return err
	}
	u.data, u.stamp = d, fi
	return nil
}

// readUsers reads and decodes file; a missing file is an empty one (nil FileInfo).
func readUsers(file string) (usersData, os.FileInfo, error) {
	var d usersData
	fi, err := os.Stat(file)
	if errors.Is(err, fs.ErrNotExist) {
		return d, nil, nil
	}
	if err != nil {
		return d, nil, fmt.Errorf("users file: %w", err)
	}
	b, err := secretfile.Read(file)
	if err != nil {
		return d, nil, fmt.Errorf("users file: %w", err)
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&d); err != nil {
		return d, nil, fmt.Errorf("users file %s: %w (restore it from a backup or remove it to start afresh)", file, err)
	}
	return d, fi, nil
}

// snapshot returns the current data, re-reading the file when it changed since it was read
// (checked on every call). A changed file that cannot be read keeps the last good
// copy, logged once per change.
func (u *Users) snapshot() usersData {
	u.mu.Lock()
	defer u.mu.Unlock()
	// One stat per call (a microsecond): a change made by another process (breachd users: a
	// new file renamed into place) applies at the next request, a revocation included.
	fi, err := os.Stat(u.file)
	changed := (err == nil) != (u.stamp != nil) ||
		err == nil && (!os.SameFile(fi, u.stamp) || !fi.ModTime().Equal(u.stamp.ModTime()) || fi.Size() != u.stamp.Size())
	if changed {
		d, rfi, rerr := readUsers(u.file)
		switch {
		case rerr == nil:
			u.data, u.stamp = d, rfi
		default: // fail closed: a change we cannot read may be a revocation
			u.log.Error("reload the users file: it changed but cannot be read, so no local user or API token is accepted until it can", "err", rerr)
			u.data, u.stamp = usersData{}, fi // not again until it changes
		}
	}
	return u.data
}

// change applies fn to the file's current contents under the lock and writes the result
// (creating the file's directory if need be).
func (u *Users) change(fn func(d *usersData) error) error {
	if err := os.MkdirAll(filepath.Dir(u.file), 0o700); err != nil {
		return fmt.Errorf("users file: %w", err)
	}
	lock, err := os.OpenFile(u.file+".lock", os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return fmt.Errorf("lock users file: %w", err)
	}
	defer lock.Close()
	if err := unix.Flock(int(lock.Fd()), unix.LOCK_EX); err != nil {
		return fmt.Errorf("lock users file %s: %w", u.file, err)
	}
	defer unix.Flock(int(lock.Fd()), unix.LOCK_UN)

	u.mu.Lock()
	defer u.mu.Unlock()
	if err := u.load(); err != nil {
		return err
	}
	d := u.data
	d.Users, d.Tokens = slices.Clone(d.Users), slices.Clone(d.Tokens)
	if err := fn(&d); err != nil {
		return err
	}
	if err := writeAtomic(u.file, d); err != nil {
		return err
	}
	return u.load()
}

// tokenKeep is how long an expired or revoked token stays in the file (for `users tokens`)
// before a change of the file drops it.
const tokenKeep = 30 * 24 * time.Hour

// writeAtomic writes d to file through a temporary file in the same directory and a rename,
// owned like the file it replaces (a change made as root must stay readable by the server's
// user), after dropping tokens expired or revoked more than tokenKeep ago; a file the readers
// would refuse (larger than secretfile.MaxSize) is not written.
func writeAtomic(file string, d usersData) error {
	cutoff := time.Now().Add(-tokenKeep)
	d.Tokens = slices.DeleteFunc(slices.Clone(d.Tokens), func(t storedToken) bool {
		return t.Expires.Before(cutoff) || t.Revoked && t.Created.Before(cutoff)
	})
	b, err := json.MarshalIndent(d, "", "  ")
	if err != nil {
		return err
	}
	if len(b) >= secretfile.MaxSize {
		return fmt.Errorf("write users file: it would be %d bytes, more than the %d a users file may have (revoke unused tokens)", len(b), secretfile.MaxSize)
	}
	dir := filepath.Dir(file)
	tmp, err := os.CreateTemp(dir, "."+filepath.Base(file)+".*.tmp")
	if err != nil {
		return fmt.Errorf("write users file: %w", err)
	}
	defer os.Remove(tmp.Name()) // after the rename, a no-op
	if err := tmp.Chmod(0o600); err != nil {
		tmp.Close()
		return err
	}
	if err := sameOwner(tmp, file); err != nil {
		tmp.Close()
		return fmt.Errorf("write users file: %w", err)
	}
	if _, err := tmp.Write(append(b, '\n')); err != nil {
		tmp.Close()
		return fmt.Errorf("write users file: %w", err)
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return fmt.Errorf("write users file: %w", err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("write users file: %w", err)
	}
	if err := os.Rename(tmp.Name(), file); err != nil {
		return fmt.Errorf("write users file: %w", err)
	}
	if df, err := os.Open(dir); err == nil {
		df.Sync()
		df.Close()
	}
	return nil
}

var userName = regexp.MustCompile(`^[a-z0-9][a-z0-9._@-]{0,63}$`)

// checkUser checks a new user's name, roles and organisations.
func checkUser(name string, roles []Role, orgs []string) error {
	if !userName.MatchString(name) {
		return fmt.Errorf("user name %q: use 1–64 lower-case letters, digits and . _ @ - (starting with a letter or digit)", name)
	}
	if len(roles) == 0 {
		return fmt.Errorf("user %s: give at least one role", name)
	}
	for _, r := range roles {
		if _, err := ParseRole(string(r)); err != nil {
			return fmt.Errorf("user %s: %w", name, err)
		}
	}
	for _, o := range orgs {
		if o == "" || strings.ContainsFunc(o, func(r rune) bool { return r <= ' ' || r == '/' }) || strings.ToLower(o) != o {
			return fmt.Errorf("user %s: organisation %q: give the organisation's realm in lower case, e.g. bergen.kommune.no", name, o)
		}
	}
	if len(orgs) == 0 && (slices.Contains(roles, RoleOrgAdmin) || slices.Contains(roles, RoleDPO)) {
		return fmt.Errorf("user %s: roles org-admin and dpo need the user's organisations (--org)", name)
	}
	return nil
}

// Add creates a user with roles, organisations (required for org-admin and dpo) and a
// password of at least MinPasswordLength characters. An existing name is an error wrapping
// ErrExists.
func (u *Users) Add(name string, roles []Role, orgs []string, password string) error {
	if err := checkUser(name, roles, orgs); err != nil {
		return err
	}
	hash, err := hashPassword(password)
	if err != nil {
		return err
	}
	return u.change(func(d *usersData) error {
		if d.user(name) != nil {
			return fmt.Errorf("user %s: %w", name, ErrExists)
		}
		d.Users = append(d.Users, storedUser{
			UserInfo: UserInfo{Name: name, Roles: slices.Clone(roles), Orgs: slices.Clone(orgs), Created: u.clock().UTC()},
			Password: hash,
		})
		return nil
	})
}

// SetPassword sets the password of user name (ErrNotFound if there is none).
func (u *Users) SetPassword(name, password string) error {
	hash, err := hashPassword(password)
	if err != nil {
		return err
	}
	return u.change(func(d *usersData) error {
		su := d.user(name)
		if su == nil {
			return fmt.Errorf("user %s: %w", name, ErrNotFound)
		}
		su.Password = hash
		return nil
	})
}

// Disable disables user name: their sign-in, sessions and API tokens stop working. There is
// no undo short of editing the file; add a new user instead.
func (u *Users) Disable(name string) error {
	return u.change(func(d *usersData) error {
		su := d.user(name)
		if su == nil {
			return fmt.Errorf("user %s: %w", name, ErrNotFound)
		}
		su.Disabled = true
		return nil
	})
}

// List returns the users, without their hashes.
func (u *Users) List() []UserInfo {
	d := u.snapshot()
	out := make([]UserInfo, len(d.Users))
	for i, su := range d.Users {
		out[i] = su.UserInfo
	}
	return out
}

// IssueToken creates an API token for user name, valid for ttl (0: DefaultTokenTTL; at most
// MaxTokenTTL). The token is returned once; the file keeps only the SHA-256 of its secret.
func (u *Users) IssueToken(name, label string, ttl time.Duration) (string, TokenInfo, error) {
	switch {
	case ttl == 0:
		ttl = DefaultTokenTTL
	case ttl < time.Second || ttl > MaxTokenTTL:
		return "", TokenInfo{}, fmt.Errorf("token lifetime %s: give one between 1 second and %d days", ttl, MaxTokenTTL/(24*time.Hour))
	}
	idb := make([]byte, 8)
	rand.Read(idb)
	id := hex.EncodeToString(idb)
	secret := randomText(32)
	sum := sha256.Sum256([]byte(secret))
	now := u.clock().UTC()
	info := TokenInfo{ID: id, User: name, Label: strings.TrimSpace(label), Created: now, Expires: now.Add(ttl)}
	err := u.change(func(d *usersData) error {
		su := d.user(name)
		switch {
		case su == nil:
			return fmt.Errorf("user %s: %w", name, ErrNotFound)
		case su.Disabled:
			return fmt.Errorf("user %s is disabled: no tokens for it", name)
		}
		d.Tokens = append(d.Tokens, storedToken{TokenInfo: info, Hash: hex.EncodeToString(sum[:])})
		return nil
	})
	if err != nil {
		return "", TokenInfo{}, err
	}
	return TokenPrefix + id + "_" + secret, info, nil
}

// RevokeToken revokes the token id (ErrNotFound if there is none); it stops working at the
// next request, here and in other processes.
func (u *Users) RevokeToken(id string) error {
	return u.change(func(d *usersData) error {
		for i := range d.Tokens {
			if d.Tokens[i].ID == id {
				d.Tokens[i].Revoked = true
				return nil
			}
		}
		return fmt.Errorf("token %s: %w", id, ErrNotFound)
	})
}

// Tokens returns every token, without secrets.
func (u *Users) Tokens() []TokenInfo {
	d := u.snapshot()
	out := make([]TokenInfo, len(d.Tokens))
	for i, t := range d.Tokens {
		out[i] = t.TokenInfo
	}
	return out
}

// get returns user name, disabled or not, or nil.
func (u *Users) get(name string) *storedUser {
	d := u.snapshot()
	return d.user(name)
}

// active returns the enabled user name, or nil.
func (u *Users) active(name string) *storedUser {
	su := u.get(name)
	if su == nil || su.Disabled {
		return nil
	}
	return su
}

// credential identifies su's current password (a digest of its hash): a session started
// with another ends when the password is changed.
func (su *storedUser) credential() string {
	sum := sha256.Sum256([]byte(su.Password))
	return hex.EncodeToString(sum[:8])
}

// principal is the principal of local user su, authenticated via.
func (su *storedUser) principal(via string) *Principal {
	return &Principal{Issuer: IssuerLocal, Subject: su.Name, Name: su.Name,
		Roles: append([]Role{}, su.Roles...), Orgs: append([]string{}, su.Orgs...), Via: via}
}

// tokenPrincipal returns the principal of API token tok at now: nil when it is malformed,
// unknown, revoked, expired, or of a disabled user.
func (u *Users) tokenPrincipal(tok string, now time.Time) *Principal {
	id, secret, ok := strings.Cut(strings.TrimPrefix(tok, TokenPrefix), "_")
	if !ok || !strings.HasPrefix(tok, TokenPrefix) {
		return nil
	}
	d := u.snapshot()
	i := slices.IndexFunc(d.Tokens, func(t storedToken) bool { return t.ID == id })
	if i < 0 {
		return nil
	}
	t := d.Tokens[i]
	want, err := hex.DecodeString(t.Hash)
	sum := sha256.Sum256([]byte(secret))
	if err != nil || subtle.ConstantTimeCompare(sum[:], want) != 1 || t.Revoked || !now.Before(t.Expires) {
		return nil
	}
	su := d.user(t.User)
	if su == nil || su.Disabled {
		return nil
	}
	return su.principal(ViaToken)
}

// EnsureAdmin is the first start: when the users file has no user, it creates "admin" with
// role admin, the roles of also with the organisations orgs (the demo gives it soc, and dpo of
// its organisations, so that one person can work an incident through), and password (a random
// one when password is ""), and returns created and the password to show once. When the file
// has users it changes nothing (created false, pw "").
func EnsureAdmin(file, password string, also []Role, orgs []string) (created bool, pw string, err error) {
	u, err := OpenUsers(file)
	if err != nil {
		return false, "", err
	}
	if len(u.List()) > 0 {
		return false, "", nil
	}
	if password == "" {
		password = NewPassword()
	}
	if err := u.Add("admin", append([]Role{RoleAdmin}, also...), orgs, password); err != nil {
		if errors.Is(err, ErrExists) {
			return false, "", nil // another process was first
		}
		return false, "", fmt.Errorf("create the first admin: %w", err)
	}
	return true, password, nil
}

// sameOwner gives tmp the owner and group of file when file exists and they differ from this
// process's (a change made as root keeps the file readable by the server's user).
func sameOwner(tmp *os.File, file string) error {
	fi, err := os.Stat(file)
	if err != nil {
		return nil // a new file: the process's
	}
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok || int(st.Uid) == os.Getuid() && int(st.Gid) == os.Getgid() {
		return nil
	}
	return tmp.Chown(int(st.Uid), int(st.Gid))
}
