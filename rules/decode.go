package rules

import (
	"slices"
	"strings"

	"github.com/expr-lang/expr/vm"
	"gopkg.in/yaml.v3"

	"breachd/event"
)

// decodeRule decodes and compiles one rule; nil when it has errors (recorded in s).
func (s *source) decodeRule(n *yaml.Node) *rule {
	s.rule = ""
	if k := keyNode(n, "id"); k != nil { // name the rule in errors about its keys too
		s.rule = n.Content[slices.Index(n.Content, k)+1].Value
	}
	before := len(s.errs)
	f := s.fields(n, "rule", ruleKeys)
	if f == nil {
		return nil
	}
	r := &rule{info: Rule{File: s.file, Line: n.Line}}
	r.info.ID = s.str(f, n, "id", true)
	if r.info.ID != "" && !idPattern.MatchString(r.info.ID) {
		s.errAt(f["id"], "id %q: use lower-case letters, digits, '.', '_' and '-' (at most 100)", r.info.ID)
	}
	s.rule = r.info.ID
	r.info.Title = s.str(f, n, "title", true)
	r.info.Description = s.str(f, n, "description", false)
	if sev := s.str(f, n, "severity", true); sev != "" {
		r.info.Severity = event.Severity(sev)
		if r.info.Severity.Rank() == 0 {
			s.errAt(f["severity"], "severity: %q is not one of low, medium, high, critical", sev)
		}
	}
	r.info.Tags = s.strList(f, "tags")
	s.kindsOf(f, n, r)
	switch resp := s.str(f, n, "respond", false); resp {
	case "", "none":
	case "deactivate":
		r.info.Respond = true
	default:
		s.errAt(f["respond"], "respond: %q is not one of none, deactivate", resp)
	}

	var progs []*yamlProg
	if c := f["condition"]; c == nil {
		s.errAt(n, "missing key \"condition\"")
	} else {
		r.info.Condition = strings.TrimSpace(c.Value)
		r.cond = s.compileBool(c, "condition")
		progs = append(progs, &yamlProg{c, r.cond.program()})
	}
	if sn := f["summary"]; sn != nil {
		r.summary = s.compileString(sn, "summary")
		progs = append(progs, &yamlProg{sn, r.summary.program()})
	}
	if wn := f["window"]; wn != nil {
		r.window = s.decodeWindow(wn)
		if r.window != nil {
			r.info.Window = r.window.over
			progs = append(progs, &yamlProg{nil, r.window.key.program()}, &yamlProg{nil, r.window.countIf.program()},
				&yamlProg{nil, r.window.distinct.program()})
		}
	}
	if sn := f["suppress"]; sn != nil {
		r.suppress = s.decodeSuppress(sn)
		if r.suppress != nil {
			r.info.Suppress = r.suppress.dur
			progs = append(progs, &yamlProg{nil, r.suppress.key.program()})
		}
	}
	if en := f["exceptions"]; en != nil {
		r.except = s.decodeExceptions(en)
		r.info.Exceptions = len(r.except)
		for _, e := range r.except {
			progs = append(progs, &yamlProg{nil, e.field.program()})
		}
	}
	for _, p := range progs {
		if f["window"] == nil && p.node != nil && uses(p.prog, "window") {
			s.errAt(p.node, "uses window, but the rule defines no window")
		}
		r.facts[0] = r.facts[0] || uses(p.prog, "actor")
		r.facts[1] = r.facts[1] || uses(p.prog, "subject")
	}
	if tn := f["tests"]; tn != nil {
		r.tests = s.decodeTests(tn, r.info.ID)
		r.info.Tests = len(r.tests)
	}
	if len(s.errs) > before {
		return nil
	}
	return r
}

// yamlProg is a compiled expression and, for those that may use window, its node.
type yamlProg struct {
	node *yaml.Node
	prog *vm.Program
}

func (s *source) decodeWindow(n *yaml.Node) *windowDef {
	f := s.fields(n, "window", windowKeys)
	if f == nil {
		return nil
	}
	w := &windowDef{over: s.duration(f, n, "over")}
	if k := s.need(f, n, "window", "key"); k != nil {
		w.key = s.compileString(k, "window.key")
		w.sig = "key=" + k.Value
	}
	if c := f["count_if"]; c != nil {
		w.countIf = s.compileBool(c, "window.count_if")
		w.sig += "\x00count_if=" + c.Value
	}
	if d := f["distinct"]; d != nil {
		w.distinct = s.compileString(d, "window.distinct")
		w.sig += "\x00distinct=" + d.Value
	}
	for _, k := range []string{"key", "count_if", "distinct"} {
		if f[k] != nil && uses(progOf(w, k), "window") {
			s.errAt(f[k], "window.%s: must not use window", k)
		}
	}
	return w
}

func progOf(w *windowDef, key string) *vm.Program {
	switch key {
	case "key":
		return w.key.program()
	case "count_if":
		return w.countIf.program()
	}
	return w.distinct.program()
}

// compileBool compiles a bool expression with its guards; nil on error (recorded).
func (s *source) compileBool(n *yaml.Node, what string) *boolExpr {
	p := s.compile(n, what, exprBool)
	if p == nil {
		return nil
	}
	guards, whole := guardsOf(n.Value)
	return &boolExpr{prog: p, guards: guards, whole: whole}
}

// compileString compiles a string expression with its fast path; nil on error (recorded).
func (s *source) compileString(n *yaml.Node, what string) *stringExpr {
	p := s.compile(n, what, exprString)
	if p == nil {
		return nil
	}
	return &stringExpr{prog: p, get: fieldOf(n.Value)}
}

func (x *boolExpr) program() *vm.Program {
	if x == nil {
		return nil
	}
	return x.prog
}

func (x *stringExpr) program() *vm.Program {
	if x == nil {
		return nil
	}
	return x.prog
}

func (s *source) decodeSuppress(n *yaml.Node) *suppressDef {
	f := s.fields(n, "suppress", suppressKeys)
	if f == nil {
		return nil
	}
	d := &suppressDef{dur: s.duration(f, n, "for")}
	if k := s.need(f, n, "suppress", "key"); k != nil {
		d.key = s.compileString(k, "suppress.key")
	}
	return d
}

func (s *source) decodeExceptions(n *yaml.Node) []exceptionDef {
	var out []exceptionDef
	for _, it := range s.items(n, "exceptions", "exception", exceptKeys) {
		en, f := it.node, it.fields
		e := exceptionDef{values: make(map[string]struct{})}
		if fn := s.need(f, en, "exception", "field"); fn != nil {
			e.field = s.compileString(fn, "exception.field")
		}
		for _, v := range s.strList(f, "values") {
			e.values[v] = struct{}{}
		}
		if len(e.values) == 0 {
			s.errAt(en, "exception: want a non-empty list under \"values\"")
		}
		if r := f["reason"]; s.str(f, en, "reason", true) == "" && r != nil && r.Tag != "!!null" {
			s.errAt(r, "exception: reason must not be empty")
		}
		out = append(out, e)
	}
	return slices.Clip(out)
}
