package main

import (
	"fmt"
	"io"
	"net/http"
	"net/url"
	"time"

	"github.com/spf13/cobra"
)

// healthCommand is a container's health check for images without curl or a shell (the
// distroless image of deploy/Dockerfile): GET of a /healthz or /readyz URL.
func healthCommand() *cobra.Command {
	var timeout time.Duration
	c := &cobra.Command{
		Use:   "health URL",
		Short: "check a /healthz or /readyz endpoint: exit 0 on 200, else 1 (a container health check)",
		Long: `Sends GET URL and exits 0 if the answer is 200 OK, else 1 with the status or the error.
For health checks in images without curl (deploy/Dockerfile): the stage processes serve
/healthz on --metrics-addr, the HTTP ingest and the API /healthz and /readyz.`,
		Example: `  breachd health http://127.0.0.1:9464/healthz
  breachd health http://127.0.0.1:8088/readyz`,
		Args: posArgs(1, 1, ""),
	}
	c.Flags().DurationVar(&timeout, "timeout", 5*time.Second, "longest the request may take")
	c.RunE = func(c *cobra.Command, args []string) error {
		if u, err := url.Parse(args[0]); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return usagef("health: %q is not an http(s) URL (e.g. http://127.0.0.1:9464/healthz)", args[0])
		}
		req, err := http.NewRequestWithContext(c.Context(), http.MethodGet, args[0], nil)
		if err != nil {
			return err
		}
		resp, err := (&http.Client{Timeout: timeout}).Do(req)
		if err != nil {
			return err
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(io.LimitReader(resp.Body, 256))
		if resp.StatusCode != http.StatusOK {
			return fmt.Errorf("%s: %s %s", args[0], resp.Status, body)
		}
		return nil
	}
	return c
}
