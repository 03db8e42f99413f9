package bus_test

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sort"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"breachd/bus"
	"breachd/event"
)

func TestReproDamage(t *testing.T) {
	mode := os.Getenv("DAMAGE")
	dir := t.TempDir()
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	start := func() (*bus.Embedded, jetstream.JetStream) {
		srv, err := bus.StartEmbedded(bus.EmbeddedOptions{StoreDir: dir, NoAuth: true, Logger: log})
		if err != nil {
			t.Fatal(err)
		}
		_, js, err := bus.Connect(srv.ClientURL(), "x", log)
		if err != nil {
			t.Fatal(err)
		}
		return srv, js
	}
	ctx := context.Background()
	srv, js := start()
	if err := bus.Ensure(ctx, js, bus.Config{}); err != nil {
		t.Fatal(err)
	}
	payload := make([]byte, 300)
	for i := range 60000 {
		f, err := js.PublishAsync(bus.PartitionSubject(event.KindAuth, i%8), payload, jetstream.WithMsgID(fmt.Sprint(i)))
		if err != nil {
			t.Fatal(err)
		}
		_ = f
	}
	<-js.PublishAsyncComplete()
	c, _ := js.CreateOrUpdateConsumer(ctx, bus.StreamEvents, jetstream.ConsumerConfig{Durable: "detect-0", AckPolicy: jetstream.AckExplicitPolicy})
	n := 0
	for n < 20000 {
		b, _ := c.Fetch(1000)
		for m := range b.Messages() {
			m.DoubleAck(ctx)
			n++
		}
	}
	srv.Shutdown()
	mdir := filepath.Join(dir, "jetstream", "$G", "streams", "EVENTS", "msgs")
	ents, _ := os.ReadDir(mdir)
	var blks []string
	for _, e := range ents {
		fi, _ := e.Info()
		fmt.Println("file", e.Name(), fi.Size())
		if filepath.Ext(e.Name()) == ".blk" {
			blks = append(blks, e.Name())
		}
	}
	sort.Strings(blks)
	first := filepath.Join(mdir, blks[0])
	last := filepath.Join(mdir, blks[len(blks)-1])
	switch mode {
	case "truncate-first":
		fi, _ := os.Stat(first)
		os.Truncate(first, fi.Size()/2)
	case "truncate-last":
		fi, _ := os.Stat(last)
		os.Truncate(last, fi.Size()/2)
	case "overwrite-first":
		f, _ := os.OpenFile(first, os.O_RDWR, 0)
		f.WriteAt(make([]byte, 100000), 1000000)
		f.Close()
	case "overwrite-last":
		f, _ := os.OpenFile(last, os.O_RDWR, 0)
		f.WriteAt(make([]byte, 100000), 100000)
		f.Close()
	case "delete-first":
		os.Remove(first)
	case "delete-index":
		os.Remove(filepath.Join(mdir, "index.db"))
	}
	fmt.Println("---- restart, damage", mode)
	srv, js = start()
	defer srv.Shutdown()
	st, err := js.Stream(ctx, bus.StreamEvents)
	if err != nil {
		t.Fatal(err)
	}
	info := st.CachedInfo()
	fmt.Printf("state msgs=%d first=%d last=%d deleted=%d lost=%+v\n", info.State.Msgs, info.State.FirstSeq, info.State.LastSeq, info.State.NumDeleted, info.State.Lost)
	ci, err := js.Consumer(ctx, bus.StreamEvents, "detect-0")
	if err == nil {
		i := ci.CachedInfo()
		fmt.Printf("consumer ackfloor=%d pending=%d delivered=%d\n", i.AckFloor.Stream, i.NumPending, i.Delivered.Stream)
	} else {
		fmt.Println("consumer", err)
	}
	c2, _ := js.CreateOrUpdateConsumer(ctx, bus.StreamEvents, jetstream.ConsumerConfig{Durable: "count", AckPolicy: jetstream.AckNonePolicy})
	got := 0
	for {
		b, _ := c2.Fetch(5000, jetstream.FetchMaxWait(500*time.Millisecond))
		k := 0
		for range b.Messages() {
			k++
		}
		got += k
		if k == 0 {
			break
		}
	}
	fmt.Println("readable", got)
	time.Sleep(200 * time.Millisecond)
	st2, _ := js.Stream(ctx, bus.StreamEvents)
	info2, _ := st2.Info(ctx)
	fmt.Printf("after read state msgs=%d first=%d last=%d deleted=%d lost=%+v\n", info2.State.Msgs, info2.State.FirstSeq, info2.State.LastSeq, info2.State.NumDeleted, info2.State.Lost != nil)
}
