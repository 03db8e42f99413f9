//go:build !linux

package chdb

// restoreGoSignals is a no-op where the library is not supported.
func restoreGoSignals() int { return 0 }
