package bench

import (
	"os"
	"runtime/debug"
	"syscall"
	"time"

	"github.com/prometheus/procfs"
)

// Peak RSS scopes: the peak_rss_scope of the results.
const (
	// ScopePhase: the peak was reset at the phase's start (Linux /proc/self/clear_refs), so it
	// is the highest resident set during the phase.
	ScopePhase = "phase"
	// ScopeProcess: the peak could not be reset; it is the process's highest so far (getrusage).
	ScopeProcess = "process"
)

// figures are what a meter measured over one phase.
type figures struct {
	Seconds   float64 // wall time
	UserCPU   float64 // user CPU seconds of the whole process (every thread: nats-server, chDB)
	SysCPU    float64 // system CPU seconds
	PeakRSS   int64   // bytes
	PeakScope string  // ScopePhase or ScopeProcess
}

// CPUMicrosPer is the CPU time (user + system) per unit of n, in µs; 0 when n is 0.
func (f figures) CPUMicrosPer(n int64) float64 {
	if n <= 0 {
		return 0
	}
	return (f.UserCPU + f.SysCPU) * 1e6 / float64(n)
}

// meter measures one phase of this process: wall time, CPU time (getrusage RUSAGE_SELF, so
// the in-process engines' threads count) and peak resident set (VmHWM, reset at the start
// where Linux allows).
type meter struct {
	start time.Time
	ru    syscall.Rusage
	reset bool
}

// startMeter returns what the Go heap holds and no longer uses to the OS (the garbage of what
// ran before, such as generating the workload, is not the phase's to carry), resets the peak
// resident set and takes the start readings.
func startMeter() *meter {
	debug.FreeOSMemory()
	m := &meter{reset: resetPeakRSS()}
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &m.ru)
	m.start = time.Now()
	return m
}

// stop takes the end readings.
func (m *meter) stop() figures {
	end := time.Now()
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	f := figures{Seconds: end.Sub(m.start).Seconds(),
		UserCPU:   tvSeconds(ru.Utime) - tvSeconds(m.ru.Utime),
		SysCPU:    tvSeconds(ru.Stime) - tvSeconds(m.ru.Stime),
		PeakScope: ScopeProcess, PeakRSS: ru.Maxrss * 1024} // Linux reports ru_maxrss in KiB
	if hwm, ok := vmHWM(); ok && m.reset {
		f.PeakRSS, f.PeakScope = hwm, ScopePhase
	}
	return f
}

func tvSeconds(tv syscall.Timeval) float64 { return float64(tv.Sec) + float64(tv.Usec)/1e6 }

// resetPeakRSS sets this process's VmHWM to its current resident set (Linux ≥ 4.0: "5" to
// /proc/self/clear_refs); false where that is not possible.
func resetPeakRSS() bool {
	return os.WriteFile("/proc/self/clear_refs", []byte("5"), 0) == nil
}

// vmHWM reads the peak resident set of this process (VmHWM in /proc/self/status).
func vmHWM() (int64, bool) {
	p, err := procfs.Self()
	if err != nil {
		return 0, false
	}
	st, err := p.NewStatus()
	if err != nil {
		return 0, false
	}
	return int64(st.VmHWM), true
}
