package bus

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"

	"breachd/promreg"
)

// Store damage.
//
// nats-server recovers a damaged message block (truncated, or overwritten so that records fail
// their checks) by dropping the messages it cannot read, and says so only in a warning: the
// stream starts with those sequences deleted inside it, or ends early when the damage is in its
// last block. CheckStore, run on every start of a process running stages, finds such loss and
// reports it loudly (Error log, a metric, and for unprocessed events an error):
//
//   - sequences deleted inside EVENTS, ALERTS and INCIDENTS: breachd never deletes from them
//     (limits retention by age removes from the front only), so a gap is lost data (or an
//     administrator's `nats stream rmm`);
//   - what the server itself reports lost (StreamState.Lost), in every stream checked;
//   - a stream that ends below the last sequence recorded in the marks file (Marks: the
//     embedded server's; written at start, every MarksEvery and at shutdown), or below the
//     last sequence delivered to one of its processors' consumers: its tail is lost. Such a
//     consumer is moved back to the stream's end when no client uses it (ahead.go), or it
//     would skip the new messages that take the lost sequences;
//   - a stream that starts after a sequence the marks sampled that is younger than its MaxAge:
//     its oldest messages are lost (at least from that sample on).
//
// Lost sequences above the lowest ack floor of a stream's processors (StoreCheck.Processors)
// were never processed: lost EVENTS above the detectors' floor are missing from history and were
// never evaluated, and CheckStore returns a *LostError (the process must not start as if nothing
// happened) unless StoreCheck.Accept is set; lost ALERTS above the notifier's floor never
// became incidents (reported; re-ingesting events cannot bring them back). Loss that does not block (processed events, other streams) and
// accepted loss is recorded in the stream's metadata (MetadataLost) and the marks file, so it
// is reported once.

// MetadataLost is the stream metadata key holding the lost sequences already reported and
// accepted (Ranges.String).
const MetadataLost = "breachd.lost"

// gapStreams are the streams breachd never deletes single messages from: a sequence deleted
// inside them is lost.
var gapStreams = []string{StreamEvents, StreamAlerts, StreamIncidents}

// CheckedStreams are the streams of Ensure CheckStore checks; StoreCheck.Others adds the
// streams of other packages' buckets.
var CheckedStreams = []string{StreamEvents, StreamAlerts, StreamIncidents, StreamDLQ, "KV_" + BucketIncidents}

// StoreCheck configures CheckStore.
type StoreCheck struct {
	// Others are further streams to check for lost data and a lost tail (the key-value
	// buckets of other packages, as KV_<bucket>, and other streams). Missing ones are skipped.
	Others []string
	// Marks is the marks file of the store (Marks.File); empty: no tail check against it.
	Marks string
	// Processors name, by stream, the start of the names of the durables that process it (the
	// detectors' on EVENTS, the notifier's on ALERTS, the announcers' on INCIDENTS): lost
	// sequences above the lowest ack floor among them were never processed. A stream not named
	// here has no Loss.Unprocessed.
	Processors map[string]string
	// Accept starts anyway when unprocessed events are lost, recording the loss as accepted:
	// set it after re-ingesting the sources (deploy/README.md, "Store damage").
	Accept bool
	Log    *slog.Logger // nil: slog.Default()
	// Registerer gets breach_bus_lost_messages and breach_bus_lost_unprocessed_messages (nil: none).
	Registerer prometheus.Registerer
}

// Loss is the loss CheckStore found in one stream, not reported before.
type Loss struct {
	Stream string
	Lost   Ranges // the sequences lost
	// Unprocessed are the lost sequences above the lowest ack floor of the stream's
	// processors (StoreCheck.Processors; all of Lost when there is none yet): for EVENTS,
	// never written to history nor evaluated; for ALERTS, never turned into incidents.
	Unprocessed Ranges
	// Floor is that lowest ack floor.
	Floor uint64
	// Ahead are the consumers that were delivered sequences beyond the stream's end (of the
	// streams with processors); CheckStore moves them back to the end when it starts the
	// process, unless a client uses them.
	Ahead []string
}

