package httpin

import (
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"net/http"
	"strconv"
	"strings"
	"time"

	"breachd/ingest"
)

// Response is the JSON body of every answer to POST /v1/events.
type Response struct {
	Accepted   int `json:"accepted"`   // valid events now durable (including duplicates)
	Rejected   int `json:"rejected"`   // records stored on the dead-letter stream
	Duplicates int `json:"duplicates"` // accepted events whose id the stream already held
	// Errors says why records were rejected, for at most Config.MaxErrors records.
	Errors          []RecordError `json:"errors"`
	ErrorsTruncated bool          `json:"errors_truncated,omitempty"`
	// Error says why the request as a whole failed (every status but 200).
	Error string `json:"error,omitempty"`
	// Message explains a partial success.
	Message string `json:"message,omitempty"`
}

// RecordError says why one record was rejected.
type RecordError struct {
	Index  int    `json:"index"`          // 0-based position among the body's records
	Line   int    `json:"line,omitempty"` // 1-based line of the body (JSON Lines only)
	Reason string `json:"reason"`
}

const rejectedMessage = "rejected records were stored in the dead-letter stream with their reasons; accepted events are durable; resending the whole body is safe"

func (s *Server) authenticate(r *http.Request) (source string, ok bool) {
	if s.cfg.Insecure && len(s.tokens) == 0 {
		return "http", true
	}
	const prefix = "bearer "
	v := r.Header.Get("Authorization")
	if len(v) <= len(prefix) || !strings.EqualFold(v[:len(prefix)], prefix) {
		return "", false
	}
	h := sha256.Sum256([]byte(strings.TrimSpace(v[len(prefix):])))
	match := -1
	// Compare with every token, without stopping early, so the time taken does not say which
	// token (or how much of one) matched.
	for i := range s.tokens {
		if subtle.ConstantTimeCompare(h[:], s.tokens[i].hash[:]) == 1 {
			match = i
		}
	}
	if match < 0 {
		return "", false
	}
	return "http:" + s.tokens[match].name, true
}

func (s *Server) handlePost(sink ingest.Sink) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		code := s.post(w, r, sink)
		s.m.observe(code, start)
	}
}

// post answers one POST and returns the status code it wrote.
func (s *Server) post(w http.ResponseWriter, r *http.Request, sink ingest.Sink) int {
	source, ok := s.authenticate(r)
	if !ok {
		w.Header().Set("WWW-Authenticate", `Bearer realm="breachd"`)
		return s.reply(w, http.StatusUnauthorized, Response{Error: "missing or invalid bearer token"})
	}
	select {
	case s.sem <- struct{}{}:
		defer func() { <-s.sem }()
	default:
		s.retryAfter(w)
		return s.reply(w, http.StatusTooManyRequests, Response{Error: fmt.Sprintf("more than %d requests in flight; retry later", s.cfg.MaxInFlight)})
	}
	s.m.inFlight.Inc()
	defer s.m.inFlight.Dec()
	if s.cfg.Ready != nil {
		if err := s.cfg.Ready(); err != nil {
			s.noteFailure(err)
			return s.unavailable(w)
		}
	}
	f, err := bodyFormat(r.Header.Get("Content-Type"))
	if err != nil {
		return s.reply(w, http.StatusUnsupportedMediaType, Response{Error: err.Error()})
	}
	if r.ContentLength > s.cfg.MaxBody {
		return s.tooLarge(w)
	}
	raw, err := s.readBody(w, r)
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return s.tooLarge(w)
		}
		var sbe *slowBodyError
		if errors.As(err, &sbe) {
			s.m.bodyTimeouts.WithLabelValues(sbe.reason()).Inc()
			s.log.Debug("request body too slow; closing the connection", "source", source, "err", err)
			w.Header().Set("Connection", "close")
			return s.reply(w, http.StatusRequestTimeout, Response{Error: sbe.Error() + "; " + s.bodyBounds() + "; nothing was stored"})
		}
		return s.reply(w, http.StatusBadRequest, Response{Error: "reading body: " + err.Error()})
	}
	s.m.bytes.Add(float64(len(raw)))
	body, err := decode(raw, r.Header.Get("Content-Encoding"), s.cfg.MaxBody)
	if err == nil {
		var items []item
		items, err = split(body, f, s.cfg.MaxRecords, s.cfg.MaxRecord)
		if err == nil {
			return s.submitItems(w, r.Context(), sink, source, body, items)
		}
		raw = body
	}
	var ue *unsupportedError
	var ee *envelopeError
	switch {
	case errors.As(err, &ue):
		return s.reply(w, http.StatusUnsupportedMediaType, Response{Error: err.Error()})
	case errors.Is(err, errBodyTooLarge):
		return s.tooLarge(w)
	case errors.Is(err, errTooMany):
		return s.reply(w, http.StatusRequestEntityTooLarge, Response{Error: fmt.Sprintf("more than %d records in one request; nothing was stored, split the body", s.cfg.MaxRecords)})
	case errors.As(err, &ee):
		return s.rejectBody(w, r.Context(), sink, source, raw, ee.reason)
	}
	return s.reply(w, http.StatusBadRequest, Response{Error: err.Error()})
}

