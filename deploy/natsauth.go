package deploy

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"path/filepath"

	"github.com/nats-io/nats.go"

	"breachd/bus"
	"breachd/secretfile"
)

// NATSUsersFile, in the data directory, holds the credentials of the embedded nats-server
// that outlive a process: operator, replay, api and admin. It is created on the first start with
// mode 0600 and never rewritten; a file that group or others may read is refused. The
// pipeline's credential is not in it.
const NATSUsersFile = "nats-users.json"

// natsUsersNote is written into NATSUsersFile for whoever opens it.
const natsUsersNote = "Credentials of the embedded nats-server of breachd (see deploy/README.md, NATS). " +
	"operator: breachd dlq and breachd incidents; replay: breachd dlq replay (may publish events); " +
	"api: breachd serve (may sign anyone in to the API); " +
	"admin: unrestricted, for the nats CLI only (stream purge/delete). Keep this file mode 0600."

// NATSUsers are the credentials of the embedded server's users, one per role. Their user
// names are the role names.
type NATSUsers struct {
	Note     string         `json:"note"`
	Operator bus.Credential `json:"operator"`
	Replay   bus.Credential `json:"replay"`
	Admin    bus.Credential `json:"admin"`
	// API is NATSAPI's (breachd serve). A file from before that role has none: natsUsersFor
	// adds one.
	API bus.Credential `json:"api,omitempty"`
	// Pipeline is made at every start and never written.
	Pipeline bus.Credential `json:"-"`
}

// ReadNATSUsers reads NATSUsersFile in dataDir. It refuses a file that group or others may
// read or write, and one without every persistent role. A missing file is an error wrapping
// fs.ErrNotExist.
func ReadNATSUsers(dataDir string) (NATSUsers, error) {
	path := filepath.Join(dataDir, NATSUsersFile)
	b, err := secretfile.Read(path)
	var perr *secretfile.PermissionError
	if errors.As(err, &perr) {
		return NATSUsers{}, fmt.Errorf("%w; others than its owner may have read its passwords: remove it to have new "+
			"credentials made at the next start, or chmod 600 it if nobody else can have read it", err)
	}
	if err != nil {
		return NATSUsers{}, fmt.Errorf("nats credentials: %w", err)
	}
	var u NATSUsers
	if err := json.Unmarshal(b, &u); err != nil {
		return NATSUsers{}, fmt.Errorf("nats credentials file %s: %w", path, err)
	}
	for role, c := range map[string]bus.Credential{NATSOperator: u.Operator, NATSReplay: u.Replay, NATSAdmin: u.Admin, NATSAPI: u.API} {
		if role == NATSAPI && c == (bus.Credential{}) {
			continue // natsUsersFor adds it
		}
		if c.User != role || len(c.Password) < 16 {
			return NATSUsers{}, fmt.Errorf("nats credentials file %s: %q: want user %q and a password of at least 16 characters "+
				"(remove the file to have new credentials made at the next start)", path, role, role)
		}
	}
	return u, nil
}

// natsUsersFor returns the credentials of the embedded server on dataDir: those of
// NATSUsersFile, made and written first if there is none, and a new pipeline credential.
func natsUsersFor(dataDir string) (NATSUsers, error) {
	u, err := ReadNATSUsers(dataDir)
	if errors.Is(err, fs.ErrNotExist) {
		u, err = createNATSUsers(dataDir)
	}
	if err == nil && u.API == (bus.Credential{}) {
		u, err = addNATSAPIUser(dataDir, u)
	}
	if err != nil {
		return NATSUsers{}, err
	}
	if u.Pipeline, err = bus.NewCredential(NATSPipeline); err != nil {
		return NATSUsers{}, err
	}
	return u, nil
}

// createNATSUsers makes new persistent credentials and writes them to NATSUsersFile, mode
// 0600. The file appears complete or not at all (a hard link of a finished temporary file),
// and of two processes creating it at once the second reads the first one's.
func createNATSUsers(dataDir string) (NATSUsers, error) {
	u := NATSUsers{Note: natsUsersNote}
	var err error
	for _, c := range []struct {
		role string
		to   *bus.Credential
	}{{NATSOperator, &u.Operator}, {NATSReplay, &u.Replay}, {NATSAdmin, &u.Admin}, {NATSAPI, &u.API}} {
		if *c.to, err = bus.NewCredential(c.role); err != nil {
			return NATSUsers{}, err
		}
	}
	b, err := json.MarshalIndent(u, "", "  ")
	if err != nil {
		return NATSUsers{}, fmt.Errorf("encode nats credentials: %w", err)
	}
	if err := writePrivate(filepath.Join(dataDir, NATSUsersFile), append(b, '\n'), false); err != nil {
		if errors.Is(err, fs.ErrExist) {
			return ReadNATSUsers(dataDir)
		}
		return NATSUsers{}, fmt.Errorf("write nats credentials: %w", err)
	}
	return u, nil
}