// LostError is CheckStore's error when events the detectors had not processed are lost.
type LostError struct{ Losses []Loss }

// Error says what is lost and how to re-ingest.
func (e *LostError) Error() string {
	var parts []string
	for _, l := range e.Losses {
		if n := l.Unprocessed.Count(); n > 0 {
			parts = append(parts, fmt.Sprintf("%d events of stream %s not yet processed by the detectors are lost from the NATS store (sequences %s)", n, l.Stream, truncate(l.Unprocessed.String())))
		}
	}
	return strings.Join(parts, "; ") + ": they are in neither the stream nor the history. " +
		"Re-ingest them: run again with --accept-lost and the same input (files given as arguments are read again whole; " +
		"followed files after moving the positions directory (--state-dir, default <data>/ingest-state) aside; events still stored are dropped by the 24 h duplicate window); see deploy/README.md, \"Store damage\""
}

// truncate shortens a long range list for a message.
func truncate(s string) string {
	if len(s) > 200 {
		return s[:200] + "…"
	}
	return s
}

// CheckStore looks for lost messages in the streams of Ensure and cfg.Others that exist, logs
// each loss not reported before at Error, sets the metrics, records what it reported (stream
// metadata, the marks file) and returns the losses. When EVENTS lost events the detectors had
// not processed and cfg.Accept is not set, it records nothing and returns a *LostError as
// well. Call it after Ensure; it takes at most a minute (a listing of consumers that does not
// answer is given up, see consumersOf).
func CheckStore(ctx context.Context, js jetstream.JetStream, cfg StoreCheck) ([]Loss, error) {
	ctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	log := cfg.Log
	if log == nil {
		log = slog.Default()
	}
	m, err := newLossMetrics(cfg.Registerer)
	if err != nil {
		return nil, err
	}
	marks, err := readMarks(cfg.Marks)
	if err != nil {
		return nil, err
	}
	streams := slices.Concat(CheckedStreams, cfg.Others)
	var losses []Loss
	infos := map[string]*jetstream.StreamInfo{}
	for _, name := range streams {
		prefix, processed := cfg.Processors[name]
		l, info, err := checkStream(ctx, js, name, marks, prefix, processed, log)
		if err != nil {
			return nil, err
		}
		if info == nil {
			continue
		}
		infos[name] = info
		m.lost.WithLabelValues(name).Set(float64(l.Lost.Count()))
		if processed {
			m.unprocessed.WithLabelValues(name).Set(float64(l.Unprocessed.Count()))
		}
		if len(l.Lost) > 0 {
			losses = append(losses, l)
		}
	}
	var refuse *LostError
	for _, l := range losses {
		if l.Stream == StreamEvents && len(l.Unprocessed) > 0 && !cfg.Accept {
			if refuse == nil {
				refuse = &LostError{}
			}
			refuse.Losses = append(refuse.Losses, l)
		}
	}
	for _, l := range losses {
		args := []any{"stream", l.Stream, "lost", l.Lost.Count(), "sequences", truncate(l.Lost.String())}
		if _, ok := cfg.Processors[l.Stream]; ok {
			args = append(args, "unprocessed", l.Unprocessed.Count(), "unprocessed_sequences", truncate(l.Unprocessed.String()), "ack_floor", l.Floor)
		}
		if what := consequence(l, refuse != nil); what != "" {
			args = append(args, "consequence", what)
		}
		log.Error("NATS store damaged: messages lost", args...)
	}
	if refuse != nil {
		return losses, refuse
	}
	for _, l := range losses {
		if err := resetAhead(ctx, js, l.Stream, l.Ahead, log); err != nil {
			return losses, err
		}
		if err := recordLost(ctx, js, l.Stream, l.Lost, infos[l.Stream].State.LastSeq); err != nil {
			return losses, err
		}
	}
	if cfg.Marks != "" {
		if err := (Marks{File: cfg.Marks, Streams: streams}).Write(ctx, js); err != nil {
			return losses, err
		}
	}
	return losses, nil
}

