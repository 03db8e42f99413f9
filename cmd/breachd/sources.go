package main

import (
	"fmt"
	"strings"

	flag "github.com/spf13/pflag"

	"breachd/deploy"
	"breachd/ingest/format"
	"breachd/ingest/httpin"
)

// declareSourceFlags declares the ingest inputs of `breachd run` beyond --demo and file
// arguments; deploy.OpenSources builds them.
func declareSourceFlags(fs *flag.FlagSet, f *deploy.SourceConfig) {
	fs.StringVar(&f.InputFormat, "input-format", "canonical", "log format of file, stdin and --follow input: "+strings.Join(format.Names(), ", "))
	fs.StringVar(&f.InputFormat, "format", "canonical", "the old spelling of --input-format")
	_ = fs.MarkDeprecated("format", "use --input-format (--format is the output format of the other commands)")
	fs.StringVar(&f.Mapping, "mapping", "", "YAML mapping of a service's JSON access log to canonical events, for file, stdin and --follow input (instead of --input-format)")
	fs.StringArrayVar(&f.Follow, "follow", nil, "`file` to follow like tail -F, through rotation, remembering its position (repeatable)")
	fs.StringVar(&f.StateDir, "state-dir", "", "where followed files' positions are kept (default <data>/ingest-state)")
	fs.StringVar(&f.HTTP.Listen, "http-listen", "", "address of the HTTP ingest endpoint POST /v1/events, e.g. 127.0.0.1:8088; empty disables it")
	fs.StringVar(&f.HTTP.TokenFile, "http-token-file", "", `file of "name secret" lines, mode 0600; clients send "Authorization: Bearer <secret>"`)
	fs.BoolVar(&f.HTTP.Insecure, "http-insecure", false, "accept HTTP ingest without a token (only on a trusted network)")
	fs.DurationVar(&f.HTTP.BodyTimeout, "http-body-timeout", httpin.DefaultBodyTimeout, "longest an HTTP ingest request body may take to arrive; beyond it 408 and the connection is closed")
	fs.Int64Var(&f.HTTP.MinBodyRate, "http-min-body-rate", httpin.DefaultMinBodyRate,
		fmt.Sprintf("slowest an HTTP ingest request body may arrive after its first %s, in bytes/s (408 below it); negative disables", httpin.DefaultBodyRateGrace))
	fs.StringVar(&f.GeoIP, "geoip", "", "MaxMind/DB-IP country database (.mmdb) to set the country of events with an IP and none; no network lookups")
	declareKafkaFlags(fs, &f.Kafka)
}