// addNATSAPIUser gives u, read from a NATSUsersFile made before the NATSAPI role, a new api
// credential and replaces the file with it (mode 0600, complete or not at all).
func addNATSAPIUser(dataDir string, u NATSUsers) (NATSUsers, error) {
	var err error
	if u.API, err = bus.NewCredential(NATSAPI); err != nil {
		return NATSUsers{}, err
	}
	u.Note = natsUsersNote
	b, err := json.MarshalIndent(u, "", "  ")
	if err != nil {
		return NATSUsers{}, fmt.Errorf("encode nats credentials: %w", err)
	}
	if err := writePrivate(filepath.Join(dataDir, NATSUsersFile), append(b, '\n'), true); err != nil {
		return NATSUsers{}, fmt.Errorf("write nats credentials: %w", err)
	}
	return u, nil
}

// StartEmbeddedNATS starts the embedded nats-server on dataDir's store (NATSDir) with the
// users of every role (natsUsersFor), and returns it with their credentials. log receives the
// server's warnings and errors, such as refused logins and permission violations.
func StartEmbeddedNATS(dataDir string, log *slog.Logger) (*bus.Embedded, NATSUsers, error) {
	users, err := natsUsersFor(dataDir)
	if err != nil {
		return nil, NATSUsers{}, err
	}
	srv, err := bus.StartEmbedded(bus.EmbeddedOptions{StoreDir: NATSDir(dataDir), Users: natsUsers(users), Logger: log})
	if err != nil {
		return nil, NATSUsers{}, err
	}
	return srv, users, nil
}

// Credential returns the credential of role (NATSOperator, NATSReplay, NATSAPI, NATSAdmin
// or NATSPipeline), the zero Credential for another.
func (u NATSUsers) Credential(role string) bus.Credential {
	switch role {
	case NATSOperator:
		return u.Operator
	case NATSReplay:
		return u.Replay
	case NATSAPI:
		return u.API
	case NATSAdmin:
		return u.Admin
	case NATSPipeline:
		return u.Pipeline
	}
	return bus.Credential{}
}

// natsTarget returns the URL and login of the NATS role uses: cfg.NATSURL with cfg.NATSCreds
// (the pipeline), or the embedded server it starts here.
func (in *Infra) natsTarget(role string) (string, []nats.Option, error) {
	if in.cfg.NATSURL != "" && role == NATSPipeline {
		login, err := bus.CredsLogin(in.cfg.NATSCreds, in.log.Warn)
		return in.cfg.NATSURL, login, err
	}
	srv, users, err := StartEmbeddedNATS(in.cfg.DataDir, in.cfg.Logger)
	if err != nil {
		return "", nil, err
	}
	in.natsSrv, in.natsUsers = srv, users
	in.log.Info("embedded nats started", "url", srv.ClientURL(), "credentials", filepath.Join(in.cfg.DataDir, NATSUsersFile))
	return srv.ClientURL(), users.Credential(role).Options(), nil
}

// setNATSLogins puts the operator, replay and api credentials into ep, for the CLI and
// breachd serve.
func (ep *Endpoint) setNATSLogins(u NATSUsers) {
	ep.NATSUser, ep.NATSPassword = u.Operator.User, u.Operator.Password
	ep.NATSReplayUser, ep.NATSReplayPassword = u.Replay.User, u.Replay.Password
	ep.NATSAPIUser, ep.NATSAPIPassword = u.API.User, u.API.Password
}

// NATSLogin returns the options that log in to ep.NATS as role (NATSOperator, NATSReplay or
// NATSAPI);
// nil when ep has no credential for it (an instance from before the embedded server had users).
func (ep *Endpoint) NATSLogin(role string) []nats.Option {
	switch role {
	case NATSOperator:
		return bus.Credential{User: ep.NATSUser, Password: ep.NATSPassword}.Options()
	case NATSReplay:
		return bus.Credential{User: ep.NATSReplayUser, Password: ep.NATSReplayPassword}.Options()
	case NATSAPI:
		return bus.Credential{User: ep.NATSAPIUser, Password: ep.NATSAPIPassword}.Options()
	}
	return nil
}
