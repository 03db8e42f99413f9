package history

import (
	"context"
	"fmt"
	"time"
)

// migration is one versioned schema step. Statements must be idempotent (IF NOT EXISTS), so a
// migration interrupted half-way is simply run again.
type migration struct {
	version    int
	name       string
	statements []string
}

// Retention of event rows (the TTL of the event tables).
const DefaultEventRetentionDays = 400

func migrations(retentionDays int) []migration {
	ttl := fmt.Sprintf("TTL toDateTime(time) + INTERVAL %d DAY", retentionDays)
	return []migration{{
		version: 1,
		name:    "events, alerts, incidents, audit",
		statements: []string{
			`CREATE TABLE IF NOT EXISTS auth_events (
				id String,
				time DateTime64(3, 'UTC'),
				org LowCardinality(String),
				user String,
				service LowCardinality(String),
				service_name LowCardinality(String),
				result LowCardinality(String),
				method LowCardinality(String),
				ip String,
				country LowCardinality(String),
				user_agent String,
				ingested DateTime64(3, 'UTC') DEFAULT now64(3)
			) ENGINE = ReplacingMergeTree
			PARTITION BY toYYYYMM(time)
			ORDER BY (user, time, id) ` + ttl,
			`CREATE TABLE IF NOT EXISTS access_events (
				id String,
				time DateTime64(3, 'UTC'),
				org LowCardinality(String),
				actor String,
				actor_role LowCardinality(String),
				action LowCardinality(String),
				subject String,
				resource LowCardinality(String),
				service LowCardinality(String),
				group String,
				records UInt64,
				ip String,
				country LowCardinality(String),
				ingested DateTime64(3, 'UTC') DEFAULT now64(3)
			) ENGINE = ReplacingMergeTree
			PARTITION BY toYYYYMM(time)
			ORDER BY (actor, time, id) ` + ttl,
			`CREATE TABLE IF NOT EXISTS directory_events (
				id String,
				time DateTime64(3, 'UTC'),
				org LowCardinality(String),
				op LowCardinality(String),
				user String,
				affiliations Array(LowCardinality(String)),
				primary_affiliation LowCardinality(String),
				schools Array(String),
				nin_hash String,
				hidden_identity Bool,
				active Bool,
				group String,
				go_type LowCardinality(String),
				role LowCardinality(String),
				contact_teacher Bool,
				school String,
				change LowCardinality(String),
				guardian String,
				child String,
				status LowCardinality(String),
				ingested DateTime64(3, 'UTC') DEFAULT now64(3)
			) ENGINE = ReplacingMergeTree
			ORDER BY (org, time, id)`,
			`CREATE TABLE IF NOT EXISTS alerts (
				id String,
				rule_id LowCardinality(String),
				title String,
				severity LowCardinality(String),
				tags Array(LowCardinality(String)),
				org LowCardinality(String),
				account String,
				subject String,
				event_id String,
				event_kind LowCardinality(String),
				event_time DateTime64(3, 'UTC'),
				detected DateTime64(3, 'UTC'),
				summary String,
				respond Bool,
				suppressed UInt64
			) ENGINE = ReplacingMergeTree
			ORDER BY (account, event_time, id)`,
			`CREATE TABLE IF NOT EXISTS incidents (
				id String,
				org LowCardinality(String),
				account String,
				state LowCardinality(String),
				severity LowCardinality(String),
				opened DateTime64(3, 'UTC'),
				aware DateTime64(3, 'UTC'),
				deadline DateTime64(3, 'UTC'),
				updated DateTime64(3, 'UTC'),
				first_seen DateTime64(3, 'UTC'),
				last_seen DateTime64(3, 'UTC'),
				alert_count UInt64,
				subjects UInt64,
				rules Array(LowCardinality(String)),
				summary String,
				version UInt64,
				doc String
			) ENGINE = ReplacingMergeTree(version)
			ORDER BY id`,
			`CREATE TABLE IF NOT EXISTS audit (
				time DateTime64(3, 'UTC'),
				actor String,
				action LowCardinality(String),
				target String,
				reason String,
				detail String
			) ENGINE = MergeTree
			ORDER BY time`,
		},
	}, {
		version: 2,
		name:    "access_by_subject: access events sorted by subject",
		// Superseded by migration 5, which drops what this one made (a copy of access_events
		// sorted by subject, filled by a materialized view): a history that has not got it yet
		// goes straight to the index of migration 5 instead of copying its access events first.
		// The version stays, so the numbers of the migrations applied keep their meaning.
		statements: nil,
	}, {
		version: 3,
		name:    "evidence: incident evidence snapshots",
		statements: []string{
			`CREATE TABLE IF NOT EXISTS evidence (
				id String,
				incident String,
				kind LowCardinality(String),
				taken DateTime64(3, 'UTC'),
				account String,
				from_t DateTime64(3, 'UTC'),
				to_t DateTime64(3, 'UTC'),
				query String,
				rows UInt32,
				sha256 String,
				content String
			) ENGINE = ReplacingMergeTree
			ORDER BY (incident, taken, id)`,
		},
	}, {
		version: 4,
		name:    "audit: the asker's identity (issuer, subject, roles) and the target's organisation",
		// Rows written before have them empty: their actor is the name the CLI was given.
		statements: []string{
			`ALTER TABLE audit
				ADD COLUMN IF NOT EXISTS issuer String AFTER actor,
				ADD COLUMN IF NOT EXISTS subject String AFTER issuer,
				ADD COLUMN IF NOT EXISTS roles Array(LowCardinality(String)) AFTER subject,
				ADD COLUMN IF NOT EXISTS org LowCardinality(String) AFTER target`,
		},
	}, {
		version: 5,
		name:    "access_events: a bloom filter index on subject replaces the access_by_subject copy",
		// "Who saw this person's data" reads access_events through a skip index on subject
		// instead of a second table sorted by subject: the copy doubled every access write
		// (a second part per insert, merged again) for one lookup. The index is built for the
		// parts written before (a background mutation; parts without it are read in full until
		// then, so answers never depend on it). The index comes first and the copy is dropped
		// last: a migration cut short leaves the copy whole and filled, so the binary before
		// this one, which reads it, still answers right if an operator goes back to it.
		statements: []string{
			`ALTER TABLE access_events ADD INDEX IF NOT EXISTS subject_bloom subject TYPE bloom_filter(0.01) GRANULARITY 1`,
			`ALTER TABLE access_events MATERIALIZE INDEX subject_bloom`,
			`DROP VIEW IF EXISTS access_by_subject_mv`,
			`DROP TABLE IF EXISTS access_by_subject`,
		},
	}}
}

