// Package bustest gives tests and benchmarks of other packages a real JetStream: an embedded
// nats-server on a temporary directory (bus.StartEmbedded), a connection to it, and helpers to
// read back what a stream stores. It is for tests only; nothing in a production path imports it.
package bustest

import (
	"context"
	"log/slog"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"breachd/bus"
)

// Server is a running embedded server and one client connection to it.
type Server struct {
	Embedded *bus.Embedded
	NC       *nats.Conn
	// JS publishes with an async window of bus.DefaultWindow.
	JS jetstream.JetStream
}

// StartServer starts an embedded server with JetStream on tb.TempDir() and connects to it. It
// does not create any stream. The connection and the server are closed by tb.Cleanup.
func StartServer(tb testing.TB) *Server {
	tb.Helper()
	srv, err := bus.StartEmbedded(bus.EmbeddedOptions{StoreDir: tb.TempDir(), NoAuth: true})
	if err != nil {
		tb.Fatalf("start embedded nats: %v", err)
	}
	tb.Cleanup(srv.Shutdown) // runs after the connections are closed (cleanups run last first)
	s := &Server{Embedded: srv}
	s.NC, s.JS = s.Connect(tb, bus.DefaultWindow)
	return s
}

// Connect opens another connection to s (bus.Connect) and a JetStream context over it with the
// given async publish window (bus.NewJetStream). tb.Cleanup closes it.
func (s *Server) Connect(tb testing.TB, window int) (*nats.Conn, jetstream.JetStream) {
	tb.Helper()
	nc, _, err := bus.Connect(s.Embedded.ClientURL(), tb.Name(), slog.New(slog.DiscardHandler))
	if err != nil {
		tb.Fatalf("connect: %v", err)
	}
	tb.Cleanup(nc.Close)
	js, err := bus.NewJetStream(nc, window, slog.New(slog.DiscardHandler))
	if err != nil {
		tb.Fatalf("jetstream with window %d: %v", window, err)
	}
	return nc, js
}

// Start is StartServer followed by bus.Ensure with the default configuration.
func Start(tb testing.TB) *Server {
	tb.Helper()
	s := StartServer(tb)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := bus.Ensure(ctx, s.JS, bus.Config{}); err != nil {
		tb.Fatalf("ensure streams: %v", err)
	}
	return s
}

// Count returns the number of messages stream holds.
func (s *Server) Count(tb testing.TB, stream string) uint64 {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_, info := s.stream(ctx, tb, stream)
	return info.State.Msgs
}

// Messages returns every message stream holds, in sequence order.
func (s *Server) Messages(tb testing.TB, stream string) []*jetstream.RawStreamMsg {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	st, info := s.stream(ctx, tb, stream)
	if info.State.Msgs == 0 {
		return nil
	}
	msgs := make([]*jetstream.RawStreamMsg, 0, info.State.Msgs)
	for seq := info.State.FirstSeq; seq <= info.State.LastSeq; seq++ {
		m, err := st.GetMsg(ctx, seq)
		if err != nil {
			tb.Fatalf("stream %s message %d: %v", stream, seq, err)
		}
		msgs = append(msgs, m)
	}
	return msgs
}

// stream looks stream up and reads its state, failing tb if either fails.
func (s *Server) stream(ctx context.Context, tb testing.TB, stream string) (jetstream.Stream, *jetstream.StreamInfo) {
	tb.Helper()
	st, err := s.JS.Stream(ctx, stream)
	if err != nil {
		tb.Fatalf("stream %s: %v", stream, err)
	}
	info, err := st.Info(ctx)
	if err != nil {
		tb.Fatalf("stream %s info: %v", stream, err)
	}
	return st, info
}

// Layout returns the partition layout the EVENTS stream records (bus.ReadLayout).
func (s *Server) Layout(tb testing.TB) bus.Layout {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	l, err := bus.ReadLayout(ctx, s.JS)
	if err != nil {
		tb.Fatalf("partition layout: %v", err)
	}
	return l
}
