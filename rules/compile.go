package rules

import (
	"errors"
	"fmt"
	"reflect"

	"github.com/expr-lang/expr"
	"github.com/expr-lang/expr/ast"
	"github.com/expr-lang/expr/file"
	"github.com/expr-lang/expr/vm"
	"gopkg.in/yaml.v3"
)

// CompileError is a problem in a rule file: bad YAML, an unknown or missing key, an invalid
// value or an expression that does not compile. Line and Column (1-based, columns counted in
// characters) point into the YAML file — for an expression error, at the offending character
// of the expression inside the file. They are 0 when unknown. Rule is empty when the problem is
// outside a rule (or before its id is known).
type CompileError struct {
	File   string
	Rule   string
	Line   int
	Column int
	Msg    string
}

func (e *CompileError) Error() string {
	pos := e.File
	if e.Line > 0 {
		pos = fmt.Sprintf("%s:%d:%d", e.File, e.Line, e.Column)
	}
	if e.Rule == "" {
		return pos + ": " + e.Msg
	}
	return fmt.Sprintf("%s: rule %s: %s", pos, e.Rule, e.Msg)
}

// source is one rule file being decoded: its name, its text (for positions) and the errors
// found so far.
type source struct {
	file  string
	text  []rune
	lines []int // rune index where each line starts
	rule  string
	errs  []error
}

func newSource(file string, data []byte) *source {
	s := &source{file: file, text: []rune(string(data)), lines: []int{0}}
	for i, r := range s.text {
		if r == '\n' {
			s.lines = append(s.lines, i+1)
		}
	}
	return s
}

// errAt records an error at n (nil n: no position).
func (s *source) errAt(n *yaml.Node, format string, args ...any) {
	e := &CompileError{File: s.file, Rule: s.rule, Msg: fmt.Sprintf(format, args...)}
	if n != nil {
		e.Line, e.Column = n.Line, n.Column
	}
	s.errs = append(s.errs, e)
}

// exprKind is the result type an expression must have.
type exprKind int

const (
	exprBool exprKind = iota
	exprString
)

// compile compiles the expression held by scalar n against Env. On error it records a
// CompileError positioned at the offending character in the file and returns nil.
func (s *source) compile(n *yaml.Node, what string, kind exprKind) *vm.Program {
	if n.Kind != yaml.ScalarNode || n.Value == "" || n.Tag == "!!null" {
		s.errAt(n, "%s: want an expression", what)
		return nil
	}
	opts := []expr.Option{expr.Env(Env{}), expr.WithContext("ctx"), expr.Optimize(true)}
	if kind == exprBool {
		opts = append(opts, expr.AsBool())
	} else {
		opts = append(opts, expr.AsKind(reflect.String))
	}
	prog, err := expr.Compile(n.Value, opts...)
	if err == nil {
		err = checkLookupArgs(prog)
	}
	if err == nil {
		return prog
	}
	e := &CompileError{File: s.file, Rule: s.rule, Line: n.Line, Column: n.Column, Msg: what + ": " + err.Error()}
	var fe *file.Error
	if errors.As(err, &fe) {
		e.Msg = what + ": " + fe.Message
		e.Line, e.Column = s.position(n, fe.From)
	}
	s.errs = append(s.errs, e)
	return nil
}

// position maps a character offset within scalar n's value to a 1-based line and column in the
// file. It walks the value and the file text side by side, treating any run of whitespace
// (which folding, indentation and line breaks change) as matching any run, and skipping quote
// and escape characters; that is exact for the plain, quoted and block scalars rule files use.
func (s *source) position(n *yaml.Node, off int) (line, col int) {
	if n.Line < 1 || n.Line > len(s.lines) {
		return n.Line, n.Column
	}
	p := s.lines[n.Line-1] + n.Column - 1
	switch n.Style {
	case yaml.DoubleQuotedStyle, yaml.SingleQuotedStyle:
		p++
	case yaml.LiteralStyle, yaml.FoldedStyle:
		for p < len(s.text) && s.text[p] != '\n' { // skip the header line
			p++
		}
	}
	val := []rune(n.Value)
	if off > len(val) {
		off = len(val)
	}
	for i := 0; i < off && p < len(s.text); {
		if isSpace(val[i]) {
			for i < len(val) && isSpace(val[i]) {
				i++
			}
			for p < len(s.text) && isSpace(s.text[p]) {
				p++
			}
			continue
		}
		for p < len(s.text) && isSpace(s.text[p]) { // line breaks and indentation in the file
			p++
		}
		if p < len(s.text) {
			p += s.escapeLen(n.Style, p)
		}
		i++
	}
	if off < len(val) && !isSpace(val[off]) {
		for p < len(s.text) && isSpace(s.text[p]) {
			p++
		}
	}
	return s.lineCol(p)
}

// escapeLen is how many characters of the file at p stand for one character of the value.
func (s *source) escapeLen(style yaml.Style, p int) int {
	t := s.text
	switch {
	case style == yaml.DoubleQuotedStyle && t[p] == '\\' && p+1 < len(t):
		switch t[p+1] {
		case 'x':
			return 4
		case 'u':
			return 6
		case 'U':
			return 10
		}
		return 2
	case style == yaml.SingleQuotedStyle && t[p] == '\'' && p+1 < len(t) && t[p+1] == '\'':
		return 2
	}
	return 1
}

func (s *source) lineCol(p int) (line, col int) {
	lo, hi := 0, len(s.lines)-1
	for lo < hi { // last line start <= p
		mid := (lo + hi + 1) / 2
		if s.lines[mid] <= p {
			lo = mid
		} else {
			hi = mid - 1
		}
	}
	return lo + 1, p - s.lines[lo] + 1
}

func isSpace(r rune) bool { return r == ' ' || r == '\t' || r == '\n' || r == '\r' }

// uses reports whether prog refers to the identifier name (event, actor, subject, window).
func uses(prog *vm.Program, name string) bool {
	if prog == nil {
		return false
	}
	return ast.Find(prog.Node(), func(n ast.Node) bool {
		id, ok := n.(*ast.IdentifierNode)
		return ok && id.Value == name
	}) != nil
}
