package promreg

import (
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
)

func TestRegister(t *testing.T) {
	reg := prometheus.NewRegistry()
	opts := prometheus.CounterOpts{Name: "x_total", Help: "x"}
	first, err := Register(reg, prometheus.NewCounter(opts))
	if err != nil {
		t.Fatal(err)
	}
	second, err := Register(reg, prometheus.NewCounter(opts))
	if err != nil || second != first {
		t.Fatalf("second registration: %v, same collector %v", err, second == first)
	}
	if _, err := Register(reg, prometheus.NewGauge(prometheus.GaugeOpts{Name: "x_total", Help: "other"})); err == nil {
		t.Error("a different metric with the same name was accepted")
	}
	if c, err := Register[prometheus.Counter](nil, first); err != nil || c != first {
		t.Errorf("nil registry: %v", err)
	}
}

func TestAll(t *testing.T) {
	reg := prometheus.NewRegistry()
	type metrics struct {
		n   prometheus.Counter
		vec *prometheus.CounterVec
	}
	newMetrics := func() *metrics {
		return &metrics{
			n:   prometheus.NewCounter(prometheus.CounterOpts{Name: "n_total", Help: "n"}),
			vec: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "v_total", Help: "v"}, []string{"k"}),
		}
	}
	a, b := newMetrics(), newMetrics()
	for _, m := range []*metrics{a, b} {
		if err := All(reg, Of(&m.n), Of(&m.vec)); err != nil {
			t.Fatal(err)
		}
	}
	if b.n != a.n || b.vec != a.vec {
		t.Fatal("the second struct did not get the collectors registered first")
	}
	b.n.Inc()
	var got dto.Metric
	if err := a.n.Write(&got); err != nil || got.GetCounter().GetValue() != 1 {
		t.Fatalf("shared counter = %v (%v), want 1", got.GetCounter().GetValue(), err)
	}
	clash := prometheus.NewGauge(prometheus.GaugeOpts{Name: "v_total", Help: "other"})
	late := prometheus.NewCounter(prometheus.CounterOpts{Name: "late_total", Help: "l"})
	if err := All(reg, Of(&clash), Of(&late)); err == nil {
		t.Fatal("a different metric with the same name was accepted")
	}
	if reg.Unregister(late) {
		t.Fatal("a collector after the failed one was registered")
	}
	if err := All(nil, Of(&a.n)); err != nil {
		t.Fatalf("nil registry: %v", err)
	}
}
