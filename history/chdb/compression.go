package chdb

import (
	"compress/gzip"
	"compress/zlib"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"

	"github.com/ClickHouse/ch-go/compress"
	"github.com/andybalholm/brotli"
	"github.com/klauspost/compress/zstd"
)

// Compression supported by the endpoint, in both directions:
//
//   - HTTP Content-Encoding gzip, deflate (zlib), br, zstd on request
//     bodies (clickhouse-go Compression GZIP/Deflate/Brotli send these);
//   - the same on responses when the request has enable_http_compression=1
//     and a matching Accept-Encoding, as ClickHouse does (clickhouse-go
//     never asks for it, so its responses arrive uncompressed);
//   - ClickHouse's own block compression (LZ4/ZSTD with CityHash checksums),
//     which clickhouse-go Compression LZ4/ZSTD asks for with compress=1 and
//     decompress=1.
//
// On loopback none of this buys anything; the plain default is fastest.

// nativeBlockSize is the uncompressed size of each native-compressed block.
const nativeBlockSize = 1 << 20

// decodeBody wraps body according to Content-Encoding and decompress=1.
func decodeBody(body io.Reader, contentEncoding string, native bool) (io.Reader, error) {
	var r io.Reader = body
	switch enc := strings.ToLower(strings.TrimSpace(contentEncoding)); enc {
	case "", "identity":
	case "gzip", "x-gzip":
		zr, err := gzip.NewReader(body)
		if err != nil {
			return nil, fmt.Errorf("gzip request body: %w", err)
		}
		r = zr
	case "deflate":
		zr, err := zlib.NewReader(body)
		if err != nil {
			return nil, fmt.Errorf("deflate request body: %w", err)
		}
		r = zr
	case "br":
		r = brotli.NewReader(body)
	case "zstd":
		zr, err := zstd.NewReader(body, zstd.WithDecoderConcurrency(1))
		if err != nil {
			return nil, fmt.Errorf("zstd request body: %w", err)
		}
		r = zr.IOReadCloser()
	default:
		return nil, newQueryError(codeNotImplemented, "NOT_IMPLEMENTED",
			"Unsupported Content-Encoding %q (supported: gzip, deflate, br, zstd)", enc)
	}
	if native {
		r = eofReader{compress.NewReader(r)}
	}
	return r, nil
}

// eofReader turns ch-go's wrapped io.EOF back into io.EOF, which io.Copy
// and friends compare by identity.
type eofReader struct{ r io.Reader }

func (e eofReader) Read(p []byte) (int, error) {
	n, err := e.r.Read(p)
	if errors.Is(err, io.EOF) {
		err = io.EOF
	}
	return n, err
}

// responseEncoding picks the HTTP encoding for a response, or "".
func responseEncoding(r *http.Request, enabled bool) string {
	if !enabled {
		return ""
	}
	for _, part := range strings.Split(r.Header.Get("Accept-Encoding"), ",") {
		enc, _, _ := strings.Cut(strings.TrimSpace(part), ";")
		switch enc = strings.ToLower(enc); enc {
		case "gzip", "deflate", "br", "zstd":
			return enc
		}
	}
	return ""
}

// encodeHTTP compresses data with an HTTP content encoding.
func encodeHTTP(w io.Writer, enc string, data []byte) error {
	var zw io.WriteCloser
	switch enc {
	case "gzip":
		zw = gzip.NewWriter(w)
	case "deflate":
		zw = zlib.NewWriter(w)
	case "br":
		zw = brotli.NewWriter(w)
	case "zstd":
		z, err := zstd.NewWriter(w, zstd.WithEncoderConcurrency(1))
		if err != nil {
			return err
		}
		zw = z
	default:
		_, err := w.Write(data)
		return err
	}
	if _, err := zw.Write(data); err != nil {
		return err
	}
	return zw.Close()
}

// encodeNative compresses data into ClickHouse compressed blocks.
func encodeNative(w io.Writer, method string, data []byte) error {
	m := compress.LZ4
	switch strings.ToUpper(method) {
	case "", "LZ4":
	case "ZSTD":
		m = compress.ZSTD
	case "NONE":
		m = compress.None
	default:
		return newQueryError(codeBadArguments, "BAD_ARGUMENTS", "Unsupported network_compression_method %q", method)
	}
	cw := compress.NewWriter(compress.LevelZero, m)
	for len(data) > 0 {
		n := min(len(data), nativeBlockSize)
		if err := cw.Compress(data[:n]); err != nil {
			return fmt.Errorf("compress response: %w", err)
		}
		if _, err := w.Write(cw.Data); err != nil {
			return err
		}
		data = data[n:]
	}
	return nil
}
