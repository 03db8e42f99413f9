package kafka

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"time"

	kafkago "github.com/segmentio/kafka-go"
	"github.com/segmentio/kafka-go/sasl"

	"breachd/ingest"
	"breachd/retry"
)

// Source consumes Kafka topics as a member of a consumer group and submits each message value
// as one record. It implements ingest.Source. One Source runs one group member; run several
// processes (or Sources) with the same GroupID to share the partitions.
type Source struct {
	cfg     Config
	mech    sasl.Mechanism
	log     *slog.Logger
	metrics *metrics
}

// New validates cfg and returns a Source. It does not connect: Run does. Its metrics are
// registered on cfg.Registerer, so call New once per source name and registry.
func New(cfg Config) (*Source, error) {
	cfg = cfg.withDefaults()
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	mech, _ := cfg.SASL.mechanism() // validate checked it
	m, err := newMetrics(cfg.Registerer, cfg.Name)
	if err != nil {
		return nil, err
	}
	return &Source{
		cfg:     cfg,
		mech:    mech,
		log:     cfg.Logger.With("component", "ingest.kafka", "source", cfg.Name, "group", cfg.GroupID),
		metrics: m,
	}, nil
}

// submitTimeout bounds one attempt at a Submit, so that a PubAck that never comes (a server
// lost with the message in flight) turns into a retry rather than a stall.
const submitTimeout = time.Minute

// commitTimeout bounds one offset commit.
const commitTimeout = 30 * time.Second

// Run implements ingest.Source. It joins the group, then fetches batches (Batch records, or
// fewer once BatchWait has passed since the batch's first record) and, in fetch order, submits
// each until the Sink makes it durable and commits, per partition, the offset after the
// batch's last record. The next batch is fetched while one is being submitted. Run returns nil
// when ctx ends, without committing a batch not yet committed (Kafka delivers it again; event
// ids make that idempotent in JetStream), and an error only when a topic does not exist or the
// brokers refuse the configured credentials or authorisation. Closing the reader on return
// leaves the group.
func (s *Source) Run(ctx context.Context, sink ingest.Sink) error {
	if err := s.checkTopics(ctx); err != nil {
		return err
	}
	if ctx.Err() != nil {
		return nil
	}
	r := kafkago.NewReader(s.cfg.readerConfig(s.mech, s.log))
	s.log.Info("kafka source started", "brokers", s.cfg.Brokers, "topics", s.cfg.Topics)

	fctx, stopFetch := context.WithCancel(ctx)
	// Unbuffered: at most one fetched batch waits while another is being submitted.
	batches := make(chan []kafkago.Message)
	fetched := make(chan error, 1)
	go func() { fetched <- s.fetch(fctx, r, batches) }()
	total := s.deliver(ctx, r, sink, batches)
	stopFetch()
	err := <-fetched
	if cerr := r.Close(); cerr != nil {
		s.log.Warn("close kafka reader", "err", cerr)
	}
	s.log.Info("kafka source stopped", "accepted", total.Accepted, "rejected", total.Rejected, "duplicates", total.Duplicates)
	return err
}

// deliver submits and commits the batches from in, one at a time in order, until in is closed
// or ctx ends. Offsets whose commit failed are committed with the next batch's, or retried
// with backoff while no batch comes, so that an idle topic does not stay uncommitted.
func (s *Source) deliver(ctx context.Context, r *kafkago.Reader, sink ingest.Sink, in <-chan []kafkago.Message) ingest.Result {
	var total ingest.Result
	recs := make([]ingest.Record, 0, s.cfg.Batch)
	pending := pendingCommits{}
	b, failures := s.cfg.backoff(), 0
	var recommit <-chan time.Time
	for {
		select {
		case msgs, ok := <-in:
			if !ok {
				return total
			}
			recs = recs[:0]
			for _, m := range msgs {
				recs = append(recs, ingest.Record{Data: m.Value, Where: where(m)})
			}
			s.metrics.fetched.Add(float64(len(msgs)))
			res, ok := s.submit(ctx, sink, recs)
			if !ok || ctx.Err() != nil {
				// Stopped before or right after the durable hand-off: the batch is not committed.
				return total
			}
			total.Add(res)
			s.metrics.batches.Inc()
			pending.add(msgs)
		case <-recommit:
		case <-ctx.Done():
			return total
		}
		recommit = nil
		if !s.commit(ctx, r, pending) {
			failures++
			recommit = time.After(b.Delay(failures))
		} else {
			failures = 0
		}
	}
}

// fetch fills batches and sends them to out in fetch order until ctx ends (it returns nil) or
// the brokers refuse the credentials or authorisation (it returns the error). Other errors are
// retried with backoff. It closes out.
func (s *Source) fetch(ctx context.Context, r *kafkago.Reader, out chan<- []kafkago.Message) error {
	defer close(out)
	b, failures := s.cfg.backoff(), 0
	var lastErr string
	for {
		msgs, err := s.fill(ctx, r, make([]kafkago.Message, 0, s.cfg.Batch))
		if ctx.Err() != nil {
			return nil
		}
		if err != nil {
			if permanent(err) {
				return fmt.Errorf("kafka group %s on %v: %w", s.cfg.GroupID, s.cfg.Brokers, err)
			}
			s.metrics.fetchErrors.Inc()
			if err.Error() != lastErr {
				lastErr = err.Error()
				s.log.Warn("kafka fetch failed, retrying", "err", err)
			}
			if len(msgs) == 0 {
				failures++
				_ = retry.Sleep(ctx, b.Delay(failures)) // if ctx ends, the next fill returns at once
				continue
			}
			// What was fetched before the error is still submitted and committed.
		} else if lastErr != "" {
			s.log.Info("kafka fetch recovered")
			lastErr = ""
		}
		failures = 0
		select {
		case out <- msgs:
		case <-ctx.Done():
			return nil
		}
	}
}

