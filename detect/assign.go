package detect

import (
	"context"
	"errors"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"breachd/bus"
	"breachd/event"
	"breachd/retry"
)

// legacyDurable is the consumer of the single detector before partitioning; it consumed every
// event, like member 0 of 1.
const legacyDurable = "detect"

// DurableName is the durable consumer of member of members: "detect-<member>-of-<members>".
// The name encodes the assignment, so a set of another size never resumes a consumer whose
// position means something else (see startPosition).
func DurableName(member, members int) string {
	return fmt.Sprintf("detect-%d-of-%d", member, max(members, 1))
}

// parseDurable returns the assignment a detector consumer name encodes.
func parseDurable(name string) (member, members int, ok bool) {
	if name == legacyDurable {
		return 0, 1, true
	}
	rest, found := strings.CutPrefix(name, "detect-")
	if !found {
		return 0, 0, false
	}
	m, n, found := strings.Cut(rest, "-of-")
	if !found {
		return 0, 0, false
	}
	member, err1 := strconv.Atoi(m)
	members, err2 := strconv.Atoi(n)
	if err1 != nil || err2 != nil || members < 1 || member < 0 || member >= members {
		return 0, 0, false
	}
	return member, members, true
}

// owns reports whether e's account is in one of this detector's partitions.
func (d *Detector) owns(e *event.Event) bool { return d.owned[d.layout.Partition(e.Account())] }

func (d *Detector) ownedList() []int {
	var out []int
	for p, ok := range d.owned {
		if ok {
			out = append(out, p)
		}
	}
	return out
}

// filters are the subjects this detector consumes: its partitions and the directory events;
// none, the whole stream, when it owns every partition (a set of one). The server serves an
// unfiltered consumer by reading the next message, a multi-filter one by intersecting its
// subject tree with the filters on every fetch.
func (d *Detector) filters() []string {
	if !slices.Contains(d.owned, false) {
		return nil
	}
	var out []string
	for _, p := range d.ownedList() {
		out = append(out, bus.PartitionFilter(p))
	}
	return append(out, bus.SubjectDirectory)
}

// consumer reads the layout, checks the assignment against it, and creates the durable
// consumer or resumes it (keeping its start position, which cannot change).
func (d *Detector) consumer(ctx context.Context) (jetstream.Consumer, *jetstream.ConsumerInfo, error) {
	layout, err := bus.ReadLayout(ctx, d.js)
	if err != nil {
		return nil, nil, fmt.Errorf("detect: %w", err)
	}
	m, n := d.opts.Member, d.opts.Members
	if m < 0 || m >= n {
		return nil, nil, fmt.Errorf("detect: member %d of %d: want 0 ≤ member < members", m, n)
	}
	if n > layout.Partitions {
		return nil, nil, fmt.Errorf("detect: %d members for %d partitions: members beyond %d would own no partition (the count is recorded in stream %s)",
			n, layout.Partitions, layout.Partitions, bus.StreamEvents)
	}
	d.layout, d.owned = layout, make([]bool, layout.Partitions)
	for p := range d.owned {
		d.owned[p] = p%n == m
	}
	cfg := jetstream.ConsumerConfig{
		Durable:        d.Durable(),
		AckPolicy:      jetstream.AckExplicitPolicy,
		AckWait:        d.opts.FlushTimeout + 30*time.Second,
		MaxAckPending:  maxAckPending(d.opts.Batch),
		MaxDeliver:     -1,
		FilterSubjects: d.filters(),
		// One active detector per member, any number of standbys (pin.go). A durable of an
		// earlier version, without a priority group, is updated in place below: the server's
		// update check (nats-server consumer.go checkNewConsumerConfig) refuses changes of the
		// deliver, ack and replay policies, start position, storage and MaxWaiting, not of the
		// priority group, policy or PinnedTTL; its position and ack floor are kept.
		PriorityGroups: []string{priorityGroup},
		PriorityPolicy: jetstream.PriorityPolicyPinned,
		PinnedTTL:      d.opts.FailoverAfter,
	}
	for attempt := 0; ; attempt++ {
		c, err := d.js.Consumer(ctx, bus.StreamEvents, cfg.Durable)
		switch {
		case err == nil:
			old := c.CachedInfo()
			cfg.DeliverPolicy, cfg.OptStartSeq, cfg.OptStartTime = old.Config.DeliverPolicy, old.Config.OptStartSeq, old.Config.OptStartTime
			if v, ok := old.Config.Metadata[maybeStoredKey]; ok {
				cfg.Metadata = map[string]string{maybeStoredKey: v} // kept across restarts (takeOver)
			}
			if c, err = d.js.UpdateConsumer(ctx, bus.StreamEvents, cfg); err != nil {
				return nil, nil, fmt.Errorf("detect consumer %s: %w", cfg.Durable, err)
			}
		case errors.Is(err, jetstream.ErrConsumerNotFound):
			// Listing a clustered stream's consumers waits up to 4 s for consumers without a
			// leader yet (another detector's, created in the same seconds), close to the
			// client's API timeout: try again a few times.
			tries := 0
			err = retry.Forever(ctx, retry.Backoff{Initial: time.Second, Max: 5 * time.Second}, func() error {
				var lerr error
				cfg.DeliverPolicy, cfg.OptStartSeq, lerr = d.startPosition(ctx)
				if tries++; lerr != nil && (tries >= 4 || !bus.Unavailable(lerr) && !errors.Is(lerr, context.DeadlineExceeded)) {
					return retry.Permanent(lerr)
				}
				return lerr
			})
			if err != nil {
				return nil, nil, err
			}
			c, err = d.js.CreateConsumer(ctx, bus.StreamEvents, cfg)
			if errors.Is(err, jetstream.ErrConsumerExists) && attempt < 3 {
				continue // created concurrently by a process with the same assignment
			}
			if err != nil {
				return nil, nil, fmt.Errorf("detect consumer %s: %w", cfg.Durable, err)
			}
		default:
			return nil, nil, fmt.Errorf("detect consumer %s: %w", cfg.Durable, err)
		}
		info, err := c.Info(ctx)
		if err != nil {
			return nil, nil, fmt.Errorf("detect consumer %s info: %w", cfg.Durable, err)
		}
		return c, info, nil
	}
}

