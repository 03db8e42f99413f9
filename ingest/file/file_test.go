package file_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"breachd/ingest"
	"breachd/ingest/file"
)

// recorder is a Sink that keeps a copy of every batch (Read reuses its slice after Submit
// returns) and accepts every record, except that submit number failAt (1-based) fails with err.
type recorder struct {
	mu      sync.Mutex
	batches [][]ingest.Record
	sources []string
	calls   int
	failAt  int
	err     error
	// onSubmit, if set, runs at the start of every Submit with its 1-based number.
	onSubmit func(ctx context.Context, n int) error
}

func (r *recorder) Submit(ctx context.Context, b ingest.Batch) (ingest.Result, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.calls++
	if r.onSubmit != nil {
		if err := r.onSubmit(ctx, r.calls); err != nil {
			return ingest.Result{}, err
		}
	}
	if r.calls == r.failAt {
		return ingest.Result{}, r.err
	}
	r.batches = append(r.batches, append([]ingest.Record(nil), b.Records...))
	r.sources = append(r.sources, b.Source)
	return ingest.Result{Accepted: len(b.Records)}, nil
}

// lines returns every submitted record as "where=data".
func (r *recorder) lines() []string {
	var out []string
	for _, b := range r.batches {
		for _, rec := range b {
			out = append(out, rec.Where+"="+string(rec.Data))
		}
	}
	return out
}

func (r *recorder) sizes() []int {
	var out []int
	for _, b := range r.batches {
		out = append(out, len(b))
	}
	return out
}

func numbered(n int) string {
	var b strings.Builder
	for i := 1; i <= n; i++ {
		fmt.Fprintf(&b, "line %d\n", i)
	}
	return b.String()
}

func TestReadBatching(t *testing.T) {
	cases := []struct {
		lines, batch int
		want         []int
	}{
		{7, 3, []int{3, 3, 1}},
		{6, 3, []int{3, 3}},
		{7, 1, []int{1, 1, 1, 1, 1, 1, 1}},
		{7, 7, []int{7}},
		{7, 100, []int{7}},
		{0, 3, nil},
	}
	for _, c := range cases {
		t.Run(fmt.Sprintf("%d lines by %d", c.lines, c.batch), func(t *testing.T) {
			var r recorder
			res, err := file.Read(context.Background(), strings.NewReader(numbered(c.lines)), ingest.Batch{Source: "file"}, "n", c.batch, &r)
			if err != nil {
				t.Fatal(err)
			}
			if fmt.Sprint(r.sizes()) != fmt.Sprint(c.want) {
				t.Errorf("batch sizes %v, want %v", r.sizes(), c.want)
			}
			if res.Accepted != c.lines {
				t.Errorf("Accepted = %d, want %d", res.Accepted, c.lines)
			}
			got := r.lines()
			for i, l := range got {
				if want := fmt.Sprintf("n:%d=line %d", i+1, i+1); l != want {
					t.Fatalf("record %d = %q, want %q", i, l, want)
				}
			}
		})
	}
}

func TestReadLines(t *testing.T) {
	cases := []struct {
		name, in string
		want     []string
	}{
		{"blank lines skipped, numbers kept", "a\n\nb\n\n\nc\n", []string{"x:1=a", "x:3=b", "x:6=c"}},
		{"whitespace-only lines skipped", "a\n   \n\t\t\n \r\nb\n", []string{"x:1=a", "x:5=b"}},
		{"CRLF stripped", "a\r\nb\r\n\r\nc\r\n", []string{"x:1=a", "x:2=b", "x:4=c"}},
		{"no final newline", "a\nb", []string{"x:1=a", "x:2=b"}},
		{"no final newline after CR", "a\nb\r", []string{"x:1=a", "x:2=b"}},
		{"inner spaces kept", "  {\"a\": 1}  \n", []string{"x:1=  {\"a\": 1}  "}},
		{"only blanks", "\n\n  \n", nil},
		{"empty", "", nil},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var r recorder
			if _, err := file.Read(context.Background(), strings.NewReader(c.in), ingest.Batch{Source: "file"}, "x", 2, &r); err != nil {
				t.Fatal(err)
			}
			if got := r.lines(); fmt.Sprintf("%q", got) != fmt.Sprintf("%q", c.want) {
				t.Errorf("records %q, want %q", got, c.want)
			}
		})
	}
}

func TestReadLongLine(t *testing.T) {
	for _, c := range []struct {
		name string
		n    int // bytes of the long line
		eol  string
	}{
		{"just under", file.MaxLine - 1, "\n"},
		{"just under CRLF", file.MaxLine - 1, "\r\n"},
		{"exactly", file.MaxLine, "\n"},
		{"exactly CRLF", file.MaxLine, "\r\n"},
		{"one over", file.MaxLine + 1, "\n"},
		{"three times", 3*file.MaxLine + 17, "\r\n"},
	} {
		t.Run(c.name, func(t *testing.T) {
			in := strings.Repeat("x", c.n) + c.eol + "\nnext\n"
			var r recorder
			if _, err := file.Read(context.Background(), strings.NewReader(in), ingest.Batch{Source: "file"}, "big", 10, &r); err != nil {
				t.Fatal(err)
			}
			if len(r.batches) != 1 || len(r.batches[0]) != 2 {
				t.Fatalf("batches %v, want one of 2 records", r.sizes())
			}
			long, next := r.batches[0][0], r.batches[0][1]
			if want := min(c.n, file.MaxLine); len(long.Data) != want || strings.Trim(string(long.Data), "x") != "" {
				t.Errorf("long line: %d bytes (want %d of 'x')", len(long.Data), want)
			}
			if long.Where != "big:1" {
				t.Errorf("long line at %s", long.Where)
			}
			if string(next.Data) != "next" || next.Where != "big:3" {
				t.Errorf("after the long line: %s=%q, want big:3=\"next\"", next.Where, next.Data)
			}
		})
	}
}

