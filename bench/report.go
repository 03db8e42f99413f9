package bench

import (
	"fmt"
	"io"
	"text/tabwriter"
)

// WriteTable writes r for people: the workload, a row per throughput phase, the latency
// phase's rate, lag and percentiles with the samples they rest on.
func (r *Report) WriteTable(w io.Writer) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintf(w, "breachd bench (%s): %d CPUs, NATS %s, ClickHouse %s\n", r.Version, r.CPUs, r.NATS, r.ClickHouse)
	if r.Raw != nil || r.Pipeline != nil {
		fmt.Fprintf(w, "workload: %d simulated events (%d orgs × %d days, seed %d), %.0f bytes/event\n\n",
			r.Workload.Events, r.Workload.Orgs, r.Workload.Days, r.Workload.Seed, float64(r.Workload.Bytes)/float64(max(r.Workload.Events, 1)))
		fmt.Fprintln(tw, "phase\tevents\tseconds\tevents/s\tratio to raw\tCPU µs/event\tpeak RSS\t")
		if raw := r.Raw; raw != nil {
			fmt.Fprintf(tw, "raw JetStream\t%d\t%.2f\t%.0f\t1.00\t%.1f\t%s\t\n", raw.Events, raw.Seconds, raw.EventsPerSecond,
				raw.CPUMicrosPerEvent, rss(raw.PeakRSSBytes, raw.PeakRSSScope))
		}
		if p := r.Pipeline; p != nil {
			ratio := "-"
			if p.RatioToRaw > 0 {
				ratio = fmt.Sprintf("%.2f", p.RatioToRaw)
			}
			fmt.Fprintf(tw, "pipeline\t%d\t%.2f\t%.0f\t%s\t%.1f\t%s\t\n", p.Events, p.Seconds, p.EventsPerSecond, ratio,
				p.CPUMicrosPerEvent, rss(p.PeakRSSBytes, p.PeakRSSScope))
		}
		if err := tw.Flush(); err != nil {
			return err
		}
		if raw := r.Raw; raw != nil {
			fmt.Fprintf(w, "raw: publish %.0f/s (%.2f s), consume %.0f/s (%.2f s)\n", raw.PublishPerSecond, raw.PublishSeconds,
				raw.ConsumePerSecond, raw.ConsumeSeconds)
		}
		if p := r.Pipeline; p != nil {
			fmt.Fprintf(w, "pipeline: %d alerts, %d incidents opened; ingest done after %.2f s", p.Alerts, p.Incidents, p.IngestSeconds)
			if p.DeadLettered+p.Duplicates > 0 {
				fmt.Fprintf(w, "; %d records dead-lettered, %d duplicates", p.DeadLettered, p.Duplicates)
			}
			fmt.Fprintln(w)
		}
	}
	if l := r.Latency; l != nil {
		kept := "yes"
		if !l.KeptUp {
			kept = "NO"
		}
		fmt.Fprintf(w, "\nlatency: %.0f events/s offered for %.1f s, %.0f/s achieved (%d events, %d probe breaches); kept up: %s\n",
			l.OfferedRate, l.Seconds, l.AchievedRate, l.Events, l.Probes, kept)
		fmt.Fprintf(w, "lag when the feed ended: %d events, %d alerts; caught up %.2f s later; latest hand-off to ingest %.0f ms after due\n",
			l.LagEvents, l.LagAlerts, l.DrainSeconds, l.HandoffLateMs)
		fmt.Fprintf(w, "probes with their alert: %d, with their incident: %d of %d; latencies from when each event was due\n\n",
			l.ProbeAlerts, l.ProbeIncidents, l.Probes)
		fmt.Fprintln(tw, "latency\tsamples\tp50 ms\tp95 ms\tp99 ms\tmax ms\t")
		for _, row := range []struct {
			name string
			p    Percentiles
		}{{"ingest → alert", l.Alert}, {"ingest → incident", l.Incident}} {
			fmt.Fprintf(tw, "%s\t%d\t%.1f\t%.1f\t%.1f\t%.1f\t\n", row.name, row.p.Samples, row.p.P50, row.p.P95, row.p.P99, row.p.Max)
		}
		if err := tw.Flush(); err != nil {
			return err
		}
	}
	return nil
}

// rss is a peak resident set for people, marked when it is the process's, not the phase's.
func rss(b int64, scope string) string {
	s := fmt.Sprintf("%.0f MB", float64(b)/1e6)
	if scope != ScopePhase {
		s += " (process)"
	}
	return s
}
