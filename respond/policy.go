package respond

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"path"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"breachd/event"
	"breachd/retry"
)

// Policy holds the guard rails.
type Policy struct {
	// AllowList names accounts the engine never touches (break-glass accounts, admins):
	// exact names or glob patterns with * and ? (path.Match syntax), e.g. "breakglass@*",
	// "*-admin@*", "ola.nordmann@oslo.kommune.no". Entries and accounts are compared in
	// event.NormalizeAccount form (case, Unicode composition and invisible characters do not
	// count), the form ingest gives every account, so no spelling of a listed account slips
	// past it.
	AllowList []string
	// MaxPerHour caps the deactivations admitted per organisation in any 60 minutes (a
	// sliding window, shared by every engine through the bucket). A request beyond it waits
	// for Approve. 0 means DefaultMaxPerHour.
	MaxPerHour int
}

// DefaultMaxPerHour is the cap when Policy.MaxPerHour is 0.
const DefaultMaxPerHour = 5

const (
	capWindow     = time.Hour
	maxCapEntries = 10000 // bound of one organisation's window (approved requests can exceed the cap)
)

// allowList is a validated Policy.AllowList.
type allowList []string

func newAllowList(patterns []string) (allowList, error) {
	out := make(allowList, 0, len(patterns))
	for i, p := range patterns {
		p = event.NormalizeAccount(p)
		if p == "" {
			return nil, fmt.Errorf("allow-list entry %d is empty", i)
		}
		if _, err := path.Match(p, ""); err != nil {
			return nil, fmt.Errorf("allow-list entry %d %q: %w", i, p, err)
		}
		out = append(out, p)
	}
	return out, nil
}

// match returns the first entry matching account, or "".
func (a allowList) match(account string) string {
	acc := event.NormalizeAccount(account)
	for _, p := range a {
		if ok, _ := path.Match(p, acc); ok {
			return p
		}
	}
	return ""
}

// capState is the value of a cap.<h> key: the requests admitted in the last 60 minutes.
type capState struct {
	Starts []capStart `json:"starts"`
}

type capStart struct {
	Request string    `json:"request"`
	At      time.Time `json:"at"`
}

// takeSlot admits request id into org's window at now, unless the window is full and force
// is false. A request already in the window is admitted again without counting twice, so a
// redelivered or raced Request takes one slot. It returns whether the request was admitted.
func (e *Engine) takeSlot(ctx context.Context, org, id string, now time.Time, force bool) (bool, error) {
	key := capKey(org)
	admitted := false
	err := retry.CAS(ctx, "cap window of "+org, func(ctx context.Context) error {
		admitted = false
		var st capState
		var rev uint64
		ent, err := e.kv.Get(ctx, key)
		switch {
		case errors.Is(err, jetstream.ErrKeyNotFound):
		case err != nil:
			return fmt.Errorf("read cap window of %s: %w", org, err)
		default:
			rev = ent.Revision()
			if err := json.Unmarshal(ent.Value(), &st); err != nil {
				return fmt.Errorf("decode cap window of %s: %w", org, err)
			}
		}
		kept := st.Starts[:0]
		for _, s := range st.Starts {
			if s.Request == id {
				admitted = true
				return nil
			}
			if now.Sub(s.At) < capWindow {
				kept = append(kept, s)
			}
		}
		st.Starts = kept
		if !force && len(st.Starts) >= e.maxPerHour {
			return nil
		}
		st.Starts = append(st.Starts, capStart{Request: id, At: now})
		if over := len(st.Starts) - maxCapEntries; over > 0 {
			st.Starts = st.Starts[over:]
		}
		data, err := json.Marshal(st)
		if err != nil {
			return fmt.Errorf("encode cap window: %w", err)
		}
		if _, err := retry.Write(ctx, e.kv, key, data, rev); err != nil {
			return fmt.Errorf("cap window of %s: %w", org, err)
		}
		admitted = true
		return nil
	})
	return admitted, err
}
