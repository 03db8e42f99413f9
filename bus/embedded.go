package bus

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// Embedded is an in-process nats-server with JetStream, listening on loopback only.
type Embedded struct {
	srv *server.Server
}

// EmbeddedOptions configures StartEmbedded.
type EmbeddedOptions struct {
	StoreDir string // JetStream data directory (required)
	Host     string // default 127.0.0.1; must be a loopback address
	Port     int    // default: a random free port
	// Users may connect, each with its own permissions; a connection without a valid
	// credential is refused. Required unless NoAuth.
	Users []User
	// NoAuth lets any local process connect and do anything. Only for tests.
	NoAuth bool
	// Logger receives the server's warnings and errors (permission violations, failed
	// logins, JetStream trouble) with component=nats; nil discards them.
	Logger *slog.Logger
}

// StartEmbedded starts the server and waits until it accepts connections (at most 10 s).
func StartEmbedded(opts EmbeddedOptions) (*Embedded, error) {
	if opts.StoreDir == "" {
		return nil, errors.New("embedded nats: store dir is required")
	}
	if len(opts.Users) == 0 && !opts.NoAuth {
		return nil, errors.New("embedded nats: no users: every client must log in (NoAuth is for tests only)")
	}
	users, err := serverUsers(opts.Users)
	if err != nil {
		return nil, fmt.Errorf("embedded nats: %w", err)
	}
	if opts.Host == "" {
		opts.Host = "127.0.0.1"
	}
	if ip := net.ParseIP(opts.Host); opts.Host != "localhost" && (ip == nil || !ip.IsLoopback()) {
		return nil, fmt.Errorf("embedded nats: host %q is not a loopback address", opts.Host)
	}
	if opts.Port == 0 {
		opts.Port = server.RANDOM_PORT
	}
	srv, err := server.NewServer(&server.Options{
		ServerName: "breachd-embedded",
		Host:       opts.Host,
		Port:       opts.Port,
		JetStream:  true,
		StoreDir:   opts.StoreDir,
		NoSigs:     true,
		MaxPayload: 8 << 20,
		Users:      users,
	})
	if err != nil {
		return nil, fmt.Errorf("embedded nats: %w", err)
	}
	if opts.Logger != nil {
		srv.SetLogger(serverLogger{opts.Logger.With("component", "nats")}, false, false)
	}
	go srv.Start() // owned by the server; Shutdown stops and waits for it
	if !srv.ReadyForConnections(10 * time.Second) {
		srv.Shutdown()
		return nil, fmt.Errorf("embedded nats: not ready after 10s (store dir %s)", opts.StoreDir)
	}
	return &Embedded{srv: srv}, nil
}

// ClientURL is the nats:// URL clients connect to.
func (e *Embedded) ClientURL() string { return e.srv.ClientURL() }

// Shutdown stops the server and waits until it has stopped.
func (e *Embedded) Shutdown() {
	e.srv.Shutdown()
	e.srv.WaitForShutdown()
}

// Connect opens a NATS connection that reconnects forever and a JetStream context over it.
// url may be a comma-separated list of cluster URLs, with user:password@ in them; auth adds
// a login (Credential.Options, CredsFile). The JetStream context follows the replica policy
// (replicas.go), as NewJetStream's. Asynchronous errors, such as a publish the server
// refused for lack of permission, are logged at Error.
func Connect(url, name string, log *slog.Logger, auth ...nats.Option) (*nats.Conn, jetstream.JetStream, error) {
	opts := append([]nats.Option{
		nats.Name(name),
		nats.MaxReconnects(-1),
		nats.ReconnectWait(500 * time.Millisecond),
		nats.DisconnectErrHandler(func(_ *nats.Conn, err error) {
			if err != nil {
				log.Warn("nats disconnected", "err", err)
			}
		}),
		nats.ReconnectHandler(func(c *nats.Conn) { log.Info("nats reconnected", "url", c.ConnectedUrlRedacted()) }),
		nats.ErrorHandler(func(_ *nats.Conn, _ *nats.Subscription, err error) { log.Error("nats", "err", err) }),
	}, auth...)
	nc, err := nats.Connect(url, opts...)
	if err != nil {
		return nil, nil, fmt.Errorf("connect to nats %s: %w", RedactURL(url), err)
	}
	js, err := jetstream.New(nc)
	if err != nil {
		nc.Close()
		return nil, nil, fmt.Errorf("jetstream: %w", err)
	}
	return nc, replicaGuard{JetStream: js, log: log}, nil
}
