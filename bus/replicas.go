package bus

import (
	"context"
	"errors"
	"fmt"
	"log/slog"

	"github.com/nats-io/nats.go/jetstream"
)

// Replicas of streams and key-value buckets.
//
// Every stream and bucket breachd creates (Ensure's, and the buckets and streams of auth,
// respond and notify/channel) is created through a JetStream context made by NewJetStream,
// which applies one policy to the replica count the creator asks for:
//
//   - a new stream or bucket gets the count asked for;
//   - an existing one with fewer replicas is scaled up (a stream update: NATS allows R1 → R3 on
//     a cluster, the data is copied to the new peers while it serves);
//   - an existing one with more replicas keeps them, and a warning says so: breachd never
//     scales a stream down (a process started with the default --replicas 1 against a cluster
//     whose streams are R3 must not take their redundancy away). Scaling down is a person's
//     decision: `nats stream edit --replicas 1 NAME`;
//   - a count the server cannot place is an error wrapping ErrReplicas that says what to do:
//     more than one replica on a server that is not clustered (the embedded server has one
//     node), or more replicas than the cluster has JetStream servers.
//
// Consumers created with Replicas 0 follow their stream's count.

// MaxReplicas is the most replicas NATS gives a stream.
const MaxReplicas = 5

// ErrReplicas is wrapped by the errors of creating or updating a stream or bucket with a
// replica count the NATS server or cluster cannot place.
var ErrReplicas = errors.New("replica count not possible here")

// JetStream API error codes of placement failures (nats-server jetstream_errors_generated.go).
const (
	errCodeReplicasNotSupported jetstream.ErrorCode = 10074 // replicas > 1 not supported in non-clustered mode
	errCodeNoPeers              jetstream.ErrorCode = 10005 // no suitable peers for placement
	errCodeInsufficientRes      jetstream.ErrorCode = 10023 // insufficient resources
)

// replicaGuard applies the replica policy above to the streams and buckets created or updated
// through it; everything else goes to the JetStream it wraps.
type replicaGuard struct {
	jetstream.JetStream
	log *slog.Logger
}

// CreateStream creates a stream (replicas as asked; an existing stream is not changed).
func (g replicaGuard) CreateStream(ctx context.Context, cfg jetstream.StreamConfig) (jetstream.Stream, error) {
	s, err := g.JetStream.CreateStream(ctx, cfg)
	return s, explainReplicas(cfg.Replicas, err)
}

// UpdateStream updates a stream, never lowering its replica count.
func (g replicaGuard) UpdateStream(ctx context.Context, cfg jetstream.StreamConfig) (jetstream.Stream, error) {
	cfg.Replicas = g.keep(ctx, cfg.Name, "stream", cfg.Replicas)
	s, err := g.JetStream.UpdateStream(ctx, cfg)
	return s, explainReplicas(cfg.Replicas, err)
}

// CreateOrUpdateStream creates or updates a stream, never lowering its replica count.
func (g replicaGuard) CreateOrUpdateStream(ctx context.Context, cfg jetstream.StreamConfig) (jetstream.Stream, error) {
	cfg.Replicas = g.keep(ctx, cfg.Name, "stream", cfg.Replicas)
	s, err := g.JetStream.CreateOrUpdateStream(ctx, cfg)
	return s, explainReplicas(cfg.Replicas, err)
}

// CreateKeyValue creates a bucket (replicas as asked; an existing bucket is not changed).
func (g replicaGuard) CreateKeyValue(ctx context.Context, cfg jetstream.KeyValueConfig) (jetstream.KeyValue, error) {
	kv, err := g.JetStream.CreateKeyValue(ctx, cfg)
	return kv, explainReplicas(cfg.Replicas, err)
}

// UpdateKeyValue updates a bucket, never lowering its replica count.
func (g replicaGuard) UpdateKeyValue(ctx context.Context, cfg jetstream.KeyValueConfig) (jetstream.KeyValue, error) {
	cfg.Replicas = g.keep(ctx, "KV_"+cfg.Bucket, "bucket", cfg.Replicas)
	kv, err := g.JetStream.UpdateKeyValue(ctx, cfg)
	return kv, explainReplicas(cfg.Replicas, err)
}

// CreateOrUpdateKeyValue creates or updates a bucket, never lowering its replica count.
func (g replicaGuard) CreateOrUpdateKeyValue(ctx context.Context, cfg jetstream.KeyValueConfig) (jetstream.KeyValue, error) {
	cfg.Replicas = g.keep(ctx, "KV_"+cfg.Bucket, "bucket", cfg.Replicas)
	kv, err := g.JetStream.CreateOrUpdateKeyValue(ctx, cfg)
	return kv, explainReplicas(cfg.Replicas, err)
}

// keep returns the replica count to configure stream with when want is asked for: the count
// it has when that is more (with a warning), else want. A lookup that fails leaves want, and
// the create or update that follows reports the trouble.
func (g replicaGuard) keep(ctx context.Context, stream, what string, want int) int {
	s, err := g.JetStream.Stream(ctx, stream)
	if err != nil {
		return want
	}
	have := s.CachedInfo().Config.Replicas
	if have > max(want, 1) {
		g.log.Warn("keeping the replicas of an existing stream: breachd never scales down (give every process the same --replicas; to scale down: nats stream edit --replicas N)",
			"stream", stream, "kind", what, "replicas", have, "configured", max(want, 1))
		return have
	}
	return want
}

// explainReplicas turns the server's placement errors for a stream of want replicas into one
// that says what to do (the caller names the stream or bucket); other errors are returned as
// they are.
func explainReplicas(want int, err error) error {
	var apiErr *jetstream.APIError
	if err == nil || !errors.As(err, &apiErr) || want <= 1 {
		return err
	}
	switch apiErr.ErrorCode {
	case errCodeReplicasNotSupported:
		return fmt.Errorf("%w: --replicas %d needs a NATS cluster of at least %d JetStream servers, and this server is not clustered "+
			"(the embedded server has one node): give --replicas 1, or --nats with the URLs of a cluster (%v)", ErrReplicas, want, want, err)
	case errCodeNoPeers, errCodeInsufficientRes:
		return fmt.Errorf("%w: --replicas %d needs %d JetStream servers of the cluster up and with room, and fewer are: "+
			"start the missing servers or give a lower --replicas (%v)", ErrReplicas, want, want, err)
	}
	return err
}
