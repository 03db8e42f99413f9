package respond

import (
	"errors"

	"breachd/retry"
)

// Errors returned by the engine (wrapped); callers branch on them with errors.Is.
var (
	// ErrNotFound: no request for that incident.
	ErrNotFound = errors.New("no deactivation request for this incident")
	// ErrState: the request is not in a state that allows the operation.
	ErrState = errors.New("request is not in a state that allows this")
	// ErrStepsOpen: reactivation refused because steps of the breach procedure are not done.
	ErrStepsOpen = errors.New("reactivation refused: procedure steps not recorded done")
	// ErrTargetMismatch: a request for the incident exists with another org or account.
	ErrTargetMismatch = errors.New("incident already has a request for another account")
	// ErrConflict: a compare-and-set write lost the race too many times in a row.
	ErrConflict = retry.ErrContended
)
