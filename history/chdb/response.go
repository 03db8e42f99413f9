package chdb

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
)

// writeResult sends a successful result, compressed if the request asked.
func (s *Server) writeResult(w http.ResponseWriter, r *http.Request, q *httpQuery, res Result) {
	h := w.Header()
	h.Set("Content-Type", contentType(q.req.Format))
	h.Set("X-ClickHouse-Format", q.req.Format)
	h.Set("X-ClickHouse-Summary", fmt.Sprintf(`{"written_rows":"%d","result_bytes":"%d"}`,
		res.RowsWritten, len(res.Data)))
	if q.queryID != "" {
		h.Set("X-ClickHouse-Query-Id", q.queryID)
	}
	body := res.Data
	switch {
	case q.native:
		var buf bytes.Buffer
		if err := encodeNative(&buf, q.nativeAlg, res.Data); err != nil {
			writeError(w, http.StatusBadRequest, err)
			return
		}
		body = buf.Bytes()
	case q.httpEnc != "" && len(res.Data) > 0:
		var buf bytes.Buffer
		if err := encodeHTTP(&buf, q.httpEnc, res.Data); err != nil {
			writeError(w, http.StatusInternalServerError, err)
			return
		}
		h.Set("Content-Encoding", q.httpEnc)
		body = buf.Bytes()
	}
	h.Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(http.StatusOK)
	if r.Method != http.MethodHead {
		if _, err := w.Write(body); err != nil {
			s.log.Debug("write response", "err", err)
		}
	}
}

// writeError answers like ClickHouse: the exception text as the body and
// its code in X-ClickHouse-Exception-Code, which clickhouse-go turns into a
// *clickhouse.Exception.
func writeError(w http.ResponseWriter, status int, err error) {
	qe := engineError(err)
	h := w.Header()
	h.Del("Content-Encoding")
	h.Set("Content-Type", "text/plain; charset=UTF-8")
	h.Set("X-ClickHouse-Exception-Code", strconv.Itoa(qe.Code))
	h.Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(status)
	_, _ = w.Write([]byte(qe.Message + "\n"))
}

// engineError converts any error to a *QueryError for the wire.
func engineError(err error) *QueryError {
	var qe *QueryError
	switch {
	case errors.As(err, &qe):
		return qe
	case errors.Is(err, context.DeadlineExceeded):
		return newQueryError(codeTimeoutExceeded, "TIMEOUT_EXCEEDED", "Timeout exceeded: %v", err)
	case errors.Is(err, context.Canceled):
		return newQueryError(394, "QUERY_WAS_CANCELLED", "Query was cancelled: %v", err)
	case errors.Is(err, ErrClosed):
		return newQueryError(1002, "UNKNOWN_EXCEPTION", "Engine is closed")
	default:
		return newQueryError(1001, "STD_EXCEPTION", "%v", err)
	}
}

// contentType mirrors the Content-Type ClickHouse sends for a format.
func contentType(format string) string {
	f := strings.ToLower(format)
	switch {
	case strings.HasPrefix(f, "tabseparated"), strings.HasPrefix(f, "tsv"):
		return "text/tab-separated-values; charset=UTF-8"
	case strings.HasPrefix(f, "json"):
		return "application/json; charset=UTF-8"
	case strings.HasPrefix(f, "csv"):
		return "text/csv; charset=UTF-8"
	case strings.HasPrefix(f, "native"), strings.HasPrefix(f, "rowbinary"),
		strings.HasPrefix(f, "parquet"), strings.HasPrefix(f, "arrow"), strings.HasPrefix(f, "orc"):
		return "application/octet-stream"
	default:
		return "text/plain; charset=UTF-8"
	}
}

// helloQuery is the first statement clickhouse-go's HTTP transport sends on
// every connection. It decodes every later Native response at the
// revision() this returns.
const helloQuery = "SELECT displayName(), version(), revision(), timezone()"

// Protocol revisions that change the Native block layout.
const (
	revisionBlockInfo           = 1     // any revision > 0 carries block info
	revisionCustomSerialization = 54454 // per-column "has custom serialization" byte
)

// isHello reports whether sql is helloQuery, ignoring case and spacing.
func isHello(sql string) bool {
	return strings.EqualFold(strings.Join(strings.Fields(sql), " "), helloQuery)
}

// helloNative answers helloQuery as a one-row Native block laid out for the
// client's revision, but announcing revision 0: chDB writes Native at
// revision 0 (no block info, no serialization kinds) and cannot be told
// otherwise, so the client must decode everything after the hello at 0.
func (e *Engine) helloNative(ctx context.Context, clientRevision uint64) ([]byte, error) {
	out, err := e.Query(ctx, "SELECT displayName(), version(), timezone()", "TSVRaw")
	if err != nil {
		return nil, err
	}
	f := strings.Split(strings.TrimSuffix(string(out), "\n"), "\t")
	if len(f) != 3 {
		return nil, fmt.Errorf("chdb: unexpected server info %q", out)
	}
	return encodeHello(f[0], f[1], f[2], clientRevision), nil
}

// encodeHello writes the hello block by hand; the layout is small and
// fixed: [block info] columns rows, then per column name, type,
// [custom-serialization flag], data.
func encodeHello(displayName, version, timezone string, revision uint64) []byte {
	var b []byte
	if revision >= revisionBlockInfo {
		b = binary.AppendUvarint(b, 1) // field 1: is_overflows
		b = append(b, 0)
		b = binary.AppendUvarint(b, 2) // field 2: bucket_num
		b = binary.LittleEndian.AppendUint32(b, 0xFFFFFFFF)
		b = binary.AppendUvarint(b, 0) // end of block info
	}
	b = binary.AppendUvarint(b, 4) // columns
	b = binary.AppendUvarint(b, 1) // rows
	column := func(name, typ string, data []byte) {
		b = appendString(b, name)
		b = appendString(b, typ)
		if revision >= revisionCustomSerialization {
			b = append(b, 0)
		}
		b = append(b, data...)
	}
	column("displayName()", "String", appendString(nil, displayName))
	column("version()", "String", appendString(nil, version))
	column("revision()", "UInt32", binary.LittleEndian.AppendUint32(nil, 0))
	column("timezone()", "String", appendString(nil, timezone))
	return b
}

func appendString(b []byte, s string) []byte {
	b = binary.AppendUvarint(b, uint64(len(s)))
	return append(b, s...)
}
