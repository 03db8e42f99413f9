package main

import (
	"flag"
	"os"
)

// natsCredsFlag declares --nats-creds on fs: how the commands that take --nats log in to it
// besides a user and password in the URL.
func natsCredsFlag(fs *flag.FlagSet, p *string) {
	fs.StringVar(p, "nats-creds", os.Getenv("BREACHD_NATS_CREDS"),
		"NATS .creds file (user JWT and nkey seed, as nsc writes it) to log in to --nats with; "+
			"a user and password can instead be given in the URL: nats://user:pass@host:4222 (env BREACHD_NATS_CREDS)")
}
