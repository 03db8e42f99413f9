package chdb

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"
)

// httpQuery is one HTTP request turned into engine terms.
type httpQuery struct {
	req       Request
	hello     bool        // answer with the rewritten server hello
	revision  uint64      // client_protocol_version
	staged    string      // temporary insert data file, removed after the query
	insert    *insertHead // the INSERT whose data was staged, if any
	native    bool        // compress=1: ClickHouse block compression of the response
	nativeAlg string      // network_compression_method
	httpEnc   string      // HTTP Content-Encoding of the response, or ""
	queryID   string
	urlKeys   []string // URL parameter names (never values), for the log
}

// serveQuery runs one query request end to end.
func (s *Server) serveQuery(w http.ResponseWriter, r *http.Request, u *User) {
	start := time.Now()
	select {
	case s.inflight <- struct{}{}:
		defer func() { <-s.inflight }()
	default:
		writeError(w, http.StatusServiceUnavailable, newQueryError(202, "TOO_MANY_SIMULTANEOUS_QUERIES",
			"Too many simultaneous queries. Maximum: %d", s.opts.MaxInFlight))
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), s.opts.QueryTimeout)
	defer cancel()

	q, status, err := s.parseRequest(w, r)
	if q != nil && q.staged != "" {
		defer func() { _ = os.Remove(q.staged) }()
	}
	if err != nil {
		s.log.Warn("statement refused", "user", u.Name, "method", r.Method, "status", status, "reason", err)
		writeError(w, status, err)
		return
	}
	if !q.hello {
		if err := s.authorize(ctx, u, q); err != nil {
			s.log.Warn("statement refused", "user", u.Name, "reason", err, "sql", truncate(q.req.SQL, 200))
			status := http.StatusBadRequest
			if qe := engineError(err); qe.Code == codeAccessDenied {
				status = http.StatusForbidden
			}
			writeError(w, status, err)
			return
		}
	}
	var res Result
	if q.hello {
		res.Data, err = s.engine.helloNative(ctx, q.revision)
	} else {
		res, err = s.engine.Do(ctx, q.req)
	}
	attrs := []any{"user", u.Name, "method", r.Method, "url_params", q.urlKeys, "format", q.req.Format,
		"sql", truncate(q.req.SQL, 200), "duration", time.Since(start)}
	if err != nil {
		s.log.Debug("query failed", append(attrs, "err", err)...)
		writeError(w, http.StatusInternalServerError, engineError(err))
		return
	}
	s.log.Debug("query done", append(attrs, "rows_written", res.RowsWritten, "bytes", len(res.Data))...)
	s.writeResult(w, r, q, res)
}

// internalParams are URL parameters of the HTTP interface that are not
// ClickHouse settings (or that the endpoint implements itself). Sessions do
// not exist here: every request is its own session, so session_id and
// friends are accepted and ignored.
var internalParams = map[string]bool{
	"query": true, "database": true, "default_format": true, "user": true, "password": true,
	"query_id": true, "quota_key": true, "session_id": true, "session_timeout": true,
	"session_check": true, "compress": true, "decompress": true, "client_protocol_version": true,
	"buffer_size": true, "wait_end_of_query": true, "enable_http_compression": true,
	"http_zlib_compression_level": true, "network_compression_method": true,
	"network_zstd_compression_level": true, "role": true, "add_http_cors_header": true,
	"send_progress_in_http_headers": true, "http_headers_progress_interval_ms": true,
}

