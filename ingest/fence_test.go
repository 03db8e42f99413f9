package ingest_test

import (
	"testing"

	"github.com/nats-io/nats.go/jetstream"

	"breachd/bus"
	"breachd/bus/bustest"
	"breachd/ingest"
)

// TestDirectoryFence: an access that follows a directory change in a batch is published only
// once the change is stored. Here the change's publish fails (EVENTS takes one message per
// directory subject and refuses more, standing in for a leader that died with it in flight):
// the batch fails and the access after it was never published, so a resubmission stores the
// change before it, as the log has them. Without the fence the access would be stored, alone,
// ahead of the change it depends on.
func TestDirectoryFence(t *testing.T) {
	s := bustest.Start(t)
	ctx := testCtx(t)
	st, err := s.JS.Stream(ctx, bus.StreamEvents)
	if err != nil {
		t.Fatal(err)
	}
	cfg := st.CachedInfo().Config
	cfg.MaxMsgsPerSubject, cfg.Discard, cfg.DiscardNewPerSubject = 1, jetstream.DiscardNew, true
	if _, err := s.JS.UpdateStream(ctx, cfg); err != nil {
		t.Fatal(err)
	}
	p, _ := newPipeline(t, s)
	dir1 := validLines[3].line // guardianship
	dir2 := validLines[4].line // person: refused, the subject holds one message already
	access := validLines[1].line
	_, err = p.Submit(ctx, ingest.Batch{Source: "test", Records: []ingest.Record{
		{Data: []byte(dir1)}, {Data: []byte(dir2)}, {Data: []byte(access)},
	}})
	if err == nil {
		t.Fatal("Submit succeeded although the second directory change was refused")
	}
	for _, m := range s.Messages(t, bus.StreamEvents) {
		if m.Subject != "breachd.events.directory" {
			t.Errorf("%s stored although the directory change before it was not", m.Subject)
		}
	}
	if n := s.Count(t, bus.StreamEvents); n != 1 {
		t.Errorf("EVENTS holds %d messages, want the first directory change alone", n)
	}
}
