package api

import (
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	dto "github.com/prometheus/client_model/go"

	"breachd/auth"
	"breachd/bus"
)

// pipelineStreams are the streams GET /api/pipeline reports, in pipeline order.
var pipelineStreams = []string{bus.StreamEvents, bus.StreamAlerts, bus.StreamIncidents, bus.StreamDLQ}

// pipelineStream is one stream of GET /api/pipeline.
type pipelineStream struct {
	Name      string             `json:"name"`
	Exists    bool               `json:"exists"` // false: not created yet (no pipeline has started)
	Messages  uint64             `json:"messages"`
	Bytes     uint64             `json:"bytes"`
	FirstSeq  uint64             `json:"first_seq"`
	LastSeq   uint64             `json:"last_seq"`
	LastTime  *time.Time         `json:"last_time"` // of the last message; null when empty
	Consumers []pipelineConsumer `json:"consumers"`
}

// pipelineConsumer is a durable consumer of a stream.
type pipelineConsumer struct {
	Name        string     `json:"name"`
	Pending     uint64     `json:"pending"` // messages not yet delivered to it: its lag
	AckPending  int        `json:"ack_pending"`
	Redelivered int        `json:"redelivered"`
	Waiting     int        `json:"waiting"`     // pull requests waiting
	LastActive  *time.Time `json:"last_active"` // of the last delivery; null when none
}

// deadLetters counts the DEADLETTER stream's letters, in total and by source (the last token
// of breachd.dlq.<source>).
type deadLetters struct {
	Total    uint64            `json:"total"`
	BySource map[string]uint64 `json:"by_source"`
}

// pipelineMetric is one breach_* counter or gauge of the process's registry.
type pipelineMetric struct {
	Name   string            `json:"name"`
	Type   string            `json:"type"` // counter or gauge
	Labels map[string]string `json:"labels"`
	Value  float64           `json:"value"`
}

// pipelineAnswer is the answer of GET /api/pipeline.
type pipelineAnswer struct {
	Time        time.Time        `json:"time"` // of the sample, for rates between two
	Streams     []pipelineStream `json:"streams"`
	DeadLetters deadLetters      `json:"dead_letters"`
	Metrics     []pipelineMetric `json:"metrics"`
}

// pipeline answers the state of the streams and their consumers, the dead letters and the
// breach_* counters and gauges of this process (a client computes rates from two samples).
// The streams' figures are JetStream's; the metrics are this process's only (in a split
// deployment each process has its own /metrics).
func (s *Server) pipeline(_ http.ResponseWriter, r *http.Request, _ *auth.Principal) (any, error) {
	if s.cfg.JS == nil {
		return nil, &apiError{http.StatusServiceUnavailable, codeUnavailable, "no NATS connection on this server"}
	}
	ctx := r.Context()
	out := pipelineAnswer{Time: time.Now().UTC(), Streams: []pipelineStream{}, DeadLetters: deadLetters{BySource: map[string]uint64{}}}
	for _, name := range pipelineStreams {
		ps := pipelineStream{Name: name, Consumers: []pipelineConsumer{}}
		st, err := s.cfg.JS.Stream(ctx, name)
		if errors.Is(err, jetstream.ErrStreamNotFound) {
			out.Streams = append(out.Streams, ps)
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("stream %s: %w", name, err)
		}
		info := st.CachedInfo()    // as of js.Stream, just now
		if name == bus.StreamDLQ { // again, with the letters per subject, breachd.dlq.<source>
			if info, err = st.Info(ctx, jetstream.WithSubjectFilter(bus.SubjectDLQ+".>")); err != nil {
				return nil, fmt.Errorf("stream %s info: %w", name, err)
			}
		}
		state := info.State
		ps.Exists, ps.Messages, ps.Bytes, ps.FirstSeq, ps.LastSeq = true, state.Msgs, state.Bytes, state.FirstSeq, state.LastSeq
		if state.Msgs > 0 && !state.LastTime.IsZero() {
			t := state.LastTime.UTC()
			ps.LastTime = &t
		}
		if name == bus.StreamDLQ {
			out.DeadLetters.Total = state.Msgs
			for subj, n := range state.Subjects {
				out.DeadLetters.BySource[strings.TrimPrefix(subj, bus.SubjectDLQ+".")] += n
			}
		}
		list := st.ListConsumers(ctx)
		for ci := range list.Info() {
			pc := pipelineConsumer{Name: ci.Name, Pending: ci.NumPending, AckPending: ci.NumAckPending,
				Redelivered: ci.NumRedelivered, Waiting: ci.NumWaiting}
			if ci.Delivered.Last != nil {
				t := ci.Delivered.Last.UTC()
				pc.LastActive = &t
			}
			ps.Consumers = append(ps.Consumers, pc)
		}
		if err := list.Err(); err != nil {
			return nil, fmt.Errorf("stream %s consumers: %w", name, err)
		}
		slices.SortFunc(ps.Consumers, func(a, b pipelineConsumer) int { return strings.Compare(a.Name, b.Name) })
		out.Streams = append(out.Streams, ps)
	}
	var err error
	if out.Metrics, err = s.breachMetrics(); err != nil {
		return nil, err
	}
	return out, nil
}

// breachMetrics are the breach_* counters and gauges of Config.Registry.
func (s *Server) breachMetrics() ([]pipelineMetric, error) {
	fams, err := s.cfg.Registry.Gather()
	if err != nil {
		return nil, fmt.Errorf("gather metrics: %w", err)
	}
	out := []pipelineMetric{}
	for _, f := range fams {
		if !strings.HasPrefix(f.GetName(), "breach_") {
			continue
		}
		for _, m := range f.GetMetric() {
			pm := pipelineMetric{Name: f.GetName(), Labels: map[string]string{}}
			switch f.GetType() {
			case dto.MetricType_COUNTER:
				pm.Type, pm.Value = "counter", m.GetCounter().GetValue()
			case dto.MetricType_GAUGE:
				pm.Type, pm.Value = "gauge", m.GetGauge().GetValue()
			default: // histograms and summaries: their rates are for /metrics and Prometheus
				continue
			}
			for _, l := range m.GetLabel() {
				pm.Labels[l.GetName()] = l.GetValue()
			}
			out = append(out, pm)
		}
	}
	return out, nil
}
