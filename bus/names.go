package bus

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"breachd/event"
)

// Stream, subject and bucket names.
const (
	StreamEvents    = "EVENTS"
	StreamAlerts    = "ALERTS"
	StreamDLQ       = "DEADLETTER"
	StreamIncidents = "INCIDENTS"
	BucketIncidents = "incidents"

	SubjectEvents    = "breachd.events"
	SubjectAlerts    = "breachd.alerts"
	SubjectDLQ       = "breachd.dlq"
	SubjectIncidents = "breachd.incidents"
)

// Header names set on messages.
const (
	HeaderMsgID  = "Nats-Msg-Id"
	HeaderSource = "Breachd-Source"
	HeaderReason = "Breachd-Reason"
	HeaderWhere  = "Breachd-Where" // where a dead letter was read, e.g. "file.jsonl:42"
)

// AlertSubject is the subject an alert of severity s is published on.
func AlertSubject(s event.Severity) string { return SubjectAlerts + "." + string(s) }

// DLQSubject is the subject dead letters from source are published on: the source name with
// '.', '*', '>', spaces and non-printable or non-ASCII bytes replaced by '_' ("unknown" for an
// empty name). Distinct names can share a subject; the Breachd-Source header tells them apart.
func DLQSubject(source string) string {
	b := []byte(source)
	for i, c := range b {
		if c == '.' || c == '*' || c == '>' || c == ' ' || c < 0x21 || c > 0x7e {
			b[i] = '_'
		}
	}
	if len(b) == 0 {
		return SubjectDLQ + ".unknown"
	}
	return SubjectDLQ + "." + string(b)
}

// Config sets the streams' durability and retention.
type Config struct {
	Replicas        int           // 1 for the embedded server, 3 for a production cluster
	DuplicateWindow time.Duration // how long a Nats-Msg-Id is remembered (default 24h)
	EventsMaxAge    time.Duration // events retention in the stream (default 7 days; history is ClickHouse)
	DLQMaxAge       time.Duration // dead letters retention (default 30 days)
	// Partitions of the EVENTS stream (see Layout). 0 adopts the count the stream records, or
	// DefaultPartitions for a new stream; another value must equal the recorded count.
	Partitions int
}

func (c Config) withDefaults() Config {
	if c.Replicas <= 0 {
		c.Replicas = 1
	}
	if c.DuplicateWindow <= 0 {
		c.DuplicateWindow = 24 * time.Hour
	}
	if c.EventsMaxAge <= 0 {
		c.EventsMaxAge = 7 * 24 * time.Hour
	}
	if c.DLQMaxAge <= 0 {
		c.DLQMaxAge = 30 * 24 * time.Hour
	}
	return c
}

// keptMetadata is the metadata of stream an update keeps: the lost sequences CheckStore
// recorded (MetadataLost). nil for a new stream.
func keptMetadata(ctx context.Context, js jetstream.JetStream, stream string) (map[string]string, error) {
	st, err := js.Stream(ctx, stream)
	if errors.Is(err, jetstream.ErrStreamNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	if v, ok := st.CachedInfo().Config.Metadata[MetadataLost]; ok {
		return map[string]string{MetadataLost: v}, nil
	}
	return nil, nil
}

// Ensure creates or updates every stream and bucket breachd uses. It is safe to call from
// several processes at once and to call again. It records the partition count in the EVENTS
// stream's metadata when it creates the stream and keeps it on updates; a configured count
// that differs from the recorded one is an error wrapping ErrPartitionMismatch (ReadLayout
// returns the count every process must use).
func Ensure(ctx context.Context, js jetstream.JetStream, cfg Config) error {
	cfg = cfg.withDefaults()
	streams := []jetstream.StreamConfig{
		{Name: StreamEvents, Subjects: []string{SubjectEvents + ".>"}, MaxAge: cfg.EventsMaxAge},
		{Name: StreamAlerts, Subjects: []string{SubjectAlerts + ".>"}, MaxAge: 90 * 24 * time.Hour},
		{Name: StreamDLQ, Subjects: []string{SubjectDLQ + ".>"}, MaxAge: cfg.DLQMaxAge},
		{Name: StreamIncidents, Subjects: []string{SubjectIncidents + ".>"}, MaxAge: 90 * 24 * time.Hour},
	}
	for _, sc := range streams {
		sc.Storage = jetstream.FileStorage
		sc.Replicas = cfg.Replicas
		sc.Duplicates = cfg.DuplicateWindow
		if sc.Duplicates > sc.MaxAge {
			sc.Duplicates = sc.MaxAge
		}
		var err error
		if sc.Name == StreamEvents {
			err = ensureEvents(ctx, js, sc, cfg.Partitions)
		} else {
			sc.Metadata, err = keptMetadata(ctx, js, sc.Name)
			if err == nil {
				_, err = js.CreateOrUpdateStream(ctx, sc)
			}
		}
		if err != nil {
			return fmt.Errorf("ensure stream %s: %w", sc.Name, err)
		}
	}
	if _, err := js.CreateOrUpdateKeyValue(ctx, jetstream.KeyValueConfig{
		Bucket:   BucketIncidents,
		History:  8,
		Storage:  jetstream.FileStorage,
		Replicas: cfg.Replicas,
	}); err != nil {
		return fmt.Errorf("ensure bucket %s: %w", BucketIncidents, err)
	}
	return nil
}