// startPosition decides where a new durable starts.
//
//   - A sibling (another member of the same set size) exists: the same start as it, so the
//     members of one set start together.
//   - Consumers of detector sets of another size exist (the set was re-sized): right after the
//     most recent of those sets stopped, i.e. after the lowest ack floor of its members (the
//     highest such floor over the sets, so long-abandoned sets do not cause a replay). What its
//     members had delivered but not acked comes again; events some of them had acked beyond
//     the lowest floor are evaluated again (history and alert ids make that idempotent; windows
//     may count them twice, which errs towards alerting). A set missing a member counts from
//     its own start, so that member's partitions are never skipped.
//   - None: from the beginning of the stream (a new deployment).
func (d *Detector) startPosition(ctx context.Context) (jetstream.DeliverPolicy, uint64, error) {
	type set struct {
		members, seen int
		floor, start  uint64
	}
	st, err := d.js.Stream(ctx, bus.StreamEvents)
	if err != nil {
		return 0, 0, fmt.Errorf("detect: stream %s: %w", bus.StreamEvents, err)
	}
	sets := map[int]*set{}
	var old []string
	lister := st.ListConsumers(ctx)
	for info := range lister.Info() {
		_, n, ok := parseDurable(info.Name)
		if !ok {
			continue
		}
		if n == d.opts.Members && info.Name != legacyDurable {
			d.log.Info("new durable starts with its set", "durable", d.Durable(), "sibling", info.Name)
			return info.Config.DeliverPolicy, info.Config.OptStartSeq, nil
		}
		key := n
		if info.Name == legacyDurable {
			key = 0
		}
		s := sets[key]
		if s == nil {
			s = &set{members: n, floor: info.AckFloor.Stream, start: 1}
			sets[key] = s
		}
		s.seen++
		s.floor = min(s.floor, info.AckFloor.Stream)
		if info.Config.DeliverPolicy == jetstream.DeliverByStartSequencePolicy {
			s.start = info.Config.OptStartSeq
		}
		old = append(old, info.Name)
	}
	if err := lister.Err(); err != nil {
		return 0, 0, fmt.Errorf("detect: list consumers of %s: %w", bus.StreamEvents, err)
	}
	var prev *set
	for _, s := range sets {
		if s.seen < s.members {
			s.floor = min(s.floor, s.start-1)
		}
		if prev == nil || s.floor > prev.floor {
			prev = s
		}
	}
	if prev == nil {
		d.log.Info("new durable starts at the beginning of the stream", "durable", d.Durable())
		return jetstream.DeliverAllPolicy, 0, nil
	}
	slices.Sort(old)
	d.log.Warn("new durable starts where the previous detector set stopped; once every member of the new set runs, delete the consumers of the old sets (nats consumer rm EVENTS <name>)",
		"durable", d.Durable(), "start_seq", prev.floor+1, "old_consumers", old)
	return jetstream.DeliverByStartSequencePolicy, prev.floor + 1, nil
}

// CatalogueFloor returns the stream sequence up to which history holds every directory event
// a member of members needs: the lowest ack floor of the set's durables (0 when one does not
// exist yet), since each member stores only the directory events of the accounts it owns
// (Detector.toStore). Read it before rebuilding the catalogue from history and pass it as
// Options.CatalogueAt: the detector applies the directory events above it from the stream.
func CatalogueFloor(ctx context.Context, js jetstream.JetStream, members int) (uint64, error) {
	floor := uint64(math.MaxUint64)
	for m := range max(members, 1) {
		c, err := js.Consumer(ctx, bus.StreamEvents, DurableName(m, members))
		if errors.Is(err, jetstream.ErrConsumerNotFound) {
			return 0, nil
		}
		if err != nil {
			return 0, fmt.Errorf("detect consumer %s: %w", DurableName(m, members), err)
		}
		floor = min(floor, c.CachedInfo().AckFloor.Stream)
	}
	return floor, nil
}
