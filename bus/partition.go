package bus

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"strconv"

	"github.com/nats-io/nats.go/jetstream"

	"breachd/event"
)

// Partitioning of the EVENTS stream.
//
// Activity events (auth, access) are published on breachd.events.<kind>.<p>, where p is the
// partition of the event's account (event.Account): the FNV-1a 32-bit hash of the account's
// bytes, exactly as given, modulo the partition count. Directory events are published on
// breachd.events.directory, unpartitioned: every detector needs the whole catalogue.
//
// The hash is computed by the publisher, not by a NATS subject mapping (partition(n, ...)):
// that would need the account as a subject token, and accounts contain dots and are personal
// data that would then show in subject listings and monitoring and grow the stream's subject
// index by one entry per account. A hash in the publisher keeps the subjects to 2·P+1, is the
// same in every process and every language, and is tested without a server.
//
// The partition count is a deployment constant: Ensure records it in the EVENTS stream's
// metadata (MetadataPartitions) when it creates the stream, and every process adopts the
// recorded count (ReadLayout), so publishers and detectors agree. Changing it for a stream that
// holds events would move accounts between partitions; deploy/README.md has the procedure.
const (
	// DefaultPartitions is the partition count of a new EVENTS stream when Config.Partitions is 0.
	DefaultPartitions = 8
	// MaxPartitions bounds Config.Partitions.
	MaxPartitions = 256
	// MetadataPartitions is the EVENTS stream metadata key holding the partition count.
	MetadataPartitions = "breachd.partitions"
	// SubjectDirectory is the subject of every directory event.
	SubjectDirectory = SubjectEvents + "." + string(event.KindDirectory)
)

// Layout says how events are spread over subjects. The zero Layout is one partition.
type Layout struct {
	Partitions int
}

// Partition returns the partition of account: FNV-1a 32 of its bytes mod l.Partitions.
func (l Layout) Partition(account string) int {
	if l.Partitions <= 1 {
		return 0
	}
	// FNV-1a 32 (hash/fnv's New32a), inline: no allocation per event.
	const offset32, prime32 = 2166136261, 16777619
	h := uint32(offset32)
	for i := 0; i < len(account); i++ {
		h ^= uint32(account[i])
		h *= prime32
	}
	return int(h % uint32(l.Partitions))
}

// EventSubject is the subject e is published on: breachd.events.directory for a directory
// event, breachd.events.<kind>.<partition of e.Account()> for any other.
func (l Layout) EventSubject(e *event.Event) string {
	if e.Kind == event.KindDirectory {
		return SubjectDirectory
	}
	return PartitionSubject(e.Kind, l.Partition(e.Account()))
}

// PartitionSubject is the subject of activity events of kind k in partition p.
func PartitionSubject(k event.Kind, p int) string {
	if 0 <= p && p < MaxPartitions {
		switch k {
		case event.KindAuth:
			return authSubjects[p]
		case event.KindAccess:
			return accessSubjects[p]
		}
	}
	return partitionSubject(k, p)
}

func partitionSubject(k event.Kind, p int) string {
	return SubjectEvents + "." + string(k) + "." + strconv.Itoa(p)
}

// authSubjects and accessSubjects are the subjects of the activity kinds' partitions, built
// once rather than per event.
var authSubjects, accessSubjects = subjectsOf(event.KindAuth), subjectsOf(event.KindAccess)

func subjectsOf(k event.Kind) *[MaxPartitions]string {
	var out [MaxPartitions]string
	for p := range out {
		out[p] = partitionSubject(k, p)
	}
	return &out
}

// PartitionFilter matches the activity events of every kind in partition p
// (breachd.events.*.<p>); it does not match directory events.
func PartitionFilter(p int) string { return SubjectEvents + ".*." + strconv.Itoa(p) }

// ErrPartitionMismatch is returned by Ensure when the EVENTS stream records another partition
// count than the one configured.
var ErrPartitionMismatch = errors.New("partition count mismatch")

// ReadLayout returns the layout recorded in the EVENTS stream by Ensure.
func ReadLayout(ctx context.Context, js jetstream.JetStream) (Layout, error) {
	st, err := js.Stream(ctx, StreamEvents)
	if err != nil {
		return Layout{}, fmt.Errorf("read partition count: stream %s: %w", StreamEvents, err)
	}
	p, ok, err := recordedPartitions(st.CachedInfo().Config.Metadata)
	if err != nil {
		return Layout{}, err
	}
	if !ok {
		return Layout{}, fmt.Errorf("read partition count: stream %s has no %s metadata (bus.Ensure records it)", StreamEvents, MetadataPartitions)
	}
	return Layout{Partitions: p}, nil
}

func recordedPartitions(md map[string]string) (int, bool, error) {
	v, ok := md[MetadataPartitions]
	if !ok {
		return 0, false, nil
	}
	p, err := strconv.Atoi(v)
	if err != nil || p < 1 || p > MaxPartitions {
		return 0, false, fmt.Errorf("stream %s metadata %s = %q: want a number from 1 to %d", StreamEvents, MetadataPartitions, v, MaxPartitions)
	}
	return p, true, nil
}

// ensureEvents creates the EVENTS stream recording the partition count, or updates it keeping
// the recorded count (and refusing a configured count that differs from it). Creation goes
// through CreateStream, so of several processes creating it at once exactly one decides the
// count and the others adopt it.
func ensureEvents(ctx context.Context, js jetstream.JetStream, sc jetstream.StreamConfig, want int) error {
	if want < 0 || want > MaxPartitions {
		return fmt.Errorf("partitions %d: want 1 to %d (0: the recorded count, or %d for a new stream)", want, MaxPartitions, DefaultPartitions)
	}
	for attempt := 0; ; attempt++ {
		st, err := js.Stream(ctx, sc.Name)
		if errors.Is(err, jetstream.ErrStreamNotFound) {
			p := want
			if p == 0 {
				p = DefaultPartitions
			}
			sc.Metadata = map[string]string{MetadataPartitions: strconv.Itoa(p)}
			_, err = js.CreateStream(ctx, sc)
			if errors.Is(err, jetstream.ErrStreamNameAlreadyInUse) && attempt < 3 {
				continue // created concurrently with other settings: adopt its count, then update
			}
			return err
		}
		if err != nil {
			return err
		}
		md := st.CachedInfo().Config.Metadata
		p, ok, err := recordedPartitions(md)
		if err != nil {
			return err
		}
		switch {
		case !ok && want == 0:
			p = DefaultPartitions // a stream from before partitioning: stamp it
		case !ok:
			p = want
		case want != 0 && want != p:
			return fmt.Errorf("%w: stream %s is partitioned into %d (metadata %s), this process is configured for %d; "+
				"every process must use the same count (0 adopts the recorded one): see deploy/README.md, \"Changing the partition count\"",
				ErrPartitionMismatch, sc.Name, p, MetadataPartitions, want)
		}
		sc.Metadata = maps.Clone(md)
		if sc.Metadata == nil {
			sc.Metadata = map[string]string{}
		}
		sc.Metadata[MetadataPartitions] = strconv.Itoa(p)
		_, err = js.UpdateStream(ctx, sc)
		return err
	}
}
