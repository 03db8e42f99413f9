//go:build faults

package main

import (
	"fmt"
	"os"
	"syscall"
)

// The crash tests' fault point, only in a binary built with -tags faults (cmd/breachd's
// TestMain builds it so): BREACHD_FAULT=kill-after-insert kills the process with SIGKILL
// right after the detector stored its first batch of events in history and before it acked
// anything.
func init() {
	if os.Getenv("BREACHD_FAULT") != "kill-after-insert" {
		return
	}
	afterEventsWritten = func() {
		fmt.Fprintln(os.Stderr, "BREACHD_FAULT=kill-after-insert: killing myself after the insert, before the ack")
		_ = syscall.Kill(os.Getpid(), syscall.SIGKILL)
		select {}
	}
}
