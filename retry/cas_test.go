package retry_test

import (
	"context"
	"errors"
	"strconv"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"breachd/bus"
	"breachd/bus/bustest"
	"breachd/retry"
)

// counterKV starts an embedded nats-server and returns a KV bucket holding key "n" = "0", as
// seen by two clients: the one under test and a concurrent writer on its own connection.
func counterKV(t *testing.T) (ctx context.Context, kv, other jetstream.KeyValue) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	s := bustest.StartServer(t)
	kv, err := s.JS.CreateKeyValue(ctx, jetstream.KeyValueConfig{Bucket: "cas", History: 1})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := kv.Create(ctx, "n", []byte("0")); err != nil {
		t.Fatal(err)
	}
	_, js := s.Connect(t, bus.DefaultWindow)
	if other, err = js.KeyValue(ctx, "cas"); err != nil {
		t.Fatal(err)
	}
	return ctx, kv, other
}

// increment is one CAS attempt adding 1 to "n"; interfere runs between its read and its write.
func increment(kv jetstream.KeyValue, interfere func(ctx context.Context) error) func(ctx context.Context) error {
	return func(ctx context.Context) error {
		ent, err := kv.Get(ctx, "n")
		if err != nil {
			return err
		}
		n, err := strconv.Atoi(string(ent.Value()))
		if err != nil {
			return err
		}
		if err := interfere(ctx); err != nil {
			return err
		}
		_, err = retry.Write(ctx, kv, "n", []byte(strconv.Itoa(n+1)), ent.Revision())
		return err
	}
}

func value(t *testing.T, ctx context.Context, kv jetstream.KeyValue) string {
	t.Helper()
	ent, err := kv.Get(ctx, "n")
	if err != nil {
		t.Fatal(err)
	}
	return string(ent.Value())
}

// A writer that changes the key between CAS's read and its write makes the write lose; CAS
// then reads again and applies its change on top, so neither update is lost.
func TestCASRetriesAfterConcurrentWrite(t *testing.T) {
	ctx, kv, other := counterKV(t)
	attempts := 0
	err := retry.CAS(ctx, "increment", increment(kv, func(ctx context.Context) error {
		attempts++
		if attempts > 2 {
			return nil
		}
		_, err := other.Put(ctx, "n", []byte("100"))
		return err
	}))
	if err != nil {
		t.Fatalf("CAS: %v", err)
	}
	if attempts != 3 {
		t.Errorf("attempts = %d, want 3 (two lost to the other writer)", attempts)
	}
	if got := value(t, ctx, kv); got != "101" {
		t.Errorf("n = %s, want 101: the other writer's 100 plus this increment", got)
	}
	// Creating a key that exists loses the same way.
	if _, err := retry.Write(ctx, kv, "n", []byte("x"), 0); !retry.IsLost(err) || !errors.Is(err, retry.ErrLost) {
		t.Errorf("create over an existing key: %v, want ErrLost", err)
	}
}

// Against a writer that always gets there first, CAS gives up after CASAttempts attempts
// with ErrContended and writes nothing of its own.
func TestCASContended(t *testing.T) {
	ctx, kv, other := counterKV(t)
	attempts := 0
	err := retry.CAS(ctx, "increment", increment(kv, func(ctx context.Context) error {
		attempts++
		_, err := other.Put(ctx, "n", []byte(strconv.Itoa(1000+attempts)))
		return err
	}))
	if !errors.Is(err, retry.ErrContended) {
		t.Fatalf("CAS = %v, want ErrContended", err)
	}
	if attempts != retry.CASAttempts {
		t.Errorf("attempts = %d, want %d", attempts, retry.CASAttempts)
	}
	if got, want := value(t, ctx, kv), strconv.Itoa(1000+retry.CASAttempts); got != want {
		t.Errorf("n = %s, want the other writer's last value %s", got, want)
	}
	// Any error other than a lost write ends CAS at once.
	stop := errors.New("bad value")
	attempts = 0
	err = retry.CAS(ctx, "increment", func(context.Context) error { attempts++; return stop })
	if !errors.Is(err, stop) || attempts != 1 {
		t.Errorf("CAS with a failing attempt: %v after %d attempts, want that error after 1", err, attempts)
	}
}
