package detect

import (
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
)

// Metrics are registered through promreg: detectors sharing a registry share the collectors,
// and a clashing metric is an error from New, not a panic.
func TestNewRegistersMetrics(t *testing.T) {
	reg := prometheus.NewRegistry()
	a, err := New(nil, nil, nil, nil, Options{Registerer: reg})
	if err != nil {
		t.Fatal(err)
	}
	b, err := New(nil, nil, nil, nil, Options{Registerer: reg})
	if err != nil {
		t.Fatalf("second detector on the registry: %v", err)
	}
	if a.metrics.events != b.metrics.events {
		t.Error("detectors on one registry count in different collectors")
	}
	clash := prometheus.NewRegistry()
	clash.MustRegister(prometheus.NewGauge(prometheus.GaugeOpts{Name: "breach_detect_alerts_total", Help: "another metric"}))
	if _, err := New(nil, nil, nil, nil, Options{Registerer: clash}); err == nil || !strings.Contains(err.Error(), "metrics") {
		t.Fatalf("clashing registry: err = %v, want a metrics error", err)
	}
}
