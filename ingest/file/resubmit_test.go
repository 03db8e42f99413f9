package file_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"breachd/ingest"
	"breachd/ingest/file"
)

// failingSink fails its first fails Submits with err, then accepts every record.
type failingSink struct {
	err      error
	fails    int
	submits  int
	accepted int
}

func (s *failingSink) Submit(_ context.Context, b ingest.Batch) (ingest.Result, error) {
	s.submits++
	if s.submits <= s.fails {
		return ingest.Result{}, fmt.Errorf("submit %d records from %s: %w", len(b.Records), b.Source, s.err)
	}
	s.accepted += len(b.Records)
	return ingest.Result{Accepted: len(b.Records)}, nil
}

// A read submits a batch again while NATS is unavailable (a cluster's failover), and stops at
// once on any other failure.
func TestReadResubmitsWhileNATSUnavailable(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	lines := strings.Repeat(`{"kind":"auth"}`+"\n", 5)

	leaderless := &failingSink{err: jetstream.ErrNoStreamResponse, fails: 3}
	if err := file.New([]string{"-"}, file.Options{Stdin: strings.NewReader(lines), Logger: discard}).Run(ctx, leaderless); err != nil {
		t.Fatalf("read while the stream had no leader: %v", err)
	}
	if leaderless.submits != 4 || leaderless.accepted != 5 {
		t.Errorf("%d submits, %d records accepted; want the batch submitted 4 times, 5 records", leaderless.submits, leaderless.accepted)
	}

	refused := &failingSink{err: &jetstream.APIError{Code: 400, Description: "maximum payload exceeded"}, fails: 1}
	err := file.New([]string{"-"}, file.Options{Stdin: strings.NewReader(lines), Logger: discard}).Run(ctx, refused)
	var api *jetstream.APIError
	if !errors.As(err, &api) || refused.submits != 1 {
		t.Errorf("read refused by JetStream: err %v after %d submits; want the refusal after one", err, refused.submits)
	}
}
