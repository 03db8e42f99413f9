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
