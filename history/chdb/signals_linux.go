//go:build linux

package chdb

import (
	"syscall"
	"unsafe"
)

// kernelSigaction is the kernel's struct sigaction on linux/amd64 and
// linux/arm64 (the layout the Go runtime itself uses for rt_sigaction).
type kernelSigaction struct {
	handler  uintptr
	flags    uint64
	restorer uintptr
	mask     uint64
}

// guardedSignals are the synchronous signals the Go runtime turns into
// panics or crash reports (SIGILL, SIGTRAP, SIGABRT, SIGBUS, SIGFPE,
// SIGSEGV, SIGSYS). chdb_connect resets them to SIG_DFL even with
// chdb_set_signal_handlers_enabled(0) (with handlers enabled it installs its
// own crash handler instead, which stalls for minutes on a Go nil
// dereference). Either way a recoverable Go panic would kill the process.
var guardedSignals = [...]int{
	int(syscall.SIGILL), int(syscall.SIGTRAP), int(syscall.SIGABRT),
	int(syscall.SIGBUS), int(syscall.SIGFPE), int(syscall.SIGSEGV),
	int(syscall.SIGSYS),
}

// signalSet is a snapshot of the handlers of guardedSignals.
type signalSet [len(guardedSignals)]kernelSigaction

// goSignals holds the Go runtime's own handlers, captured at package
// initialisation, i.e. before chDB can have been loaded. Signal dispositions
// are process state, so this is the one package-level value: a read-only
// snapshot of what the runtime installed.
var goSignals = captureSignals()

func captureSignals() signalSet {
	var s signalSet
	for i, sig := range guardedSignals {
		_, _, errno := syscall.RawSyscall6(syscall.SYS_RT_SIGACTION, uintptr(sig), 0,
			uintptr(unsafe.Pointer(&s[i])), unsafe.Sizeof(s[i].mask), 0, 0)
		if errno != 0 {
			s[i] = kernelSigaction{}
		}
	}
	return s
}

// restoreGoSignals puts back any Go runtime handler that the library
// replaced. It reports how many handlers it restored. Cheap (a few
// rt_sigaction system calls); called after every call into chDB that may
// touch signal state.
func restoreGoSignals() int {
	cur := captureSignals()
	n := 0
	for i, sig := range guardedSignals {
		want := goSignals[i]
		if want.handler <= 1 || cur[i] == want { // SIG_DFL / SIG_IGN: not the runtime's
			continue
		}
		_, _, errno := syscall.RawSyscall6(syscall.SYS_RT_SIGACTION, uintptr(sig),
			uintptr(unsafe.Pointer(&want)), 0, unsafe.Sizeof(want.mask), 0, 0)
		if errno == 0 {
			n++
		}
	}
	return n
}
