package history

import "testing"

// SetDirectoryBudget sets the rows ReplayDirectory holds at a time, for tb's duration.
func SetDirectoryBudget(tb testing.TB, rows int) {
	old := directoryBudget
	directoryBudget = rows
	tb.Cleanup(func() { directoryBudget = old })
}