// bodyBounds describes BodyTimeout and MinBodyRate to a client whose body was too slow.
func (s *Server) bodyBounds() string {
	if s.cfg.MinBodyRate < 0 {
		return fmt.Sprintf("the body must arrive within %s", s.cfg.BodyTimeout)
	}
	return fmt.Sprintf("the body must arrive within %s, at %d bytes/s or more after the first %s", s.cfg.BodyTimeout, s.cfg.MinBodyRate, s.cfg.BodyRateGrace)
}

// readBody reads the body under the body deadlines (a *slowBodyError when they pass) and
// MaxBody (an *http.MaxBytesError).
func (s *Server) readBody(w http.ResponseWriter, r *http.Request) ([]byte, error) {
	var buf bytes.Buffer
	if n := r.ContentLength; n > 0 {
		buf.Grow(int(n))
	}
	rate := max(s.cfg.MinBodyRate, 0)
	body := newBodyReader(w, r.Body, s.cfg.BodyTimeout, s.cfg.BodyRateGrace, rate)
	_, err := buf.ReadFrom(http.MaxBytesReader(w, body, s.cfg.MaxBody))
	return buf.Bytes(), err
}

// submitItems submits every record: the Sink publishes the valid ones and dead-letters the
// rest, and says which it refused and why, which the answer tells the client (each record is
// read once, by the Sink).
func (s *Server) submitItems(w http.ResponseWriter, ctx context.Context, sink ingest.Sink, source string, body []byte, items []item) int {
	s.m.records.Add(float64(len(items)))
	id := bodyID(body)
	recs := make([]ingest.Record, len(items))
	for i, it := range items {
		recs[i].Data = it.data
		if it.line > 0 {
			recs[i].Where = fmt.Sprintf("body-%s:%d", id, it.line)
		} else {
			recs[i].Where = fmt.Sprintf("body-%s[%d]", id, i)
		}
	}
	res, err := s.submit(ctx, sink, source, recs)
	if err != nil {
		return s.unavailable(w)
	}
	resp := Response{Accepted: res.Accepted, Rejected: res.Rejected, Duplicates: res.Duplicates, Errors: []RecordError{}}
	if res.Rejected == 0 {
		return s.reply(w, http.StatusOK, resp)
	}
	resp.Message = rejectedMessage
	for _, r := range res.Refusals {
		if r.Skipped {
			continue
		}
		if len(resp.Errors) == s.cfg.MaxErrors {
			resp.ErrorsTruncated = true
			break
		}
		it := items[r.Index]
		reason := r.Reason
		if it.tooLong {
			reason = fmt.Sprintf("record longer than %d bytes", s.cfg.MaxRecord)
		}
		resp.Errors = append(resp.Errors, RecordError{Index: r.Index, Line: it.line, Reason: reason})
	}
	return s.reply(w, http.StatusOK, resp)
}