// checkTopics connects to the brokers until one answers or ctx ends, then checks that every
// configured topic exists: a consumer group silently gets no partitions of a topic that does
// not. It returns nil when ctx ends first.
func (s *Source) checkTopics(ctx context.Context) error {
	tr := &kafkago.Transport{ClientID: "breachd", TLS: s.cfg.TLS, SASL: s.mech, DialTimeout: 10 * time.Second}
	defer tr.CloseIdleConnections()
	c := &kafkago.Client{Addr: kafkago.TCP(s.cfg.Brokers...), Transport: tr, Timeout: 30 * time.Second}
	b := s.cfg.backoff()
	var last string
	for n := 1; ; n++ {
		missing, err := s.missingTopics(ctx, c)
		switch {
		case err == nil && len(missing) > 0:
			return fmt.Errorf("kafka topics %v do not exist on %v", missing, s.cfg.Brokers)
		case err == nil:
			return nil
		case ctx.Err() != nil:
			return nil
		case permanent(err):
			return fmt.Errorf("kafka brokers %v: %w", s.cfg.Brokers, err)
		}
		if err.Error() != last {
			last = err.Error()
			s.log.Warn("kafka brokers not answering, retrying", "err", err)
		}
		_ = retry.Sleep(ctx, b.Delay(n))
	}
}

// missingTopics returns the configured topics the brokers do not know. It first dials a
// broker as the reader does, because that reports refused credentials as such (the client's
// metadata request sees only a closed connection).
func (s *Source) missingTopics(ctx context.Context, c *kafkago.Client) ([]string, error) {
	d := s.cfg.dialer(s.mech)
	var err error
	for _, broker := range s.cfg.Brokers {
		var conn *kafkago.Conn
		if conn, err = d.DialContext(ctx, "tcp", broker); err == nil {
			conn.Close()
			break
		}
	}
	if err != nil {
		return nil, err
	}
	md, err := c.Metadata(ctx, &kafkago.MetadataRequest{Topics: s.cfg.Topics})
	if err != nil {
		return nil, err
	}
	var missing []string
	for _, t := range md.Topics {
		switch {
		case errors.Is(t.Error, kafkago.UnknownTopicOrPartition):
			missing = append(missing, t.Name)
		case t.Error != nil:
			return nil, fmt.Errorf("topic %s: %w", t.Name, t.Error)
		}
	}
	return missing, nil
}

// fill appends to msgs until it holds Batch messages or BatchWait has passed since the first
// one. It waits as long as it takes for the first message. A message that arrives while the
// wait ends stays in the reader's queue for the next call: nothing is lost.
func (s *Source) fill(ctx context.Context, r *kafkago.Reader, msgs []kafkago.Message) ([]kafkago.Message, error) {
	m, err := r.FetchMessage(ctx)
	if err != nil {
		return msgs, err
	}
	msgs = append(msgs, m)
	wctx, cancel := context.WithTimeout(ctx, s.cfg.BatchWait)
	defer cancel()
	for len(msgs) < s.cfg.Batch {
		m, err := r.FetchMessage(wctx)
		if err != nil {
			if wctx.Err() != nil && ctx.Err() == nil {
				return msgs, nil // batch wait is over
			}
			return msgs, err
		}
		msgs = append(msgs, m)
	}
	return msgs, nil
}

// submit hands recs to sink until it makes them durable, backing off between refusals. It
// returns false only when ctx ended first.
func (s *Source) submit(ctx context.Context, sink ingest.Sink, recs []ingest.Record) (ingest.Result, bool) {
	b := s.cfg.backoff()
	for attempt := 1; ; attempt++ {
		actx, cancel := context.WithTimeout(ctx, submitTimeout)
		res, err := sink.Submit(actx, ingest.Batch{Source: s.cfg.Name, Format: s.cfg.Format, Records: recs})
		cancel()
		if err == nil {
			if attempt > 1 {
				s.log.Info("submit recovered", "attempts", attempt, "records", len(recs))
			}
			return res, true
		}
		if ctx.Err() != nil {
			return ingest.Result{}, false
		}
		if attempt == 1 {
			s.log.Warn("submit failed, holding the batch and retrying; no offsets are committed meanwhile",
				"records", len(recs), "first", recs[0].Where, "err", err)
		}
		s.metrics.retries.Inc()
		if retry.Sleep(ctx, b.Delay(attempt)) != nil {
			return ingest.Result{}, false
		}
	}
}

// where locates a message for dead letters: "kafka:<topic>/<partition>@<offset>".
func where(m kafkago.Message) string {
	return "kafka:" + m.Topic + "/" + strconv.Itoa(m.Partition) + "@" + strconv.FormatInt(m.Offset, 10)
}

// permanent reports whether a fetch error will not go away by retrying: the brokers refused
// the credentials or the group or topic authorisation.
func permanent(err error) bool {
	var ke kafkago.Error
	if !errors.As(err, &ke) {
		return false
	}
	switch ke {
	case kafkago.SASLAuthenticationFailed, kafkago.UnsupportedSASLMechanism, kafkago.IllegalSASLState,
		kafkago.TopicAuthorizationFailed, kafkago.GroupAuthorizationFailed, kafkago.ClusterAuthorizationFailed,
		kafkago.InvalidGroupId:
		return true
	}
	return false
}