// consequence says what the loss l means for the pipeline; refused: the process does not start.
func consequence(l Loss, refused bool) string {
	switch {
	case l.Stream == StreamEvents && len(l.Unprocessed) > 0 && refused:
		return "not starting: events missing from history and never evaluated; re-ingest with --accept-lost"
	case l.Stream == StreamEvents && len(l.Unprocessed) > 0:
		return "accepted (--accept-lost): the re-ingested events are processed as new"
	case l.Stream == StreamEvents:
		return "the detectors had processed them: history has them"
	case l.Stream == StreamAlerts && len(l.Unprocessed) > 0:
		return "alerts the notifier had not handled: no incident was opened or updated for them; they are in history (table alerts)"
	case l.Stream == StreamIncidents && len(l.Unprocessed) > 0:
		return "incident changes not announced to the notification channels; the incidents themselves are in the incidents bucket and history"
	}
	return ""
}

// checkStream returns what stream lost and was not recorded as reported, and its state (nil
// when it does not exist). marks are the marks file's (their last sequence and samples count
// only for the incarnation of the stream they were taken of). When processed, the durables
// whose names start with prefix process the stream (Loss.Unprocessed).
//
// The consumers are listed before the stream's state is read: a message published and
// delivered in between then lies below the state's last sequence, where listing them after
// would show a live consumer delivered beyond the stream's end (a false lost tail).
//
// A listing of the consumers that fails (on a cluster, consumers whose only replica was on a
// server that died answer nobody) does not stop the start: the check goes on without them, so
// a lost tail beyond what they were delivered is not found and every loss counts as
// unprocessed (the safe side), and it says so at Warn.
func checkStream(ctx context.Context, js jetstream.JetStream, stream string, marks marksFile, prefix string, processed bool, log *slog.Logger) (Loss, *jetstream.StreamInfo, error) {
	l := Loss{Stream: stream}
	st, err := js.Stream(ctx, stream)
	if errors.Is(err, jetstream.ErrStreamNotFound) {
		return l, nil, nil
	}
	if err != nil {
		return l, nil, fmt.Errorf("check stream %s for lost messages: %w", stream, err)
	}
	cs, err := consumersOf(ctx, st, processed)
	if err != nil {
		log.Warn("store check goes on without the stream's consumers: losses count as unprocessed, a lost tail beyond their positions is not found", "stream", stream, "err", err)
		cs = nil
	}
	info, err := st.Info(ctx)
	gaps := isGapStream(stream)
	if err == nil && gaps && info.State.NumDeleted > 0 {
		info, err = st.Info(ctx, jetstream.WithDeletedDetails(true))
	}
	if err != nil {
		return l, nil, fmt.Errorf("check stream %s for lost messages: %w", stream, err)
	}
	var lost Ranges
	if gaps {
		lost = rangesOf(info.State.Deleted)
	}
	if info.State.Lost != nil {
		lost = lost.union(rangesOf(info.State.Lost.Msgs)...)
	}
	last := info.State.LastSeq
	mark, samples := marks.of(stream, info.Created)
	if mark > last {
		lost = lost.union(Range{last + 1, mark})
	}
	if head, ok := lostHead(samples, info.State.FirstSeq, info.Config.MaxAge, time.Now()); ok {
		lost = lost.union(head)
	}
	var floor uint64
	first := true
	for _, c := range cs {
		if c.Delivered.Stream > last { // delivered (and maybe acked) what the stream no longer has
			lost = lost.union(Range{last + 1, c.Delivered.Stream})
			l.Ahead = append(l.Ahead, c.Name)
		}
		if strings.HasPrefix(c.Name, prefix) && (first || c.AckFloor.Stream < floor) {
			floor, first = c.AckFloor.Stream, false
		}
	}
	accepted, err := parseRanges(info.Config.Metadata[MetadataLost])
	if err != nil {
		return l, nil, fmt.Errorf("stream %s metadata %s: %w", stream, MetadataLost, err)
	}
	l.Lost = lost.minus(accepted)
	if processed {
		l.Floor, l.Unprocessed = floor, l.Lost.above(floor)
	}
	return l, info, nil
}

func isGapStream(s string) bool { return slices.Contains(gapStreams, s) }