func TestRunStdinAndFiles(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "sub", "a.jsonl")
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte("f1\n\nf3\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	var progress []string
	src := file.New([]string{path, "-"}, file.Options{
		Logger: discard,
		Batch:  10,
		Stdin:  strings.NewReader("s1\ns2\n"),
		Progress: func(p string, total ingest.Result) {
			progress = append(progress, fmt.Sprintf("%s:%d", filepath.Base(p), total.Accepted))
		},
	})
	var r recorder
	if err := src.Run(context.Background(), &r); err != nil {
		t.Fatal(err)
	}
	if got, want := fmt.Sprint(r.lines()), "[a.jsonl:1=f1 a.jsonl:3=f3 stdin:1=s1 stdin:2=s2]"; got != want {
		t.Errorf("records %s, want %s", got, want)
	}
	if got := fmt.Sprint(r.sources); got != "[file stdin]" {
		t.Errorf("sources %s", got)
	}
	if got := fmt.Sprint(progress); got != "[a.jsonl:2 -:4]" {
		t.Errorf("progress %s, want running totals per path", got)
	}
}

func TestRunMissingFile(t *testing.T) {
	dir := t.TempDir()
	ok := filepath.Join(dir, "ok.jsonl")
	if err := os.WriteFile(ok, []byte("a\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	missing := filepath.Join(dir, "missing.jsonl")
	var r recorder
	err := file.New([]string{ok, missing, ok}, file.Options{Logger: discard}).Run(context.Background(), &r)
	if !errors.Is(err, os.ErrNotExist) || !strings.Contains(err.Error(), missing) {
		t.Fatalf("err = %v, want a not-exist error naming %s", err, missing)
	}
	if r.calls != 1 {
		t.Errorf("%d submits, want 1 (the file before the missing one, nothing after)", r.calls)
	}
}

func TestSinkErrorStopsReading(t *testing.T) {
	boom := errors.New("jetstream unavailable")
	r := recorder{failAt: 2, err: boom}
	res, err := file.Read(context.Background(), strings.NewReader(numbered(10)), ingest.Batch{Source: "file"}, "n", 3, &r)
	if !errors.Is(err, boom) {
		t.Fatalf("err = %v, want the sink's error", err)
	}
	if r.calls != 2 {
		t.Errorf("%d submits, want 2: reading must stop at the failed batch", r.calls)
	}
	if res.Accepted != 3 {
		t.Errorf("Accepted = %d, want 3 (only the batch that was submitted successfully)", res.Accepted)
	}
	// Run reports the error (it is not a cancellation).
	r = recorder{failAt: 1, err: boom}
	if err := file.New([]string{"-"}, file.Options{Logger: discard, Stdin: strings.NewReader("a\n")}).Run(context.Background(), &r); !errors.Is(err, boom) {
		t.Errorf("Run = %v, want the sink's error", err)
	}
}

// endless yields "{}\n" forever, like a source that never runs dry.
type endless struct{}

func (endless) Read(p []byte) (int, error) {
	n := 0
	for n+3 <= len(p) {
		n += copy(p[n:], "{}\n")
	}
	return n, nil
}

func TestCancelReturnsPromptly(t *testing.T) {
	cases := []struct {
		name string
		// onSubmit runs inside the sink; cancel cancels the reader's context.
		onSubmit func(ctx context.Context, n int, cancel context.CancelFunc) error
		submits  int // submits that must have happened
	}{
		{"cancelled between batches", func(_ context.Context, n int, cancel context.CancelFunc) error {
			if n == 2 {
				cancel()
			}
			return nil
		}, 2},
		{"cancelled while the sink blocks", func(ctx context.Context, n int, cancel context.CancelFunc) error {
			if n == 1 {
				return nil
			}
			cancel()
			<-ctx.Done() // a Submit blocked on JetStream returns when ctx ends
			return fmt.Errorf("submit: %w", ctx.Err())
		}, 2},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			r := recorder{onSubmit: func(ctx context.Context, n int) error { return c.onSubmit(ctx, n, cancel) }}
			done := make(chan error, 1)
			go func() {
				done <- file.New([]string{"-"}, file.Options{Logger: discard, Batch: 100, Stdin: io.MultiReader(endless{})}).Run(ctx, &r)
			}()
			select {
			case err := <-done:
				if err != nil {
					t.Errorf("Run after cancel = %v, want nil", err)
				}
			case <-time.After(10 * time.Second):
				t.Fatal("Run did not return after its context was cancelled")
			}
			if r.calls != c.submits {
				t.Errorf("%d submits, want %d", r.calls, c.submits)
			}
		})
	}
	// Read itself reports the cancellation, with what was done before it.
	ctx, cancel := context.WithCancel(context.Background())
	r := recorder{onSubmit: func(_ context.Context, n int) error { cancel(); return nil }}
	type result struct {
		res ingest.Result
		err error
	}
	done := make(chan result, 1)
	go func() {
		res, err := file.Read(ctx, endless{}, ingest.Batch{Source: "stdin"}, "stdin", 5, &r)
		done <- result{res, err}
	}()
	select {
	case got := <-done:
		if !errors.Is(got.err, context.Canceled) || got.res.Accepted != 5 {
			t.Errorf("Read after cancel = %+v, %v; want 5 accepted, context.Canceled", got.res, got.err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Read did not return after its context was cancelled")
	}
}
