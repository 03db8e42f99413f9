package chdb

import (
	"context"
	"regexp"
	"strconv"
	"strings"
)

// authorize turns a parsed request into what user u may run, or refuses it
// with an ACCESS_DENIED *QueryError. Owners run anything. Everyone else:
// inserts are rebuilt from a strictly parsed head into a table u may append
// to; every other statement must pass the guard and runs as its canonical
// text with readonly=1; client settings are limited to output and limit
// settings; statements run in the endpoint's database.
func (s *Server) authorize(ctx context.Context, u *User, q *httpQuery) error {
	if u.Owner {
		if q.insert == nil {
			return refuseClientFiles(q.req.SQL)
		}
		return nil
	}
	if db := q.req.Database; db != "" && db != s.opts.Database {
		return refused("database %s is not available on this endpoint (only %s)", db, s.opts.Database)
	}
	q.req.Database = s.opts.Database
	q.req.Interactive = u.Interactive
	settings, err := clientSettings(q.req.Settings)
	if err != nil {
		return err
	}
	if q.insert != nil {
		stmt, err := s.insertStatement(u, *q.insert, q.staged)
		if err != nil {
			return err
		}
		// Values rows are literals only, never expressions such as file(…).
		settings["input_format_values_interpret_expressions"] = "0"
		settings["input_format_values_deduce_templates_of_expressions"] = "0"
		q.req.SQL, q.req.Settings, q.req.ReadOnly = stmt, settings, false
		return nil
	}
	canonical, err := s.guard.query(ctx, q.req.SQL, q.req.Params, u.Interactive)
	if err != nil {
		return err
	}
	if u.Interactive {
		lim := s.opts.People
		lower(settings, "max_execution_time", int64(lim.MaxExecutionSeconds))
		lower(settings, "max_memory_usage", lim.MaxMemoryBytes)
		lower(settings, "max_result_rows", int64(lim.MaxResultRows))
		if settings["max_result_rows"] != "" && settings["result_overflow_mode"] == "" {
			settings["result_overflow_mode"] = "throw"
		}
	}
	settings["readonly"] = "1" // last (setStatement): nothing after it can change a setting
	q.req.SQL, q.req.Settings = canonical, settings
	return nil
}

// lower sets settings[name] to limit unless the client asked for less.
func lower(settings map[string]string, name string, limit int64) {
	if v, err := strconv.ParseFloat(settings[name], 64); err == nil && v > 0 && v <= float64(limit) {
		return
	}
	settings[name] = strconv.FormatInt(limit, 10)
}

// clientSettingNames are the settings a client may pass; prefixes end in "_".
var clientSettingNames = []string{"max_execution_time", "max_result_rows", "max_result_bytes",
	"result_overflow_mode", "timeout_overflow_mode", "max_memory_usage", "max_block_size",
	"max_insert_block_size", "session_timezone", "output_format_", "format_", "date_time_",
	"input_format_", "cancel_http_readonly_queries_on_client_close", "http_", "send_logs_level",
	"log_comment", "extremes", "totals_mode", "join_use_nulls", "final"}

// clientSettings keeps the settings a client may pass and refuses the rest.
// readonly may be asked for (it is forced anyway) but never lifted.
func clientSettings(in map[string]string) (map[string]string, error) {
	out := make(map[string]string, len(in)+4)
	for k, v := range in {
		if k == "readonly" {
			if v != "1" && v != "2" {
				return nil, refused("setting readonly=%s is not allowed on this endpoint: it is read-only", v)
			}
			continue
		}
		if strings.HasPrefix(k, "input_format_values_") || !settingAllowed(k) {
			return nil, refused("setting %s may not be changed on this endpoint", k)
		}
		out[k] = v
	}
	return out, nil
}

// fileSettingWords mark settings that name files, directories, schemas or URLs on the host
// (format_schema, output_format_schema, input_format_record_errors_file_path,
// format_template_*, format_avro_schema_registry_url, …): never a client's to set.
var fileSettingWords = []string{"file", "path", "schema", "template", "dir", "url"}

func settingAllowed(name string) bool {
	for _, w := range fileSettingWords {
		if strings.Contains(name, w) {
			return false
		}
	}
	for _, n := range clientSettingNames {
		if name == n || (strings.HasSuffix(n, "_") && strings.HasPrefix(name, n)) {
			return true
		}
	}
	return false
}

// insertTargetRe is the only INSERT head the endpoint accepts from users
// who are not owners: INSERT INTO [db.]table [(col, …)].
var insertTargetRe = regexp.MustCompile(`(?is)^(?:\s+|--[^\n]*\n|/\*[^*]*\*/)*INSERT\s+INTO\s+(?:TABLE\s+)?` +
	`(?:(` + identPattern + `)\s*\.\s*)?(` + identPattern + `)\s*(?:\(\s*((?:` + identPattern + `)(?:\s*,\s*(?:` + identPattern + `))*)\s*\))?\s*$`)

const identPattern = "[A-Za-z_][A-Za-z0-9_]*|`[A-Za-z_][A-Za-z0-9_]*`|\"[A-Za-z_][A-Za-z0-9_]*\""

var insertIdentRe = regexp.MustCompile(identPattern)

// insertFormats are the input formats users may insert in.
var insertFormats = map[string]bool{"native": true, "rowbinary": true, "rowbinarywithnames": true,
	"rowbinarywithnamesandtypes": true, "tabseparated": true, "tsv": true, "tabseparatedwithnames": true,
	"tsvwithnames": true, "tsvwithnamesandtypes": true, "csv": true, "csvwithnames": true,
	"jsoneachrow": true, "jsoncompacteachrow": true, "values": true}

// insertStatement rebuilds the INSERT of staged data from its head, for a
// table u may append to.
func (s *Server) insertStatement(u *User, head insertHead, staged string) (string, error) {
	m := insertTargetRe.FindStringSubmatch(head.stmt)
	if m == nil {
		return "", refused("only INSERT INTO table (columns) FORMAT format with data is allowed on this endpoint")
	}
	db, table := unquote(m[1]), unquote(m[2])
	if db != "" && db != s.opts.Database {
		return "", refused("table %s.%s is outside breachd's database %s", db, table, s.opts.Database)
	}
	if !u.mayInsert(table) {
		return "", refused("user %s may not insert into %s", u.Name, table)
	}
	if !insertFormats[strings.ToLower(head.format)] {
		return "", refused("input format %s is not allowed on this endpoint", head.format)
	}
	var b strings.Builder
	b.WriteString("INSERT INTO ")
	b.WriteString(quoteIdent(s.opts.Database))
	b.WriteString(".")
	b.WriteString(quoteIdent(table))
	if m[3] != "" {
		cols := insertIdentRe.FindAllString(m[3], -1)
		for i, c := range cols {
			cols[i] = quoteIdent(unquote(c))
		}
		b.WriteString(" (" + strings.Join(cols, ", ") + ")")
	}
	b.WriteString(" FROM INFILE " + quoteString(staged) + " FORMAT " + head.format)
	return b.String(), nil
}

func unquote(s string) string {
	if len(s) >= 2 && (s[0] == '`' || s[0] == '"') {
		return s[1 : len(s)-1]
	}
	return s
}
