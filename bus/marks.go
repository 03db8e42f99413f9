package bus

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// MarksEvery is how often Marks.Run records the streams' last sequences.
const MarksEvery = 5 * time.Second

// Marks records the last sequence of each of Streams in File, so that CheckStore sees a
// stream whose tail was lost (the server starts it at a lower last sequence and says nothing),
// and for the streams whose gaps count samples of their sequences with their times, so that it
// sees a stream whose oldest messages were lost (it starts at a later first sequence, which
// only age expiry explains). With them it records each stream's creation time: the marks of a
// stream deleted and created again (or of a removed store) are not the new one's. Only the
// process that owns the store (the embedded server's) keeps marks.
type Marks struct {
	File    string
	Streams []string
}

// maxSamples bounds the samples kept per stream: when full, every other one is dropped, so
// they thin out evenly over the stream.
const maxSamples = 128

// marksFile is the content of Marks.File.
type marksFile struct {
	LastSeq map[string]uint64 `json:"last_seq"`
	// Samples are, per stream, sequences it held and their store times, oldest first.
	Samples map[string][]sample `json:"samples,omitempty"`
	// Created are, per stream, its creation time (StreamInfo.Created): marks of a stream
	// deleted and created again, or of a store removed, are not the new one's.
	Created map[string]time.Time `json:"created,omitempty"`
	Written time.Time            `json:"written"`
}

// of returns the last sequence and the samples mf records of stream when they were taken of
// its incarnation created at created (marks written without creation times count as its own),
// else none.
func (mf marksFile) of(stream string, created time.Time) (uint64, []sample) {
	if c, ok := mf.Created[stream]; ok && !c.Equal(created) {
		return 0, nil
	}
	return mf.LastSeq[stream], mf.Samples[stream]
}

// sample is a sequence a stream held and its message's store time.
type sample struct {
	Seq  uint64    `json:"seq"`
	Time time.Time `json:"time"`
}

// readMarks reads file (empty or missing: no marks).
func readMarks(file string) (marksFile, error) {
	if file == "" {
		return marksFile{}, nil
	}
	b, err := os.ReadFile(file)
	if errors.Is(err, os.ErrNotExist) {
		return marksFile{}, nil
	}
	if err != nil {
		return marksFile{}, fmt.Errorf("stream marks: %w", err)
	}
	var mf marksFile
	if err := json.Unmarshal(b, &mf); err != nil {
		return marksFile{}, fmt.Errorf("stream marks %s: %w (remove the file to start without the check of lost stream ends)", file, err)
	}
	return mf, nil
}

// lostHead returns the oldest messages of a stream that starts at first and keeps messages
// for maxAge (0: forever) which samples say it held and age expiry cannot have removed
// (younger than maxAge by a minute's margin): from the earliest such sample to first-1. The
// messages between it and the sample before may be lost too: it is a lower bound.
func lostHead(samples []sample, first uint64, maxAge time.Duration, now time.Time) (Range, bool) {
	for _, sm := range samples {
		if sm.Seq >= first {
			break
		}
		if maxAge == 0 || now.Sub(sm.Time) < maxAge-time.Minute {
			return Range{sm.Seq, first - 1}, true
		}
	}
	return Range{}, false
}

// Write records the streams' last sequences now, and a sample of those whose gaps count
// (replacing the file atomically).
func (m Marks) Write(ctx context.Context, js jetstream.JetStream) error {
	old, err := readMarks(m.File)
	if err != nil {
		return err
	}
	mf := marksFile{LastSeq: map[string]uint64{}, Samples: map[string][]sample{}, Created: map[string]time.Time{}, Written: time.Now().UTC()}
	for _, name := range m.Streams {
		st, err := js.Stream(ctx, name)
		if errors.Is(err, jetstream.ErrStreamNotFound) {
			continue
		}
		if err != nil {
			return fmt.Errorf("stream marks: %w", err)
		}
		info, err := st.Info(ctx)
		if err != nil {
			return fmt.Errorf("stream marks: %w", err)
		}
		mf.LastSeq[name], mf.Created[name] = info.State.LastSeq, info.Created.UTC()
		if isGapStream(name) {
			_, samples := old.of(name, info.Created)
			mf.Samples[name] = addSample(samples, info.State)
		}
	}
	b, err := json.MarshalIndent(mf, "", "  ")
	if err != nil {
		return err
	}
	if err := writeSynced(m.File, b); err != nil {
		return fmt.Errorf("stream marks: %w", err)
	}
	return nil
}

// addSample returns samples without those the stream (in state) no longer holds, and with its
// last message added when it is new, thinned to maxSamples.
func addSample(samples []sample, state jetstream.StreamState) []sample {
	var out []sample
	for _, sm := range samples {
		if sm.Seq >= state.FirstSeq && sm.Seq <= state.LastSeq {
			out = append(out, sm)
		}
	}
	if state.Msgs > 0 && (len(out) == 0 || out[len(out)-1].Seq < state.LastSeq) {
		out = append(out, sample{Seq: state.LastSeq, Time: state.LastTime.UTC()})
	}
	if len(out) > maxSamples {
		thin := make([]sample, 0, maxSamples/2+1)
		for i := len(out) - 1; i >= 0; i -= 2 { // keep the newest
			thin = append(thin, out[i])
		}
		slices.Reverse(thin)
		out = thin
	}
	return out
}

// writeSynced replaces file with b atomically: a temporary file written and synced, renamed
// over file, and the directory synced (best effort: not every file system syncs directories).
func writeSynced(file string, b []byte) error {
	tmp := file + ".tmp"
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return err
	}
	_, err = f.Write(b)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, file)
	}
	if err != nil {
		_ = os.Remove(tmp)
		return err
	}
	if d, err := os.Open(filepath.Dir(file)); err == nil {
		_ = d.Sync()
		_ = d.Close()
	}
	return nil
}

// Run writes the marks every MarksEvery until ctx ends, then once more (the last sequences
// at shutdown). A failed write is logged at Warn and tried again at the next tick.
func (m Marks) Run(ctx context.Context, js jetstream.JetStream, log *slog.Logger) error {
	t := time.NewTicker(MarksEvery)
	defer t.Stop()
	failing := false
	write := func(ctx context.Context) {
		err := m.Write(ctx, js)
		if err != nil && !failing {
			log.Warn("record the streams' last sequences", "file", m.File, "err", err)
		}
		failing = err != nil
	}
	for {
		select {
		case <-ctx.Done():
			wctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
			write(wctx)
			cancel()
			return nil
		case <-t.C:
			wctx, cancel := context.WithTimeout(ctx, 5*time.Second)
			write(wctx)
			cancel()
		}
	}
}
