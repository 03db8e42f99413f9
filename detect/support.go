package detect

import (
	"cmp"
	"encoding/json"
	"fmt"
	"slices"
	"strconv"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"

	"breachd/event"
	"breachd/promreg"
)

// evalKey identifies one stored event: its stream sequence, and its id as a check against a
// stream that was recreated while the detector ran. seq 0 means unknown (never remembered).
type evalKey struct {
	seq uint64
	id  string
}

// keyOf returns the key of m, whose event has id, and whether m was delivered before (to this
// or another detector, before a restart or a failed batch; also when its metadata cannot be
// read, to be safe).
func keyOf(m jetstream.Msg, id string) (key evalKey, redelivered bool) {
	md, err := m.Metadata()
	if err != nil {
		return evalKey{}, true
	}
	return evalKey{seq: md.Sequence.Stream, id: id}, md.NumDelivered > 1
}

// evaluated remembers the alerts of events that were applied and evaluated in a batch that was
// not made durable, until they come back and are acked. A redelivered event found here is not
// applied or evaluated again: the rules' suppression state has already seen its hit (a second
// evaluation would fold the alert into one that was never published), its window counts
// already include it, and re-applying an old directory change after the newer ones of later
// batches (a nak'd batch comes back after them) would undo those.
//
// Bounded by limit entries, which is the consumer's MaxAckPending, so with one detector on the
// durable nothing is dropped; with several, events redelivered to another detector linger until
// evicted, lowest sequence first. An evicted or unknown event is evaluated again when it comes
// back, as is one redelivered after its ack was lost or after a restart. Not safe for
// concurrent use.
type evaluated struct {
	limit  int
	alerts map[evalKey][]event.Alert
}

func newEvaluated(limit int) *evaluated {
	return &evaluated{limit: limit, alerts: make(map[evalKey][]event.Alert)}
}

// get returns the alerts remembered for k, and whether k was evaluated before.
func (v *evaluated) get(k evalKey) ([]event.Alert, bool) {
	if k.seq == 0 {
		return nil, false
	}
	a, ok := v.alerts[k]
	return a, ok
}

// remember records alerts[i] (possibly none) as the evaluation of keys[i].
func (v *evaluated) remember(keys []evalKey, alerts [][]event.Alert) {
	for i, k := range keys {
		if k.seq != 0 {
			v.alerts[k] = alerts[i]
		}
	}
	if over := len(v.alerts) - v.limit; over > 0 {
		all := make([]evalKey, 0, len(v.alerts))
		for k := range v.alerts {
			all = append(all, k)
		}
		slices.SortFunc(all, func(a, b evalKey) int { return cmp.Compare(a.seq, b.seq) })
		for _, k := range all[:over] {
			delete(v.alerts, k)
		}
	}
}

// forget drops keys once their events are durable and acked.
func (v *evaluated) forget(keys []evalKey) {
	if len(v.alerts) == 0 {
		return
	}
	for _, k := range keys {
		delete(v.alerts, k)
	}
}

func alertJSON(a *event.Alert) ([]byte, error) {
	b, err := json.Marshal(a)
	if err != nil {
		return nil, fmt.Errorf("marshal alert %s: %w", a.ID, err)
	}
	return b, nil
}

type metrics struct {
	events, alerts, invalid, batchFailures prometheus.Counter
	warmed, misrouted, rewritesSkipped     prometheus.Counter
	orgMismatch, takeovers                 prometheus.Counter
	active                                 prometheus.Gauge
	batchSeconds                           prometheus.Histogram
}

func newMetrics(reg prometheus.Registerer, member int) (*metrics, error) {
	labels := prometheus.Labels{"member": strconv.Itoa(member)}
	m := &metrics{
		active: prometheus.NewGauge(prometheus.GaugeOpts{Name: "breach_detect_active", ConstLabels: labels,
			Help: "1 while this detector holds the pin of its member's durable (active), 0 while it stands by."}),
		takeovers: prometheus.NewCounter(prometheus.CounterOpts{Name: "breach_detect_takeovers_total", ConstLabels: labels,
			Help: "Times this detector became active: on start and after another detector of its member stopped."}),
		events:        prometheus.NewCounter(prometheus.CounterOpts{Name: "breach_detect_events_total", Help: "Events evaluated and written to history."}),
		alerts:        prometheus.NewCounter(prometheus.CounterOpts{Name: "breach_detect_alerts_total", Help: "Alerts published."}),
		invalid:       prometheus.NewCounter(prometheus.CounterOpts{Name: "breach_detect_invalid_messages_total", Help: "Undecodable messages terminated."}),
		batchFailures: prometheus.NewCounter(prometheus.CounterOpts{Name: "breach_detect_batch_failures_total", Help: "Batches left for redelivery."}),
		warmed:        prometheus.NewCounter(prometheus.CounterOpts{Name: "breach_detect_warmup_events_total", Help: "Events replayed into window state on start."}),
		misrouted: prometheus.NewCounter(prometheus.CounterOpts{Name: "breach_detect_misrouted_events_total",
			Help: "Activity events on a partition their account does not hash to (a publisher with another partition count)."}),
		rewritesSkipped: prometheus.NewCounter(prometheus.CounterOpts{Name: "breach_detect_rewrites_skipped_total",
			Help: "Events of redelivered or retried batches not written again because history already held them."}),
		orgMismatch: prometheus.NewCounter(prometheus.CounterOpts{Name: "breach_detect_org_mismatch_total",
			Help: "Alerts whose event claimed another organisation than the account's home organisation (filed under the home one)."}),
		batchSeconds: prometheus.NewHistogram(prometheus.HistogramOpts{Name: "breach_detect_batch_seconds", Help: "Time to make one batch durable.",
			Buckets: prometheus.ExponentialBuckets(0.001, 4, 8)}),
	}
	err := promreg.All(reg, promreg.Of(&m.events), promreg.Of(&m.alerts), promreg.Of(&m.invalid), promreg.Of(&m.batchFailures),
		promreg.Of(&m.warmed), promreg.Of(&m.misrouted), promreg.Of(&m.rewritesSkipped), promreg.Of(&m.orgMismatch),
		promreg.Of(&m.batchSeconds), promreg.Of(&m.active), promreg.Of(&m.takeovers))
	if err != nil {
		return nil, fmt.Errorf("detect: metrics: %w", err)
	}
	return m, nil
}
