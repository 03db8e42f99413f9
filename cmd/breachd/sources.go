package main

import (
	"bytes"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/prometheus/client_golang/prometheus"
	flag "github.com/spf13/pflag"

	"breachd/ingest"
	"breachd/ingest/file"
	"breachd/ingest/format"
	"breachd/ingest/geoip"
	"breachd/ingest/httpin"
	"breachd/secretfile"
)

// sourceFlags are the ingest inputs of `breachd run` beyond --demo and file arguments.
type sourceFlags struct {
	format, mapping string
	follow          stringList
	stateDir        string
	httpListen      string
	httpTokenFile   string
	httpInsecure    bool
	httpBodyTimeout time.Duration
	httpMinRate     int64
	geoipDB         string
	kafka           kafkaFlags
}

// stringList is a repeatable string flag.
type stringList []string

func (l *stringList) String() string     { return strings.Join(*l, ",") }
func (l *stringList) Set(s string) error { *l = append(*l, s); return nil }
func (l *stringList) Type() string       { return "strings" }

func (f *sourceFlags) declare(fs *flag.FlagSet) {
	fs.StringVar(&f.format, "input-format", "canonical", "log format of file, stdin and --follow input: "+strings.Join(format.Names(), ", "))
	fs.StringVar(&f.format, "format", "canonical", "the old spelling of --input-format")
	_ = fs.MarkDeprecated("format", "use --input-format (--format is the output format of the other commands)")
	fs.StringVar(&f.mapping, "mapping", "", "YAML mapping of a service's JSON access log to canonical events, for file, stdin and --follow input (instead of --input-format)")
	fs.Var(&f.follow, "follow", "`file` to follow like tail -F, through rotation, remembering its position (repeatable)")
	fs.StringVar(&f.stateDir, "state-dir", "", "where followed files' positions are kept (default <data>/ingest-state)")
	fs.StringVar(&f.httpListen, "http-listen", "", "address of the HTTP ingest endpoint POST /v1/events, e.g. 127.0.0.1:8088; empty disables it")
	fs.StringVar(&f.httpTokenFile, "http-token-file", "", `file of "name secret" lines, mode 0600; clients send "Authorization: Bearer <secret>"`)
	fs.BoolVar(&f.httpInsecure, "http-insecure", false, "accept HTTP ingest without a token (only on a trusted network)")
	fs.DurationVar(&f.httpBodyTimeout, "http-body-timeout", httpin.DefaultBodyTimeout, "longest an HTTP ingest request body may take to arrive; beyond it 408 and the connection is closed")
	fs.Int64Var(&f.httpMinRate, "http-min-body-rate", httpin.DefaultMinBodyRate,
		fmt.Sprintf("slowest an HTTP ingest request body may arrive after its first %s, in bytes/s (408 below it); negative disables", httpin.DefaultBodyRateGrace))
	fs.StringVar(&f.geoipDB, "geoip", "", "MaxMind/DB-IP country database (.mmdb) to set the country of events with an IP and none; no network lookups")
	f.kafka.declare(fs)
}

// endless reports whether an input never ends on its own (it runs until breachd stops).
func (f *sourceFlags) endless() bool {
	return len(f.follow) > 0 || f.httpListen != "" || f.kafka.enabled()
}

// parser returns the parser of file-like input: nil for canonical JSON.
func (f *sourceFlags) parser() (ingest.Parser, error) {
	switch {
	case f.mapping != "" && f.format != "canonical":
		return nil, usagef("--mapping and --input-format exclude each other")
	case f.mapping != "":
		return format.LoadMapping(f.mapping)
	case f.format == "canonical":
		return nil, nil
	}
	p, err := format.Lookup(f.format)
	if err != nil {
		return nil, usagef("--input-format: %v", err)
	}
	return p, nil
}

// withParser applies the file-like input's format to src.
func withParser(src ingest.Source, p ingest.Parser) ingest.Source {
	if p == nil {
		return src
	}
	return ingest.WithFormat(src, p)
}

// build returns the endless sources and the enricher the flags ask for; close releases them
// after the pipeline stopped.
func (f *sourceFlags) build(dataDir string, nc *nats.Conn, parse ingest.Parser, log *slog.Logger, reg prometheus.Registerer) (srcs []ingest.Source, enrich ingest.Enricher, closeFn func(), err error) {
	var closers []func()
	closeFn = func() {
		for _, c := range closers {
			c()
		}
	}
	defer func() {
		if err != nil {
			closeFn()
		}
	}()
	if f.geoipDB != "" {
		db, err := geoip.Open(f.geoipDB)
		if err != nil {
			return nil, nil, closeFn, err
		}
		closers = append(closers, func() { _ = db.Close() })
		if err := db.Register(reg); err != nil {
			return nil, nil, closeFn, err
		}
		enrich = db.Enrich
	}
	stateDir := f.stateDir
	if stateDir == "" {
		stateDir = filepath.Join(dataDir, "ingest-state")
	}
	for _, p := range f.follow {
		fl, err := file.NewFollow(p, file.FollowOptions{StateDir: stateDir, Logger: log, Registerer: reg})
		if err != nil {
			return nil, nil, closeFn, err
		}
		srcs = append(srcs, withParser(fl, parse))
	}
	if f.httpListen != "" {
		var toks []httpin.Token
		if f.httpTokenFile != "" {
			b, err := secretfile.Read(f.httpTokenFile)
			if err != nil {
				return nil, nil, closeFn, fmt.Errorf("--http-token-file: %w", err)
			}
			toks, err = httpin.ParseTokens(bytes.NewReader(b))
			if err != nil {
				return nil, nil, closeFn, fmt.Errorf("--http-token-file %s: %w", f.httpTokenFile, err)
			}
		}
		if f.httpBodyTimeout <= 0 || f.httpMinRate == 0 {
			return nil, nil, closeFn, usagef("--http-body-timeout must be positive and --http-min-body-rate non-zero (negative disables the rate bound)")
		}
		srv, err := httpin.New(httpin.Config{Listen: f.httpListen, Tokens: toks, Insecure: f.httpInsecure, Logger: log, Registerer: reg,
			BodyTimeout: f.httpBodyTimeout, MinBodyRate: f.httpMinRate,
			Parser: format.Canonical(), // the pipeline's default parser, for the per-record reasons
			Ready: func() error {
				if !nc.IsConnected() {
					return errors.New("nats: not connected")
				}
				return nil
			},
			OnListen: func(addr string) { fmt.Fprintf(os.Stdout, "  HTTP ingest      POST http://%s/v1/events\n", addr) }})
		if err != nil {
			return nil, nil, closeFn, err
		}
		srcs = append(srcs, srv)
	}
	ks, err := f.kafka.build(log, reg)
	if err != nil {
		return nil, nil, closeFn, err
	}
	return append(srcs, ks...), enrich, closeFn, nil
}
