package ingest

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"breachd/bus"
	"breachd/event"
)

// deadLetter publishes the original bytes with the reason. The message id is a hash of source,
// location and bytes: replaying the same input does not pile up copies, while two identical bad
// lines at different places stay two dead letters.
func (p *Pipeline) deadLetter(ctx context.Context, source string, r Record, cause error) (f jetstream.PubAckFuture, reason string, err error) {
	var ie *event.InvalidError
	if !errors.As(cause, &ie) {
		return nil, "", fmt.Errorf("parse %s: %w", r.Where, cause)
	}
	h := sha256.Sum256(append([]byte(source+"\x00"+r.Where+"\x00"), r.Data...))
	hdr := nats.Header{}
	hdr.Set(bus.HeaderSource, source)
	hdr.Set(bus.HeaderReason, ie.Error())
	if r.Where != "" {
		hdr.Set(bus.HeaderWhere, r.Where)
	}
	p.log.Debug("dead letter", "source", source, "where", r.Where, "reason", ie.Error())
	f, err = p.pub.Publish(ctx, bus.DLQSubject(source), "dlq-"+hex.EncodeToString(h[:16]), r.Data, hdr)
	return f, ie.Error(), err
}
