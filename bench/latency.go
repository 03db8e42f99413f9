package bench

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"breachd/bus"
	"breachd/detect"
	"breachd/event"
	"breachd/ingest"
	"breachd/notify"
	"breachd/simulate"
)

// LatencyResult is the latency phase: a simulated workload with probe breaches offered at a
// fixed rate, and how long events took from ingest to an alert and to an incident.
type LatencyResult struct {
	OfferedRate  float64 `json:"offered_events_per_second"`
	Seconds      float64 `json:"seconds"`                    // the feed: first batch due to the last one's PubAcks
	Events       int     `json:"events"`                     // handed to ingest, probes' included
	Probes       int     `json:"probes"`                     // probe breaches among them, each on a fresh account
	AchievedRate float64 `json:"achieved_events_per_second"` // Events / Seconds
	// Seed is the simulator's seed of the feed (the workload's plus one: another world on the
	// same realms, dated after the pipeline phase's workload).
	Seed int64 `json:"seed"`
	// HandoffLateMs is the most a batch was handed to ingest after it was due: ingest's
	// back-pressure. It is inside the latencies, which run from when an event was due.
	HandoffLateMs float64 `json:"handoff_late_max_ms"`
	// LagEvents is what the detector had not yet processed (pending and unacked on its
	// consumer) when the feed ended; LagAlerts the same for the notifier.
	LagEvents    uint64  `json:"lag_events"`
	LagAlerts    uint64  `json:"lag_alerts"`
	DrainSeconds float64 `json:"drain_seconds"` // from the feed's end until the detector, notifier and announcer had caught up
	// KeptUp: the achieved rate is at least 98 % of the offered one and the detector lagged by
	// at most one second of offered events when the feed ended.
	KeptUp   bool        `json:"kept_up"`
	Alert    Percentiles `json:"ingest_to_alert"`
	Incident Percentiles `json:"ingest_to_incident"`
	// ProbeAlerts and ProbeIncidents count the probes with an alert, and with an incident
	// opened, on one of their own events: each should equal Probes. The percentiles also rest
	// on the feed's own breaches.
	ProbeAlerts    int `json:"probe_alerts"`
	ProbeIncidents int `json:"probe_incidents"`
}

// Percentiles of latency samples in milliseconds (nearest rank); Samples says how many
// samples they rest on.
type Percentiles struct {
	Samples int     `json:"samples"`
	P50     float64 `json:"p50_ms"`
	P95     float64 `json:"p95_ms"`
	P99     float64 `json:"p99_ms"`
	Max     float64 `json:"max_ms"`
}

