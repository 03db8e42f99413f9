package notify

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"breachd/event"
	"breachd/retry"
)

// openIndex keeps the open incidents of the bucket in memory, so that a watcher pass costs
// the open incidents, not every incident ever opened. It follows the bucket with a KV watch
// (the latest value of every key once at the start, then every change); a closed or deleted
// incident leaves the index. When the watch ends (a lost connection closes it) it is resumed
// after the last revision seen.
type openIndex struct {
	kv  jetstream.KeyValue
	log *slog.Logger

	mu      sync.Mutex
	open    map[string]*event.Incident
	rev     uint64        // last bucket revision applied
	changed chan struct{} // closed and replaced whenever rev moves
}

func newOpenIndex(kv jetstream.KeyValue, log *slog.Logger) *openIndex {
	return &openIndex{kv: kv, log: log, open: map[string]*event.Incident{}, changed: make(chan struct{})}
}

// follow applies the bucket's changes until ctx ends.
func (x *openIndex) follow(ctx context.Context) {
	b := retry.Backoff{Initial: 100 * time.Millisecond, Max: 5 * time.Second, Jitter: 0.2}
	for n := 1; ctx.Err() == nil; n++ {
		x.mu.Lock()
		var opts []jetstream.WatchOpt
		if x.rev > 0 {
			opts = append(opts, jetstream.ResumeFromRevision(x.rev+1))
		}
		x.mu.Unlock()
		w, err := x.kv.WatchAll(ctx, opts...)
		if err == nil {
			n = 0
			x.drain(ctx, w)
			_ = w.Stop()
		} else if ctx.Err() == nil {
			x.log.Warn("watch incidents bucket failed; retrying", "err", err)
		}
		_ = retry.Sleep(ctx, b.Delay(n))
	}
}

func (x *openIndex) drain(ctx context.Context, w jetstream.KeyWatcher) {
	for {
		select {
		case <-ctx.Done():
			return
		case e, ok := <-w.Updates():
			if !ok {
				return
			}
			if e != nil {
				x.apply(e)
			}
		}
	}
}

// apply records one bucket entry: an incident that is open is (re)indexed, any other inc.<id>
// entry (closed, deleted, undecodable) removes it.
func (x *openIndex) apply(e jetstream.KeyValueEntry) {
	var inc *event.Incident
	id, isInc := strings.CutPrefix(e.Key(), "inc.")
	if isInc && e.Operation() == jetstream.KeyValuePut {
		var v event.Incident
		if err := json.Unmarshal(e.Value(), &v); err != nil {
			x.log.Warn("undecodable incident in the bucket; not watched", "key", e.Key(), "err", err)
		} else if v.Open() {
			inc = &v
		}
	}
	x.mu.Lock()
	defer x.mu.Unlock()
	if isInc {
		if inc != nil {
			x.open[id] = inc
		} else {
			delete(x.open, id)
		}
	}
	if e.Revision() > x.rev {
		x.rev = e.Revision()
		close(x.changed)
		x.changed = make(chan struct{})
	}
}

// catchUp bounds how long snapshot waits for the watch: a bucket whose last message was
// removed (not by a KV operation) never shows that revision to a watch.
const catchUp = 10 * time.Second

// snapshot waits until the index has applied every change the bucket had when it was called
// (at most catchUp), and returns the open incidents, oldest first.
func (x *openIndex) snapshot(ctx context.Context) ([]*event.Incident, error) {
	st, err := x.kv.Status(ctx)
	if err != nil {
		return nil, fmt.Errorf("incidents bucket status: %w", err)
	}
	var last uint64
	if bs, ok := st.(*jetstream.KeyValueBucketStatus); ok {
		last = bs.StreamInfo().State.LastSeq
	}
	late := time.NewTimer(catchUp)
	defer late.Stop()
	for {
		x.mu.Lock()
		rev, changed := x.rev, x.changed
		if rev >= last || last == 0 {
			out := slices.Collect(maps.Values(x.open))
			x.mu.Unlock()
			slices.SortFunc(out, func(a, b *event.Incident) int { return a.Opened.Compare(b.Opened) })
			return out, nil
		}
		x.mu.Unlock()
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("open incidents index at revision %d of %d: %w", rev, last, ctx.Err())
		case <-late.C:
			x.log.Warn("open incidents index behind the bucket; using it as it is", "revision", rev, "bucket", last)
			last = 0
		case <-changed:
		}
	}
}
