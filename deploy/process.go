package deploy

import (
	"context"
	"fmt"
	"io"

	"github.com/prometheus/client_golang/prometheus"
)

// Process is a process running stages (`breachd run`, `breachd detect`): its infrastructure,
// its metrics registry and the endpoint serving it. Close releases all three.
type Process struct {
	*Infra
	Registry   *prometheus.Registry
	MetricsURL string // that of /metrics; empty when none is served
	stop       func()
}

// StartProcess starts the infrastructure of cfg (StartInfra) and serves the metrics of a new
// registry (NewRegistry) on metricsAddr (ServeMetrics; empty: none).
func StartProcess(ctx context.Context, cfg InfraConfig, metricsAddr string) (*Process, error) {
	reg, err := NewRegistry()
	if err != nil {
		return nil, err
	}
	in, err := StartInfra(ctx, cfg)
	if err != nil {
		return nil, err
	}
	stop, url, err := ServeMetrics(metricsAddr, reg, in.cfg.Logger)
	if err != nil {
		in.Close()
		return nil, err
	}
	return &Process{Infra: in, Registry: reg, MetricsURL: url, stop: stop}, nil
}

// Close stops the metrics endpoint, then the infrastructure.
func (p *Process) Close() {
	p.stop()
	p.Infra.Close()
}

// WriteSummary tells the person who started `breachd run` that its finite input is processed
// and what the history holds; unless exiting, that it keeps running.
func (in *Infra) WriteSummary(ctx context.Context, w io.Writer, exiting bool) {
	c, err := in.History.Count(ctx)
	if err != nil {
		in.log.Error("summary", "err", err)
		return
	}
	fmt.Fprintf(w, "\nInput processed. History holds %d auth, %d access and %d directory events, %d alerts, %d incidents.\n",
		c.Auth, c.Access, c.Directory, c.Alerts, c.Incidents)
	if !exiting {
		fmt.Fprintln(w, "Still running: query the history from another terminal, stop with Ctrl-C.")
	}
}
