package chdb

import (
	"context"
	"regexp"
	"slices"
	"strconv"
	"strings"
)

// identRe matches setting and parameter names. ClickHouse's own names (and
// custom_/SQL_ ones) fit; anything else could smuggle SQL into SET.
var identRe = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)

// Error codes used for requests rejected before they reach the engine.
const (
	codeBadArguments      = 36  // BAD_ARGUMENTS
	codeUnknownSetting    = 115 // UNKNOWN_SETTING
	codeTimeoutExceeded   = 159 // TIMEOUT_EXCEEDED
	codeAuthFailed        = 516 // AUTHENTICATION_FAILED
	codeTooLarge          = 307 // TOO_MANY_BYTES
	codeNotImplemented    = 48  // NOT_IMPLEMENTED
	codeAccessDenied      = 497 // ACCESS_DENIED
	codeUnknownQueryParam = 456 // UNKNOWN_QUERY_PARAMETER
)

func validateRequest(req Request) error {
	if strings.TrimSpace(req.SQL) == "" {
		return newQueryError(codeBadArguments, "BAD_ARGUMENTS", "Empty query")
	}
	for k := range req.Settings {
		if !identRe.MatchString(k) {
			return newQueryError(codeUnknownSetting, "UNKNOWN_SETTING", "Invalid setting name %q", k)
		}
	}
	for k := range req.Params {
		if !identRe.MatchString(k) {
			return newQueryError(codeUnknownQueryParam, "UNKNOWN_QUERY_PARAMETER", "Invalid query parameter name %q", k)
		}
	}
	return nil
}

// setStatement builds the SET that applies req's settings, the context
// deadline (as max_execution_time) and read-only mode. It returns "" when
// there is nothing to set. readonly comes last: once it is 1, no further
// setting may change.
func setStatement(ctx context.Context, req Request) (string, error) {
	settings := make(map[string]string, len(req.Settings)+2)
	for k, v := range req.Settings {
		settings[k] = v
	}
	secs, ok, err := deadlineSeconds(ctx)
	if err != nil {
		return "", newQueryError(codeTimeoutExceeded, "TIMEOUT_EXCEEDED", "Deadline passed before the query started")
	}
	if ok {
		cur, perr := strconv.ParseFloat(settings["max_execution_time"], 64)
		if perr != nil || cur <= 0 || cur > secs {
			settings["max_execution_time"] = strconv.FormatFloat(secs, 'f', 3, 64)
		}
	}
	if _, has := settings["readonly"]; req.ReadOnly && !has {
		settings["readonly"] = "2"
	}
	if len(settings) == 0 {
		return "", nil
	}
	keys := make([]string, 0, len(settings))
	for k := range settings {
		if k != "readonly" {
			keys = append(keys, k)
		}
	}
	slices.Sort(keys)
	if _, has := settings["readonly"]; has {
		keys = append(keys, "readonly")
	}
	var b strings.Builder
	b.WriteString("SET ")
	for i, k := range keys {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString(k)
		b.WriteString(" = ")
		b.WriteString(quoteString(settings[k]))
	}
	return b.String(), nil
}

// quoteString renders s as a ClickHouse string literal.
func quoteString(s string) string {
	r := strings.NewReplacer(`\`, `\\`, `'`, `\'`)
	return "'" + r.Replace(s) + "'"
}

// quoteIdent renders s as a back-quoted ClickHouse identifier.
func quoteIdent(s string) string {
	r := strings.NewReplacer(`\`, `\\`, "`", "\\`")
	return "`" + r.Replace(s) + "`"
}