// rejectBody dead-letters a body that could not be split into records (at most MaxRecord bytes
// of it) and answers 400, or 503 if even that cannot be stored.
func (s *Server) rejectBody(w http.ResponseWriter, ctx context.Context, sink ingest.Sink, source string, body []byte, reason string) int {
	resp := Response{Errors: []RecordError{}, Error: reason}
	if len(bytes.TrimSpace(body)) > 0 {
		data := body[:min(len(body), s.cfg.MaxRecord)]
		res, err := s.submit(ctx, sink, source, []ingest.Record{{Data: data, Where: "body-" + bodyID(body)}})
		if err != nil {
			return s.unavailable(w)
		}
		resp.Accepted, resp.Rejected, resp.Duplicates = res.Accepted, res.Rejected, res.Duplicates
		resp.Error += "; the body was stored in the dead-letter stream"
	}
	return s.reply(w, http.StatusBadRequest, resp)
}

// submit hands recs to the sink in batches, and returns the sum of their Results with the
// refusals indexed in recs. An error means nothing may be acknowledged.
func (s *Server) submit(ctx context.Context, sink ingest.Sink, source string, recs []ingest.Record) (ingest.Result, error) {
	ctx, cancel := context.WithTimeout(ctx, s.cfg.SubmitTimeout)
	defer cancel()
	var total ingest.Result
	for start := 0; start < len(recs); start += s.cfg.Batch {
		b := ingest.Batch{Source: source, Format: s.cfg.Format, Records: recs[start:min(start+s.cfg.Batch, len(recs))]}
		res, err := sink.Submit(ctx, b)
		if err != nil {
			s.noteFailure(err)
			return ingest.Result{}, err
		}
		total.Add(res)
		for _, r := range res.Refusals {
			r.Index += start
			total.Refusals = append(total.Refusals, r)
		}
	}
	if s.failing.CompareAndSwap(true, false) {
		s.log.Info("event stream writable again")
	}
	return total, nil
}

// noteFailure logs a failed hand-off at Warn when the state changes, else at Debug.
func (s *Server) noteFailure(err error) {
	if s.failing.CompareAndSwap(false, true) {
		s.log.Warn("event stream unavailable; answering 503", "err", err)
		return
	}
	s.log.Debug("event stream still unavailable", "err", err)
}

func (s *Server) unavailable(w http.ResponseWriter) int {
	s.retryAfter(w)
	return s.reply(w, http.StatusServiceUnavailable, Response{Errors: []RecordError{},
		Error: "the event stream is unavailable; nothing of this request was acknowledged, resend it later"})
}

func (s *Server) tooLarge(w http.ResponseWriter) int {
	w.Header().Set("Connection", "close")
	return s.reply(w, http.StatusRequestEntityTooLarge, Response{Errors: []RecordError{},
		Error: fmt.Sprintf("body larger than %d bytes (compressed or decoded); nothing was stored", s.cfg.MaxBody)})
}

func (s *Server) retryAfter(w http.ResponseWriter) {
	w.Header().Set("Retry-After", strconv.Itoa(int(math.Ceil(s.cfg.RetryAfter.Seconds()))))
}

func (s *Server) reply(w http.ResponseWriter, code int, resp Response) int {
	if resp.Errors == nil {
		resp.Errors = []RecordError{}
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(code)
	if err := json.NewEncoder(w).Encode(resp); err != nil {
		s.log.Debug("writing response", "err", err)
	}
	return code
}

// bodyID names a body in record locations. It is a hash of the decoded body, so a resent body
// gets the same locations and its dead letters the same message ids.
func bodyID(body []byte) string {
	h := sha256.Sum256(body)
	return hex.EncodeToString(h[:6])
}