// schemaMigrationsTable records the migrations applied.
const schemaMigrationsTable = `CREATE TABLE IF NOT EXISTS schema_migrations (
			version UInt32, name String, applied DateTime64(3, 'UTC')
		) ENGINE = ReplacingMergeTree ORDER BY version`

// Migrate applies every migration not yet recorded in schema_migrations, in order. It is safe
// to run twice and from several processes (statements are idempotent).
func (s *Store) Migrate(ctx context.Context, retentionDays int) (applied int, err error) {
	if retentionDays <= 0 {
		retentionDays = DefaultEventRetentionDays
	}
	ms := migrations(retentionDays)
	// A schema that is up to date needs no DDL, so a user without DDL rights (a stage on the
	// embedded endpoint's writer credential) can start on it.
	done, err := s.appliedMigrations(ctx)
	if err != nil || len(done) < len(ms) {
		if err := s.refuseCluster(ctx, err); err != nil {
			return 0, err
		}
		if err := s.conn.Exec(ctx, schemaMigrationsTable); err != nil {
			return 0, fmt.Errorf("create schema_migrations: %w", err)
		}
		if done, err = s.appliedMigrations(ctx); err != nil {
			return 0, err
		}
	}
	for _, m := range ms {
		if done[m.version] {
			continue
		}
		for i, stmt := range m.statements {
			if err := s.conn.Exec(ctx, stmt); err != nil {
				return applied, fmt.Errorf("migration %d (%s) statement %d: %w", m.version, m.name, i+1, err)
			}
		}
		if err := insert(ctx, s, "schema_migrations", migrationColumns, []migration{m}); err != nil {
			return applied, fmt.Errorf("record migration %d: %w", m.version, err)
		}
		s.log.Info("schema migration applied", "version", m.version, "name", m.name)
		applied++
	}
	return applied, nil
}

var migrationColumns = []column[migration]{
	col("version", func(m migration) uint32 { return uint32(m.version) }),
	col("name", func(m migration) string { return m.name }),
	col("applied", func(migration) time.Time { return time.Now().UTC() }),
}

// appliedMigrations reads the versions recorded in schema_migrations.
func (s *Store) appliedMigrations(ctx context.Context) (map[int]bool, error) {
	return s.appliedMigrationsIn(ctx, "schema_migrations")
}

// appliedMigrationsIn reads the versions recorded in table.
func (s *Store) appliedMigrationsIn(ctx context.Context, table string) (map[int]bool, error) {
	done := map[int]bool{}
	rows, err := s.conn.Query(ctx, `SELECT version FROM `+table)
	if err != nil {
		return nil, fmt.Errorf("read schema_migrations: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var v uint32
		if err := rows.Scan(&v); err != nil {
			return nil, fmt.Errorf("read schema_migrations: %w", err)
		}
		done[int(v)] = true
	}
	return done, rows.Err()
}
