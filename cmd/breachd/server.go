package main

import (
	"context"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"breachd/apiclient"
	"breachd/deploy"
	"breachd/secretfile"
)

// The server mode of people's commands (--server): they call the HTTP API with a token instead
// of reaching NATS and ClickHouse themselves, as amtool talks to Alertmanager.
var server struct {
	url, token, tokenFile, caCert string
	timeout                       time.Duration
}

// directOnly are the flags of direct mode, refused with --server: the server has its own
// engines and deactivation configuration.
var directOnly = []string{"data", "chdb-lib", "nats", "nats-creds", "clickhouse", "respond"}

// withServer adds the server-mode flags to c, a command the API offers.
func withServer(c *cobra.Command) *cobra.Command {
	fs := c.Flags()
	fs.StringVar(&server.url, "server", os.Getenv("BREACHD_SERVER"), "work through the breachd API at this URL instead of the engines (env BREACHD_SERVER)")
	fs.StringVar(&server.token, "token", "", "API token for --server (visible to others in ps: prefer env BREACHD_TOKEN or --token-file)")
	fs.StringVar(&server.tokenFile, "token-file", "", "file holding the API token for --server (mode 0600 or 0400: refused when group or others may read it)")
	fs.StringVar(&server.caCert, "ca-cert", os.Getenv("BREACHD_CA_CERT"), "PEM file of a CA to trust for --server besides the system's (env BREACHD_CA_CERT)")
	fs.DurationVar(&server.timeout, "server-timeout", apiclient.DefaultTimeout, "time limit of each request to --server")
	annotate(c, "server", "yes")
	return c
}

// serverMode reports whether c runs through the API.
func serverMode(c *cobra.Command) bool { return c.Annotations["server"] != "" && server.url != "" }

// checkServer checks the command line of c in server mode: the server records the signed-in
// identity (no --as), and the engines' flags have no meaning there.
func checkServer(c *cobra.Command) error {
	if f := c.Flags().Lookup("as"); f != nil && f.Changed {
		return usagef("%s: --as cannot be used with --server: the server records who you signed in as (the token's user)", cmdName(c))
	}
	for _, name := range directOnly {
		if f := c.Flags().Lookup(name); f != nil && f.Changed {
			return usagef("%s: --%s is for direct mode and cannot be used with --server (the server uses its own)", cmdName(c), name)
		}
	}
	if c.Flags().Changed("token") && server.tokenFile != "" {
		return usagef("%s: give --token or --token-file, not both", cmdName(c))
	}
	if c.Flags().Changed("token") {
		fmt.Fprintln(os.Stderr, "breachd: warning: a token on the command line is visible to other users (ps); use BREACHD_TOKEN or --token-file")
	}
	return nil
}

// apiClient is the client of --server with the token of --token, --token-file or
// BREACHD_TOKEN.
func apiClient() (*apiclient.Client, error) {
	token := server.token
	if server.tokenFile != "" {
		b, err := secretfile.Read(server.tokenFile) // refused when group or others may read it
		if err != nil {
			return nil, fmt.Errorf("--token-file: %w", err)
		}
		token = strings.TrimSpace(string(b))
	}
	if token == "" {
		token = os.Getenv("BREACHD_TOKEN")
	}
	if token == "" {
		return nil, usagef("--server needs an API token: set BREACHD_TOKEN or give --token-file (an admin makes one with breachd users token)")
	}
	c, err := apiclient.New(apiclient.Config{Server: server.url, Token: token, CACert: server.caCert, Timeout: server.timeout, UserAgent: "breachd/" + version})
	if err != nil {
		return nil, usagef("--server: %v", err)
	}
	return c, nil
}

// printVia runs c's operation and prints in --format the result it returns unless that is
// nil, then returns its error: with --server through the API (remote; only commands with
// withServer have --server, and they give one), else on the instance ac reaches (printFrom,
// direct).
func printVia(c *cobra.Command, ac deploy.AttachConfig, direct func(ctx context.Context, a *deploy.Attached) (any, error),
	remote func(ctx context.Context, api *apiclient.Client) (any, error)) error {
	if !serverMode(c) {
		return printFrom(c.Context(), ac, direct)
	}
	api, err := apiClient()
	if err != nil {
		return err
	}
	return printResult(remote(c.Context(), api))
}

// cmdName is c's path without "breachd ", for messages that follow "breachd: ".
func cmdName(c *cobra.Command) string {
	return strings.TrimPrefix(c.CommandPath(), c.Root().Name()+" ")
}