// consumersOf lists the consumers of st when list is set (the pipeline may list those of the
// streams with processors; KV buckets' consumers are ephemeral watchers). On a cluster the
// listing waits up to 4 s for consumers that have no leader (a server just died), close to the
// client's API timeout, so a listing that times out is asked again a few times.
func consumersOf(ctx context.Context, st jetstream.Stream, list bool) ([]*jetstream.ConsumerInfo, error) {
	if !list {
		return nil, nil
	}
	for try := 1; ; try++ {
		var out []*jetstream.ConsumerInfo
		lctx, cancel := context.WithTimeout(ctx, listTimeout)
		l := st.ListConsumers(lctx)
		for ci := range l.Info() {
			out = append(out, ci)
		}
		err := l.Err()
		cancel()
		if err == nil {
			return out, nil
		}
		if try >= listTries || ctx.Err() != nil || !Unavailable(err) && !errors.Is(err, context.DeadlineExceeded) {
			return nil, fmt.Errorf("check stream %s: list its consumers: %w", st.CachedInfo().Config.Name, err)
		}
		time.Sleep(time.Second)
	}
}

// listTries and listTimeout bound consumersOf's listings of one stream.
const (
	listTries   = 2
	listTimeout = 6 * time.Second
)

// recordTries bounds recordLost's updates of a stream's metadata.
const recordTries = 5

// recordLost adds lost to the sequences the stream's metadata records as reported, without
// those below its first sequence nor above last (its last sequence when the loss was found: a
// lost tail is not kept, its sequences are used again). Only the streams whose gaps count
// (gapStreams) keep it; another stream's loss is reported at every start while it lasts.
// A stream update cannot be made conditional on the configuration read, so the metadata is
// read afresh before the update and again after it: when another process starting at the same
// time replaced it in between, the update is made again on top of that one's.
func recordLost(ctx context.Context, js jetstream.JetStream, stream string, lost Ranges, last uint64) error {
	if !isGapStream(stream) {
		return nil
	}
	lost = lost.minus(Ranges{{last + 1, ^uint64(0)}})
	for range recordTries {
		st, err := js.Stream(ctx, stream)
		if err != nil {
			return fmt.Errorf("record the lost messages of stream %s as reported: %w", stream, err)
		}
		info := st.CachedInfo()
		recorded, err := parseRanges(info.Config.Metadata[MetadataLost])
		if err != nil {
			return fmt.Errorf("stream %s metadata %s: %w", stream, MetadataLost, err)
		}
		want, all := lost, recorded.union(lost...)
		if info.State.FirstSeq > 0 { // age expiry removed those below
			below := Ranges{{0, info.State.FirstSeq - 1}}
			want, all = want.minus(below), all.minus(below)
		}
		if len(want.minus(recorded)) == 0 {
			return nil
		}
		cfg := info.Config
		cfg.Metadata = maps.Clone(cfg.Metadata)
		if cfg.Metadata == nil {
			cfg.Metadata = map[string]string{}
		}
		cfg.Metadata[MetadataLost] = all.String()
		if _, err := js.UpdateStream(ctx, cfg); err != nil {
			return fmt.Errorf("record the lost messages of stream %s as reported: %w", stream, err)
		}
	}
	return fmt.Errorf("record the lost messages of stream %s as reported: its metadata changed at each of %d updates; start again", stream, recordTries)
}

// lossMetrics are CheckStore's figures.
type lossMetrics struct {
	lost, unprocessed *prometheus.GaugeVec
}

func newLossMetrics(reg prometheus.Registerer) (*lossMetrics, error) {
	m := &lossMetrics{
		lost: prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "breach_bus_lost_messages",
			Help: "Messages of a stream found lost from the NATS store (store damage) at this process's start, not reported before."}, []string{"stream"}),
		unprocessed: prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "breach_bus_lost_unprocessed_messages",
			Help: "Of the messages found lost at this process's start, those the stream's processors had not processed (EVENTS: the detectors; missing from history unless re-ingested)."}, []string{"stream"}),
	}
	if err := promreg.All(reg, promreg.Of(&m.lost), promreg.Of(&m.unprocessed)); err != nil {
		return nil, err
	}
	return m, nil
}
