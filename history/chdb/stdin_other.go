//go:build !linux

package chdb

// DetachStdin is a no-op where the library is not supported.
func DetachStdin() error { return nil }
