package file

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"

	"breachd/ingest"
)

// Defaults.
const (
	DefaultBatch = 1000
	// MaxLine stays well under nats-server's default max_payload (1 MiB), so that a cut line
	// plus its dead-letter headers can still be published.
	MaxLine = 512 << 10
)

// Source reads JSON Lines from files and stdin.
type Source struct {
	paths  []string
	stdin  io.Reader
	batch  int
	format ingest.Format
	log    *slog.Logger
	// progress receives a running total after each file (optional, for progress output).
	progress func(path string, total ingest.Result)
}

// Options configures New.
type Options struct {
	Batch    int           // lines per Submit (default 1000)
	Stdin    io.Reader     // what "-" reads (default os.Stdin)
	Format   ingest.Format // reads the lines (nil: canonical JSON)
	Logger   *slog.Logger
	Progress func(path string, total ingest.Result) // called after each file
}

// New returns a Source over paths; "-" means standard input.
func New(paths []string, opts Options) *Source {
	if opts.Batch <= 0 {
		opts.Batch = DefaultBatch
	}
	if opts.Stdin == nil {
		opts.Stdin = os.Stdin
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	return &Source{paths: paths, stdin: opts.Stdin, batch: opts.Batch, format: opts.Format,
		log: opts.Logger.With("component", "ingest.file"), progress: opts.Progress}
}

// Run implements ingest.Source. A batch whose Submit failed because NATS was unavailable
// (bus.Unavailable) is submitted again until it is durable; any other failure ends Run.
func (s *Source) Run(ctx context.Context, sink ingest.Sink) error {
	sink = resubmitting{sink: sink, log: s.log}
	var total ingest.Result
	for _, p := range s.paths {
		res, err := s.readPath(ctx, p, sink)
		total.Add(res)
		if err != nil {
			if errors.Is(err, context.Canceled) && ctx.Err() != nil {
				return nil
			}
			return err
		}
		s.log.Info("file ingested", "path", p, "accepted", res.Accepted, "rejected", res.Rejected, "duplicates", res.Duplicates)
		if s.progress != nil {
			s.progress(p, total)
		}
	}
	return nil
}

func (s *Source) readPath(ctx context.Context, path string, sink ingest.Sink) (ingest.Result, error) {
	if path == "-" {
		return Read(ctx, s.stdin, ingest.Batch{Source: "stdin", Format: s.format}, "stdin", s.batch, sink)
	}
	f, err := os.Open(path)
	if err != nil {
		return ingest.Result{}, fmt.Errorf("open %s: %w", path, err)
	}
	defer f.Close()
	return Read(ctx, f, ingest.Batch{Source: "file", Format: s.format}, filepath.Base(path), s.batch, sink)
}

// Read submits every line of r in batches of size batch, under the source name and with the
// format of in (whose records it fills); name prefixes each record's location ("name:line").
func Read(ctx context.Context, r io.Reader, in ingest.Batch, name string, batch int, sink ingest.Sink) (ingest.Result, error) {
	var total ingest.Result
	br := bufio.NewReaderSize(r, 256<<10)
	recs := make([]ingest.Record, 0, batch)
	flush := func() error {
		if len(recs) == 0 {
			return nil
		}
		in.Records = recs
		res, err := sink.Submit(ctx, in)
		if err != nil {
			return err
		}
		total.Add(res)
		recs = recs[:0]
		return nil
	}
	for n := 1; ; n++ {
		line, err := readLine(br)
		if len(bytes.TrimSpace(line)) > 0 {
			recs = append(recs, ingest.Record{Data: line, Where: fmt.Sprintf("%s:%d", name, n)})
			if len(recs) == batch {
				if ferr := flush(); ferr != nil {
					return total, ferr
				}
			}
		}
		if err == io.EOF {
			return total, flush()
		}
		if err != nil {
			return total, fmt.Errorf("read %s line %d: %w", name, n, err)
		}
		if ctx.Err() != nil {
			return total, ctx.Err()
		}
	}
}

// readLine returns the next line without its newline, a copy the caller may keep. A line
// longer than MaxLine is cut to MaxLine bytes and the rest of it is discarded.
func readLine(br *bufio.Reader) ([]byte, error) {
	var out []byte
	for {
		chunk, err := br.ReadSlice('\n')
		if len(out)+len(chunk) <= MaxLine {
			out = append(out, chunk...)
		} else if len(out) < MaxLine {
			out = append(out, chunk[:MaxLine-len(out)]...)
		}
		if err == bufio.ErrBufferFull {
			continue
		}
		return bytes.TrimRight(out, "\r\n"), err
	}
}