// percentiles of samples (sorted in place).
func percentiles(samples []time.Duration) Percentiles {
	p := Percentiles{Samples: len(samples)}
	if len(samples) == 0 {
		return p
	}
	slices.Sort(samples)
	rank := func(q float64) float64 {
		i := int(math.Ceil(q*float64(len(samples)))) - 1
		return ms(samples[max(i, 0)])
	}
	p.P50, p.P95, p.P99, p.Max = rank(0.50), rank(0.95), rank(0.99), ms(samples[len(samples)-1])
	return p
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

// feed is the latency phase's input, built before it is timed: the events' canonical JSON
// end to end in one buffer (few pointers for the collector to trace while the pipeline runs),
// handed to ingest batch events at a time, a batch every interval. Event n's id is prefix + n
// + "-" + the simulator's id (probe k's: ... + "-probe-<k>-<i>"), so that an alert's event id
// says when its event was due.
type feed struct {
	data     []byte
	ends     []int // end of each event's JSON in data
	batch    int
	interval time.Duration
	prefix   string
	probes   int
	seed     int64
}

func (f *feed) events() int  { return len(f.ends) }
func (f *feed) batches() int { return (len(f.ends) + f.batch - 1) / f.batch }

// records are the records of batch k, in buf's storage.
func (f *feed) records(k int, buf []ingest.Record) []ingest.Record {
	buf = buf[:0]
	for n := k * f.batch; n < min((k+1)*f.batch, len(f.ends)); n++ {
		start := 0
		if n > 0 {
			start = f.ends[n-1]
		}
		buf = append(buf, ingest.Record{Data: f.data[start:f.ends[n]:f.ends[n]], Where: "bench"})
	}
	return buf
}

// batchOf is the batch of the event with id, if it is the feed's.
func (f *feed) batchOf(id string) (int, bool) {
	n, _, ok := f.parseID(id)
	return n / f.batch, ok
}

// probeOf is the probe the event with id belongs to, if it is one of the feed's probes.
func (f *feed) probeOf(id string) (int, bool) {
	_, sim, ok := f.parseID(id)
	if !ok {
		return 0, false
	}
	rest, ok := strings.CutPrefix(sim, "probe-")
	if !ok {
		return 0, false
	}
	k, _, ok := strings.Cut(rest, "-")
	n, err := strconv.Atoi(k)
	if !ok || err != nil || n < 0 || n >= f.probes {
		return 0, false
	}
	return n, true
}

// parseID splits the id of a feed's event into its number in the feed and the simulator's
// (or the probe's) id.
func (f *feed) parseID(id string) (n int, sim string, ok bool) {
	rest, ok := strings.CutPrefix(id, f.prefix)
	if !ok {
		return 0, "", false
	}
	seq, sim, ok := strings.Cut(rest, "-")
	n, err := strconv.Atoi(seq)
	if !ok || err != nil || n < 0 || n >= len(f.ends) {
		return 0, "", false
	}
	return n, sim, true
}

// add appends e, numbered, to the feed.
func (f *feed) add(e *event.Event) error {
	e.ID = f.prefix + strconv.Itoa(len(f.ends)) + "-" + e.ID
	data, err := marshal(e)
	if err != nil {
		return err
	}
	f.data = append(f.data, data...)
	f.ends = append(f.ends, len(f.data))
	return nil
}

// timeline dates the run's two workloads so that every account's events move forward in time
// from the pipeline phase to the latency phase. sim is the pipeline phase's workload; the
// latency feed of rate × d events is the simulator's with seed sim.Seed+1 (another world on the
// same realms, so that the pipeline phase's windows, suppressions and open incidents are not
// its accounts'), over enough days (weekday sizes, and half again for weekends) ending on the
// last weekday before now. The pipeline workload ends whole weeks before that weekday (the
// same weekdays as ending on it), before the evening of the feed's directory snapshot.
func timeline(sim simulate.Config, rate int, d time.Duration, now time.Time) (pipeline, latency simulate.Config) {
	last := simulate.LastSchoolDay(now)
	latency = sim
	latency.Seed = sim.Seed + 1
	est := simulate.EstimateEvents(latency)
	latency.Days = min(int(float64(feedSize(rate, d))/float64(max(est.Weekday, 1))*1.5)+2, simulate.MaxDays)
	latency.Start = last.AddDate(0, 0, -(latency.Days - 1))
	weeks := (latency.Days + 7) / 7 // 7 × weeks > latency.Days: the snapshot is dated the evening before its Start
	pipeline = sim
	pipeline.Start = last.AddDate(0, 0, -7*weeks-max(sim.Days-1, 0))
	return pipeline, latency
}

// feedSize is the number of events of a feed at rate for d.
func feedSize(rate int, d time.Duration) int { return int(float64(rate) * d.Seconds()) }

// buildFeed builds a feed of rate × d events: the events of sim (the latency workload of
// timeline) with a probe breach every 1/probes seconds of the feed, the kinds in turn, dated
// now. tag is the run's.
func buildFeed(ctx context.Context, sim simulate.Config, tag string, rate int, d time.Duration, probes float64, now time.Time) (*feed, error) {
	total := feedSize(rate, d)
	probeEvery := math.MaxInt
	if probes > 0 {
		probeEvery = max(int(min(float64(rate)/probes, float64(total+1))), 1)
	}
	realm := sim.Realms()[0]
	f := &feed{batch: min(max(rate/100, 1), 1000), prefix: tag + "-l-", seed: sim.Seed, // a batch every 10 ms
		data: make([]byte, 0, total*420), ends: make([]int, 0, total+21)}
	f.interval = time.Duration(float64(time.Second) * float64(f.batch) / float64(rate))
	nextProbe := probeEvery
	_, err := simulated(ctx, sim, 0, func(e *event.Event) error {
		if f.events() >= total {
			return errEnough
		}
		if err := f.add(e); err != nil {
			return err
		}
		if f.events() >= nextProbe && f.events() < total {
			nextProbe += probeEvery
			for _, pe := range probe(probeKinds[f.probes%len(probeKinds)], tag, realm, f.probes, now) {
				if err := f.add(&pe); err != nil {
					return err
				}
			}
			f.probes++
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	if f.events() < total {
		return nil, fmt.Errorf("latency workload: the simulator gave %d events, want %d (lower --rate or --duration)", f.events(), total)
	}
	return f, nil
}

// due is when batch k of a feed offered from start is due: t0 of its events.
func (f *feed) due(start time.Time, k int) time.Time { return start.Add(time.Duration(k) * f.interval) }

// offer hands the feed's batches to sink at its rate: batch k when it is due (f.due); a late
// batch goes at once, and the ones after it keep their schedule. It returns when the first
// batch was due, when the last one had its PubAcks, and the most a batch was handed over late.
func (f *feed) offer(ctx context.Context, sink ingest.Sink, prog *progress) (start, end time.Time, late time.Duration, err error) {
	prog.begin("latency", int64(f.events()))
	start = time.Now()
	timer := time.NewTimer(0)
	defer timer.Stop()
	var recs []ingest.Record
	n := 0
	for k := range f.batches() {
		recs = f.records(k, recs)
		if wait := time.Until(f.due(start, k)); wait > 0 {
			timer.Reset(wait)
			select {
			case <-ctx.Done():
				return start, end, late, ctx.Err()
			case <-timer.C:
			}
		} else {
			late = max(late, -wait)
		}
		if _, err := sink.Submit(ctx, ingest.Batch{Source: "bench", Records: recs}); err != nil {
			return start, end, late, err
		}
		n += len(recs)
		prog.set(int64(n))
	}
	return start, time.Now(), late, nil
}

// arrival is a message seen on a subscription and when.
type arrival struct {
	at   time.Time
	data []byte
}

// watcher collects the alerts and opened incidents published while it is subscribed. Its
// callbacks only keep what arrives, and when; it is decoded after the phase.
type watcher struct {
	mu                sync.Mutex
	alerts, incidents []arrival
	subs              []*nats.Subscription
}

// watch subscribes on nc (core NATS) to every alert and every incident's opening change.
func watch(nc *nats.Conn) (*watcher, error) {
	w := &watcher{}
	for subject, to := range map[string]*[]arrival{
		bus.SubjectAlerts + ".>":                         &w.alerts,
		bus.SubjectIncidents + "." + notify.ChangeOpened: &w.incidents,
	} {
		sub, err := nc.Subscribe(subject, func(m *nats.Msg) {
			a := arrival{at: time.Now(), data: m.Data}
			w.mu.Lock()
			*to = append(*to, a)
			w.mu.Unlock()
		})
		if err != nil {
			w.stop()
			return nil, fmt.Errorf("subscribe to %s: %w (the bench's NATS user must be allowed to)", subject, err)
		}
		_ = sub.SetPendingLimits(-1, -1) // a slow bench must not drop what it measures
		w.subs = append(w.subs, sub)
	}
	return w, nc.Flush() // subscribed before the first event
}

func (w *watcher) stop() {
	for _, s := range w.subs {
		_ = s.Unsubscribe()
	}
}

// distinct counts the distinct alerts and opened incidents w saw.
func (w *watcher) distinct() (alerts, incidents int, err error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	for _, c := range []struct {
		from []arrival
		n    *int
	}{{w.alerts, &alerts}, {w.incidents, &incidents}} {
		ids := map[string]bool{}
		for _, a := range c.from {
			var v struct{ ID string }
			if err := json.Unmarshal(a.data, &v); err != nil {
				return 0, 0, fmt.Errorf("alert or incident: %w", err)
			}
			ids[v.ID] = true
		}
		*c.n = len(ids)
	}
	return alerts, incidents, nil
}

// latencies matches what w saw to the feed offered from start: an alert to its event (one
// sample per alert id), an opened incident to its opening alert's event (one per incident id),
// each from when the event was due. probeAlerts and probeIncidents count the probes with an
// alert, and with an incident opened, on one of their own events.
func (w *watcher) latencies(f *feed, start time.Time) (alerts, incidents []time.Duration, probeAlerts, probeIncidents int, err error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	alerted, opened := map[int]bool{}, map[int]bool{} // probes
	eventOf := map[string]string{}                    // alert id → event id
	for _, a := range w.alerts {
		var al event.Alert
		if err := json.Unmarshal(a.data, &al); err != nil {
			return nil, nil, 0, 0, fmt.Errorf("alert on ALERTS: %w", err)
		}
		if _, seen := eventOf[al.ID]; seen {
			continue // republished (a redelivered batch); JetStream dropped the copy
		}
		eventOf[al.ID] = al.EventID
		if b, ok := f.batchOf(al.EventID); ok {
			alerts = append(alerts, a.at.Sub(f.due(start, b)))
		}
		if k, ok := f.probeOf(al.EventID); ok {
			alerted[k] = true
		}
	}
	seen := map[string]bool{}
	for _, a := range w.incidents {
		var inc event.Incident
		if err := json.Unmarshal(a.data, &inc); err != nil {
			return nil, nil, 0, 0, fmt.Errorf("incident on INCIDENTS: %w", err)
		}
		if seen[inc.ID] {
			continue
		}
		seen[inc.ID] = true
		if b, ok := f.batchOf(eventOf[inc.OpeningAlert]); ok {
			incidents = append(incidents, a.at.Sub(f.due(start, b)))
		}
		if k, ok := f.probeOf(eventOf[inc.OpeningAlert]); ok {
			opened[k] = true
		}
	}
	return alerts, incidents, len(alerted), len(opened), nil
}

// latencyPhase offers f to sink at the configured rate, watching the alerts and incidents on
// the bench's connection, and reads the consumers' lag when the feed ends.
func (s *stages) latencyPhase(ctx context.Context, sink ingest.Sink, f *feed) (*LatencyResult, error) {
	w, err := watch(s.nc)
	if err != nil {
		return nil, err
	}
	defer w.stop()
	res := &LatencyResult{OfferedRate: float64(s.cfg.Rate), Events: f.events(), Probes: f.probes, Seed: f.seed}
	start, end, late, err := f.offer(ctx, sink, s.prog)
	if err != nil {
		return nil, err
	}
	res.Seconds, res.HandoffLateMs = end.Sub(start).Seconds(), ms(late)
	if res.LagEvents, err = pending(ctx, s.js, bus.StreamEvents, detect.DurableName(0, 1)); err != nil {
		return nil, err
	}
	if res.LagAlerts, err = pending(ctx, s.js, bus.StreamAlerts, notify.DefaultDurable); err != nil {
		return nil, err
	}
	s.prog.wait("latency: catching up", detectorLag(ctx, s.js))
	if err := caughtUp(ctx, s.js); err != nil {
		return nil, err
	}
	res.DrainSeconds = time.Since(end).Seconds()
	res.AchievedRate = rate(res.Events, res.Seconds)
	res.KeptUp = res.AchievedRate >= 0.98*res.OfferedRate && float64(res.LagEvents) <= res.OfferedRate
	alerts, incidents, probeAlerts, probeIncidents, err := w.latencies(f, start)
	if err != nil {
		return nil, err
	}
	res.ProbeAlerts, res.ProbeIncidents = probeAlerts, probeIncidents
	res.Alert, res.Incident = percentiles(alerts), percentiles(incidents)
	return res, nil
}

// pending is what the durable consumer on stream has yet to process: pending plus delivered
// and unacked.
func pending(ctx context.Context, js jetstream.JetStream, stream, durable string) (uint64, error) {
	c, err := js.Consumer(ctx, stream, durable)
	if err != nil {
		return 0, fmt.Errorf("consumer %s on %s: %w", durable, stream, err)
	}
	info, err := c.Info(ctx)
	if err != nil {
		return 0, fmt.Errorf("consumer %s on %s: %w", durable, stream, err)
	}
	return info.NumPending + uint64(info.NumAckPending), nil
}
