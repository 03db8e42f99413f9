package httpin

import (
	"bytes"
	"compress/gzip"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"strings"
)

// item is one record found in a request body.
type item struct {
	data    []byte
	line    int  // 1-based line number for JSON Lines, 0 for an array element
	tooLong bool // data was cut to the record limit
}

// format is how a body is split into records.
type format int

const (
	formatLines format = iota // one record per non-blank line
	formatJSON                // an array of records, one object, or (fallback) lines
)

// errEnvelope marks a body that cannot be split into records at all.
type envelopeError struct{ reason string }

func (e *envelopeError) Error() string { return e.reason }

// errTooMany is returned when a body holds more records than allowed.
var errTooMany = errors.New("too many records")

// errUnsupported marks a Content-Type or Content-Encoding the handler does not read.
type unsupportedError struct{ what string }

func (e *unsupportedError) Error() string { return e.what }

// bodyFormat maps a Content-Type to a format. An empty type is read like application/json,
// which also accepts JSON Lines.
func bodyFormat(contentType string) (format, error) {
	if contentType == "" {
		return formatJSON, nil
	}
	mt, _, err := mime.ParseMediaType(contentType)
	if err != nil {
		return 0, &unsupportedError{fmt.Sprintf("unreadable Content-Type %q", contentType)}
	}
	switch mt {
	case "application/x-ndjson", "application/ndjson", "application/jsonl", "application/x-jsonlines", "application/jsonlines":
		return formatLines, nil
	case "application/json":
		return formatJSON, nil
	}
	return 0, &unsupportedError{fmt.Sprintf("unsupported Content-Type %q (want application/x-ndjson, application/jsonl or application/json)", mt)}
}

// decode undoes Content-Encoding, reading at most limit bytes of output. A result longer than
// limit is errBodyTooLarge.
func decode(raw []byte, encoding string, limit int64) ([]byte, error) {
	switch strings.ToLower(strings.TrimSpace(encoding)) {
	case "", "identity":
		return raw, nil
	case "gzip", "x-gzip":
	default:
		return nil, &unsupportedError{fmt.Sprintf("unsupported Content-Encoding %q (want gzip or none)", encoding)}
	}
	zr, err := gzip.NewReader(bytes.NewReader(raw))
	if err != nil {
		return nil, &envelopeError{fmt.Sprintf("gzip: %v", err)}
	}
	out, err := io.ReadAll(io.LimitReader(zr, limit+1))
	if err != nil {
		return nil, &envelopeError{fmt.Sprintf("gzip: %v", err)}
	}
	if int64(len(out)) > limit {
		return nil, errBodyTooLarge
	}
	return out, nil
}

var errBodyTooLarge = errors.New("body too large")

// split finds the records of body. JSON Lines bodies are split at newlines: every non-blank
// line is a record, valid or not. An application/json body starting with '[' must be one JSON
// array (its elements are the records); one that is a single JSON value is one record;
// anything else is read as JSON Lines, which is what most senders of "application/json" with
// several lines mean. A record longer than maxRecord is cut and marked.
func split(body []byte, f format, maxRecords, maxRecord int) ([]item, error) {
	body = bytes.TrimPrefix(body, []byte("\xef\xbb\xbf"))
	trimmed := bytes.TrimSpace(body)
	if len(trimmed) == 0 {
		return nil, &envelopeError{"empty body"}
	}
	if f == formatJSON {
		switch {
		case trimmed[0] == '[':
			return splitArray(trimmed, maxRecords, maxRecord)
		case trimmed[0] == '{' && json.Valid(trimmed):
			return []item{cut(trimmed, 0, maxRecord)}, nil
		}
	}
	return splitLines(body, maxRecords, maxRecord)
}

func cut(data []byte, line, maxRecord int) item {
	if len(data) > maxRecord {
		return item{data: data[:maxRecord], line: line, tooLong: true}
	}
	return item{data: data, line: line}
}

func splitLines(body []byte, maxRecords, maxRecord int) ([]item, error) {
	var out []item
	for n := 1; len(body) > 0; n++ {
		line := body
		if i := bytes.IndexByte(body, '\n'); i >= 0 {
			line, body = body[:i], body[i+1:]
		} else {
			body = nil
		}
		line = bytes.TrimRight(line, "\r")
		if len(bytes.TrimSpace(line)) == 0 {
			continue
		}
		if len(out) == maxRecords {
			return nil, errTooMany
		}
		out = append(out, cut(line, n, maxRecord))
	}
	return out, nil
}

func splitArray(body []byte, maxRecords, maxRecord int) ([]item, error) {
	dec := json.NewDecoder(bytes.NewReader(body))
	if _, err := dec.Token(); err != nil { // '['
		return nil, &envelopeError{fmt.Sprintf("not a JSON array: %v", err)}
	}
	var out []item
	for dec.More() {
		if len(out) == maxRecords {
			return nil, errTooMany
		}
		var raw json.RawMessage
		if err := dec.Decode(&raw); err != nil {
			return nil, &envelopeError{fmt.Sprintf("not a JSON array: element %d: %v", len(out), err)}
		}
		out = append(out, cut(raw, 0, maxRecord))
	}
	if _, err := dec.Token(); err != nil { // ']'
		return nil, &envelopeError{fmt.Sprintf("not a JSON array: %v", err)}
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, &envelopeError{fmt.Sprintf("not a JSON array: data after the closing ] at offset %d", dec.InputOffset())}
	}
	return out, nil
}