// parseRequest maps the HTTP request to a query; on error it returns the
// HTTP status to answer with.
func (s *Server) parseRequest(w http.ResponseWriter, r *http.Request) (*httpQuery, int, error) {
	switch r.Method {
	case http.MethodGet, http.MethodHead, http.MethodPost:
	default:
		return nil, http.StatusMethodNotAllowed, newQueryError(codeBadArguments, "BAD_ARGUMENTS",
			"HTTP method %s is not supported; use GET or POST", r.Method)
	}
	if strings.HasPrefix(r.Header.Get("Content-Type"), "multipart/form-data") {
		return nil, http.StatusNotImplemented, newQueryError(codeNotImplemented, "NOT_IMPLEMENTED",
			"External tables (multipart/form-data) are not supported by the embedded endpoint")
	}
	params := r.URL.Query()
	q := &httpQuery{
		req: Request{
			Format:   firstOf(params.Get("default_format"), r.Header.Get("X-ClickHouse-Format"), DefaultFormat),
			Database: firstOf(params.Get("database"), r.Header.Get("X-ClickHouse-Database")),
			ReadOnly: r.Method != http.MethodPost, // ClickHouse runs GET with readonly=2
		},
		native:    params.Get("compress") == "1",
		nativeAlg: params.Get("network_compression_method"),
		httpEnc:   responseEncoding(r, params.Get("enable_http_compression") == "1"),
		queryID:   params.Get("query_id"),
	}
	q.revision, _ = strconv.ParseUint(params.Get("client_protocol_version"), 10, 64)
	for k, vs := range params {
		q.urlKeys = append(q.urlKeys, k)
		switch {
		case strings.HasPrefix(k, "param_"):
			if q.req.Params == nil {
				q.req.Params = map[string]string{}
			}
			q.req.Params[strings.TrimPrefix(k, "param_")] = vs[0]
		case !internalParams[k]:
			if q.req.Settings == nil {
				q.req.Settings = map[string]string{}
			}
			q.req.Settings[k] = vs[0]
		}
	}
	sql := params.Get("query")
	if r.Method == http.MethodPost {
		body, err := decodeBody(http.MaxBytesReader(w, r.Body, s.opts.MaxBodyBytes),
			r.Header.Get("Content-Encoding"), params.Get("decompress") == "1")
		if err != nil {
			return nil, http.StatusBadRequest, err
		}
		if sql, err = s.queryAndData(q, sql, body); err != nil {
			if errors.Is(err, errBodyTooLarge) {
				return q, http.StatusRequestEntityTooLarge, newQueryError(codeTooLarge, "TOO_MANY_BYTES",
					"Request body exceeds %d bytes", s.opts.MaxBodyBytes)
			}
			return q, http.StatusBadRequest, err
		}
	}
	slices.Sort(q.urlKeys)
	q.req.SQL = sql
	q.hello = isHello(sql) && strings.EqualFold(q.req.Format, "Native")
	return q, 0, nil
}

// queryAndData combines the URL query with the POST body the way
// ClickHouse does, staging insert data in a file. It returns the SQL to run.
func (s *Server) queryAndData(q *httpQuery, urlSQL string, body io.Reader) (string, error) {
	if urlSQL != "" {
		if head, ok := parseInsertHead(urlSQL); ok {
			return s.stage(q, head, body, urlSQL)
		}
		rest, err := readAllLimited(body, s.opts.MaxBodyBytes)
		if err != nil || len(rest) == 0 {
			return urlSQL, err
		}
		return urlSQL + "\n" + string(rest), nil
	}
	head, err := io.ReadAll(io.LimitReader(body, headLimit))
	if err != nil {
		return "", bodyError(err)
	}
	if ins, off, ok := splitInlineInsert(head); ok {
		return s.stage(q, ins, io.MultiReader(bytes.NewReader(head[off:]), body),
			ins.stmt+" FORMAT "+ins.format)
	}
	rest, err := readAllLimited(body, s.opts.MaxBodyBytes-int64(len(head)))
	if err != nil {
		return "", err
	}
	sql := string(head) + string(rest)
	return sql, nil
}

// clientFiles matches the clauses that make chDB read or write files on this machine. A
// ClickHouse server runs neither for an HTTP client (they belong to clickhouse-client), and chDB
// would run them even with readonly=1. Owners' statements are refused when they carry them (the
// guard checks everyone else's with ClickHouse's parser); the endpoint itself stages insert data
// with FROM INFILE after this check.
var clientFiles = regexp.MustCompile(`(?is)\bINTO\s+OUTFILE\b|\bFROM\s+INFILE\b`)

func refuseClientFiles(sql string) error {
	if clientFiles.MatchString(sql) {
		return newQueryError(codeNotImplemented, "NOT_IMPLEMENTED",
			"INTO OUTFILE and FROM INFILE are client-side clauses and are not supported over HTTP")
	}
	return nil
}

// stage writes insert data to a temporary file and returns the INSERT ...
// FROM INFILE statement for it, or noData when there was no data.
func (s *Server) stage(q *httpQuery, head insertHead, data io.Reader, noData string) (string, error) {
	path, n, err := stageData(s.opts.TempDir, data, s.opts.MaxBodyBytes)
	if err != nil {
		if !errors.Is(err, errBodyTooLarge) {
			s.log.Error("staging insert data failed", "err", err)
		}
		return "", err
	}
	q.staged, q.insert = path, &head
	if n == 0 {
		q.insert = nil
		return noData, nil
	}
	return head.fromInfile(path), nil
}

func readAllLimited(r io.Reader, limit int64) ([]byte, error) {
	b, err := io.ReadAll(io.LimitReader(r, limit+1))
	if err != nil {
		return nil, bodyError(err)
	}
	if int64(len(b)) > limit {
		return nil, errBodyTooLarge
	}
	return b, nil
}

func bodyError(err error) error {
	var mbe *http.MaxBytesError
	if errors.As(err, &mbe) {
		return errBodyTooLarge
	}
	return fmt.Errorf("read request body: %w", err)
}

func firstOf(vals ...string) string {
	for _, v := range vals {
		if v != "" {
			return v
		}
	}
	return ""
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}
