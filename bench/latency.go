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
	Seconds      float64 `json:"seconds"`                    // the feed: first batch handed to ingest to the last one's PubAcks
	Events       int     `json:"events"`                     // handed to ingest, probes' included
	Probes       int     `json:"probes"`                     // probe breaches among them, each on a fresh account
	AchievedRate float64 `json:"achieved_events_per_second"` // Events / Seconds
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
// handed to ingest batch events at a time. Event n's id is prefix + n + "-" + the simulator's
// id, so that an alert's event id says when its event was handed to ingest.
type feed struct {
	data   []byte
	ends   []int // end of each event's JSON in data
	batch  int
	prefix string
	probes int
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
	rest, ok := strings.CutPrefix(id, f.prefix)
	if !ok {
		return 0, false
	}
	seq, _, ok := strings.Cut(rest, "-")
	n, err := strconv.Atoi(seq)
	if !ok || err != nil || n < 0 || n >= len(f.ends) {
		return 0, false
	}
	return n / f.batch, true
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

// buildFeed builds a feed of rate × d events: the simulator's events with a probe breach every
// 1/probes seconds of the feed, the kinds in turn. tag is the run's.
func buildFeed(ctx context.Context, sim simulate.Config, tag string, rate int, d time.Duration, probes float64, now time.Time) (*feed, error) {
	total := int(float64(rate) * d.Seconds())
	probeEvery := math.MaxInt
	if probes > 0 {
		probeEvery = max(int(float64(rate)/probes), 1)
	}
	// Enough simulated days for the feed (weekday sizes, and half again for weekends), ending
	// on the last weekday before today.
	est := simulate.EstimateEvents(sim)
	sim.Days = min(int(float64(total)/float64(max(est.Weekday, 1))*1.5)+2, simulate.MaxDays)
	sim.Start = simulate.LastSchoolDay(now).AddDate(0, 0, -(sim.Days - 1))
	realm := sim.Realms()[0]
	f := &feed{batch: min(max(rate/100, 1), 1000), prefix: tag + "-l-", // a batch every 10 ms
		data: make([]byte, 0, total*420), ends: make([]int, 0, total+21)}
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

// offer hands the feed's batches to sink at rate events per second: batch k at start + k ×
// the batch's share of a second; a late batch goes at once, and the ones after it keep their
// schedule. handed[k] is when batch k was handed to ingest (t0 of its events). It returns when
// the first batch was due and when the last one had its PubAcks.
func (f *feed) offer(ctx context.Context, sink ingest.Sink, rate int, handed []time.Time, prog *progress) (start, end time.Time, err error) {
	prog.begin("latency", int64(f.events()))
	interval := time.Duration(float64(time.Second) * float64(f.batch) / float64(rate))
	start = time.Now()
	timer := time.NewTimer(0)
	defer timer.Stop()
	var recs []ingest.Record
	n := 0
	for k := range f.batches() {
		recs = f.records(k, recs)
		if wait := time.Until(start.Add(time.Duration(k) * interval)); wait > 0 {
			timer.Reset(wait)
			select {
			case <-ctx.Done():
				return start, end, ctx.Err()
			case <-timer.C:
			}
		}
		handed[k] = time.Now()
		if _, err := sink.Submit(ctx, ingest.Batch{Source: "bench", Records: recs}); err != nil {
			return start, end, err
		}
		n += len(recs)
		prog.set(int64(n))
	}
	return start, time.Now(), nil
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

// latencies matches what w saw to the feed's events: an alert to its event (one sample per
// alert id), an opened incident to its opening alert's event (one per incident id).
func (w *watcher) latencies(f *feed, handed []time.Time) (alerts, incidents []time.Duration, err error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	eventOf := map[string]string{} // alert id → event id
	for _, a := range w.alerts {
		var al event.Alert
		if err := json.Unmarshal(a.data, &al); err != nil {
			return nil, nil, fmt.Errorf("alert on ALERTS: %w", err)
		}
		if _, seen := eventOf[al.ID]; seen {
			continue // republished (a redelivered batch); JetStream dropped the copy
		}
		eventOf[al.ID] = al.EventID
		if b, ok := f.batchOf(al.EventID); ok {
			alerts = append(alerts, a.at.Sub(handed[b]))
		}
	}
	seen := map[string]bool{}
	for _, a := range w.incidents {
		var inc event.Incident
		if err := json.Unmarshal(a.data, &inc); err != nil {
			return nil, nil, fmt.Errorf("incident on INCIDENTS: %w", err)
		}
		if seen[inc.ID] {
			continue
		}
		seen[inc.ID] = true
		if b, ok := f.batchOf(eventOf[inc.OpeningAlert]); ok {
			incidents = append(incidents, a.at.Sub(handed[b]))
		}
	}
	return alerts, incidents, nil
}

// latencyPhase offers f to sink at the configured rate, watching the alerts and incidents on
// the bench's connection, and reads the consumers' lag when the feed ends.
func (s *stages) latencyPhase(ctx context.Context, sink ingest.Sink, f *feed) (*LatencyResult, error) {
	w, err := watch(s.nc)
	if err != nil {
		return nil, err
	}
	defer w.stop()
	res := &LatencyResult{OfferedRate: float64(s.cfg.Rate), Events: f.events(), Probes: f.probes}
	handed := make([]time.Time, f.batches())
	start, end, err := f.offer(ctx, sink, s.cfg.Rate, handed, s.prog)
	if err != nil {
		return nil, err
	}
	res.Seconds = end.Sub(start).Seconds()
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
	alerts, incidents, err := w.latencies(f, handed)
	if err != nil {
		return nil, err
	}
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
