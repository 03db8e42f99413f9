package main

import (
	"os"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"breachd/deploy"
)

// apiFlags: how a process serves the HTTP API (breachd run, breachd serve). The users file
// is --users as `breachd users` reads it: the command sets c.UsersFile to usersPath().
func apiFlags(fs *pflag.FlagSet, c *deploy.APIConfig, listen string) {
	fs.StringVar(&c.Listen, "listen", envOr("BREACHD_LISTEN", listen), "address the HTTP API serves on (host:port; port 0 picks a free one) (env BREACHD_LISTEN)")
	fs.StringVar(&c.TLSCert, "tls-cert", "", "serve HTTPS with this certificate (PEM; with --tls-key); without: plain HTTP, for loopback or behind a TLS-terminating reverse proxy")
	fs.StringVar(&c.TLSKey, "tls-key", "", "the private key of --tls-cert (PEM)")
	usersFlag(fs) // as breachd users: env BREACHD_USERS, default <data>/users.json (usersPath)
	fs.StringVar(&c.OIDCFile, "oidc", "", "OpenID Connect provider and claims mapping (YAML); empty: local users only")
	fs.StringVar(&c.PublicURL, "public-url", os.Getenv("BREACHD_PUBLIC_URL"), "the URL people reach the API at, e.g. https://breachd.example.no behind a reverse proxy (OIDC redirect, Secure cookies); default the listener's URL (env BREACHD_PUBLIC_URL)")
}

// envOr is the environment variable k, or def when it is not set (set and empty is empty:
// BREACHD_LISTEN= turns the API of breachd run off).
func envOr(k, def string) string {
	if v, ok := os.LookupEnv(k); ok {
		return v
	}
	return def
}

func serveCommand() *cobra.Command {
	var (
		api         deploy.APIConfig
		respondFile string
	)
	c := &cobra.Command{
		Use:   "serve [flags]",
		Short: "serve only the HTTP API (stateless; any number behind a load balancer)",
		Long: `Serves the HTTP API (sign-in, incidents, history lookups, rules, dead letters) and nothing else,
against the NATS of --nats and the ClickHouse of --clickhouse, or attached to the running
'breachd run' of --data. It keeps no state of its own: sessions live in the NATS KV bucket
"sessions", so any number of 'breachd serve' behind a load balancer share them; give every
instance the same --users file (or --oidc) and --public-url.

Behind a reverse proxy that terminates TLS, serve plain HTTP on loopback or a private address,
let the proxy set X-Forwarded-Proto, and give --public-url the https URL people use.

` + whereInstance,
		Example: `  breachd serve --data /var/lib/breachd --listen 127.0.0.1:8081
  breachd serve --nats nats://n1:4222 --nats-creds api.creds --clickhouse clickhouse://api:pw@ch:9000/breachd \
      --listen 10.0.0.5:8080 --public-url https://breachd.example.no --oidc oidc.yaml`,
		Args: noArgs,
	}
	fs := c.Flags()
	instanceFlags(fs)
	replicasFlag(fs) // of the sessions and preferences buckets
	apiFlags(fs, &api, deploy.DefaultAPIAddr)
	rulesFlag(fs)
	fs.StringVar(&logLevel, "log-level", "info", "log level: debug, info, warn, error")
	fs.StringVar(&logFormat, "log-format", "text", "log format: text or json (logs go to stderr)")
	fs.StringVar(&respondFile, "respond", os.Getenv("BREACHD_RESPOND"), "deactivation configuration (YAML), the one `breachd run --respond` uses; empty: dry run (env BREACHD_RESPOND)")
	c.RunE = func(c *cobra.Command, _ []string) error {
		cfg, err := stageInfra()
		if err != nil {
			return err
		}
		if api.Listen == "" {
			return usagef("serve: --listen is empty: give the address to serve on")
		}
		if err := api.Check(); err != nil {
			return usagef("serve: %v", err)
		}
		api.UsersFile = usersPath()
		var rc *deploy.RespondConfig
		if respondFile != "" {
			if rc, err = deploy.LoadRespondConfig(respondFile); err != nil {
				return err
			}
		}
		return deploy.Serve(c.Context(), deploy.ServeConfig{Attach: deploy.AttachConfig{InfraConfig: cfg}, API: api,
			Respond: rc, Rules: rulePaths, Banner: os.Stdout})
	}
	return c
}
