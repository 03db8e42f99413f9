package main

import (
	"flag"
	"log/slog"
	"os"

	"github.com/nats-io/nats.go"

	"breachd/bus"
)

// natsCredsFlag declares --nats-creds on fs: how the commands that take --nats log in to it
// besides a user and password in the URL.
func natsCredsFlag(fs *flag.FlagSet, p *string) {
	fs.StringVar(p, "nats-creds", os.Getenv("BREACHD_NATS_CREDS"),
		"NATS .creds file (user JWT and nkey seed, as nsc writes it) to log in to --nats with; "+
			"a user and password can instead be given in the URL: nats://user:pass@host:4222 (env BREACHD_NATS_CREDS)")
}

// natsLogin returns the options that log in to --nats with --nats-creds (none when empty).
func natsLogin(credsFile string, log *slog.Logger) ([]nats.Option, error) {
	if credsFile == "" {
		return nil, nil
	}
	opt, err := bus.CredsFile(credsFile, log.Warn)
	if err != nil {
		return nil, err
	}
	return []nats.Option{opt}, nil
}
