package history

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"strings"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2"
	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"
)

// Store is the history database.
type Store struct {
	conn  driver.Conn
	log   *slog.Logger
	types columnTypes // of the tables written
}

// Open connects to the ClickHouse given by dsn: clickhouse://user:pass@host:9000/db for the
// native protocol, http://user:pass@host:8123/db for HTTP (the embedded engine). It pings
// before returning.
func Open(ctx context.Context, dsn string, log *slog.Logger) (*Store, error) {
	return OpenDialer(ctx, dsn, nil, log)
}

// OpenDialer is Open with connections made by dial instead of TCP (nil: TCP). The embedded
// engine's owner connects this way (chdb.Server.DialInProcess).
func OpenDialer(ctx context.Context, dsn string, dial func(ctx context.Context, addr string) (net.Conn, error), log *slog.Logger) (*Store, error) {
	opts, err := clickhouse.ParseDSN(dsn)
	if err != nil {
		return nil, fmt.Errorf("clickhouse dsn: %s", redact(err.Error(), dsn))
	}
	opts.DialContext = dial
	return open(ctx, opts, dsn, log)
}

// open connects with opts (parsed from dsn, which errors name redacted) and pings.
func open(ctx context.Context, opts *clickhouse.Options, dsn string, log *slog.Logger) (*Store, error) {
	opts.DialTimeout = 10 * time.Second
	if opts.MaxOpenConns == 0 {
		opts.MaxOpenConns = 8
	}
	conn, err := clickhouse.Open(opts)
	if err != nil {
		return nil, fmt.Errorf("open clickhouse %s: %w", RedactDSN(dsn), err)
	}
	pctx, cancel := context.WithTimeout(ctx, 15*time.Second)
	defer cancel()
	if err := conn.Ping(pctx); err != nil {
		conn.Close()
		return nil, fmt.Errorf("ping clickhouse %s: %w", RedactDSN(dsn), err)
	}
	return &Store{conn: conn, log: log.With("component", "history")}, nil
}

// Conn exposes the driver connection for queries of other packages.
func (s *Store) Conn() driver.Conn { return s.conn }

// Close closes the connection pool.
func (s *Store) Close() error { return s.conn.Close() }

// RedactDSN hides the password of a DSN for logs and errors.
func RedactDSN(dsn string) string {
	i := strings.Index(dsn, "://")
	at := strings.LastIndex(dsn, "@")
	if i < 0 || at < i {
		return dsn
	}
	cred := dsn[i+3 : at]
	if c := strings.Index(cred, ":"); c >= 0 {
		return dsn[:i+3] + cred[:c] + ":***" + dsn[at:]
	}
	return dsn
}

func redact(msg, dsn string) string {
	return strings.ReplaceAll(msg, dsn, RedactDSN(dsn))
}
