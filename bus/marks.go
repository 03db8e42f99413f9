package bus

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// MarksEvery is how often Marks.Run records the streams' last sequences.
const MarksEvery = 5 * time.Second

// Marks records the last sequence of each of Streams in File, so that CheckStore sees a
// stream whose tail was lost (the server starts it at a lower last sequence and says nothing).
// Only the process that owns the store (the embedded server's) keeps marks.
type Marks struct {
	File    string
	Streams []string
}

// marksFile is the content of Marks.File.
type marksFile struct {
	LastSeq map[string]uint64 `json:"last_seq"`
	Written time.Time         `json:"written"`
}

func readMarks(file string) (map[string]uint64, error) {
	if file == "" {
		return nil, nil
	}
	b, err := os.ReadFile(file)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("stream marks: %w", err)
	}
	var mf marksFile
	if err := json.Unmarshal(b, &mf); err != nil {
		return nil, fmt.Errorf("stream marks %s: %w (remove the file to start without the check of lost stream tails)", file, err)
	}
	return mf.LastSeq, nil
}

// Write records the streams' last sequences now (replacing the file atomically).
func (m Marks) Write(ctx context.Context, js jetstream.JetStream) error {
	mf := marksFile{LastSeq: map[string]uint64{}, Written: time.Now().UTC()}
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
		mf.LastSeq[name] = info.State.LastSeq
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
