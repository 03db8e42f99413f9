//go:build !unix

package rules

import "time"

// cpuTime is not measured here; the cpu-ns/event metric is then 0.
func cpuTime() time.Duration { return 0 }
