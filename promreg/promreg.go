// Package promreg registers Prometheus collectors that several components of one process may
// register alike (two detectors, a reloaded configuration, engines sharing a registry): the
// second registration of an identical collector gets the first one back instead of an error.
package promreg

import (
	"errors"

	"github.com/prometheus/client_golang/prometheus"
)

// Register registers c with reg and returns it, or the identical collector registered before.
// Any other registration error (a different metric with the same name) is returned with c.
// A nil reg registers nothing.
func Register[C prometheus.Collector](reg prometheus.Registerer, c C) (C, error) {
	if reg == nil {
		return c, nil
	}
	err := reg.Register(c)
	var are prometheus.AlreadyRegisteredError
	if errors.As(err, &are) {
		if existing, ok := are.ExistingCollector.(C); ok {
			return existing, nil
		}
	}
	return c, err
}

// Field is a collector field of a metrics struct, for All; see Of.
type Field interface {
	register(reg prometheus.Registerer) error
}

type field[C prometheus.Collector] struct{ p *C }

func (f field[C]) register(reg prometheus.Registerer) error {
	var err error
	*f.p, err = Register(reg, *f.p)
	return err
}

// Of names the collector field *p for All.
func Of[C prometheus.Collector](p *C) Field { return field[C]{p} }

// All registers the collectors of fields with reg in order, each like Register: a field whose
// identical collector was registered before is set to that one, so components sharing a
// registry share their counters. It stops at the first other error and returns it, naming
// nothing registered after it. A nil reg registers nothing.
//
//	if err := promreg.All(reg, promreg.Of(&m.sent), promreg.Of(&m.latency)); err != nil {
//		return nil, fmt.Errorf("metrics: %w", err)
//	}
func All(reg prometheus.Registerer, fields ...Field) error {
	for _, f := range fields {
		if err := f.register(reg); err != nil {
			return err
		}
	}
	return nil
}
