package rules

import (
	"slices"

	"github.com/expr-lang/expr/ast"
	"github.com/expr-lang/expr/parser"
	"github.com/expr-lang/expr/vm"

	"breachd/event"
)

// boolExpr is a compiled bool expression with a Go fast path. Its guards are the leading
// conjuncts of the form `event.F == "literal"` or `event.F in ["literal", ...]` over a string
// field of the event; the engine checks them in Go before it runs the program. Most rules start
// by narrowing the event (a role, an action, a result) and most events fail that narrowing, so
// most rules never enter the VM for most events. Only the conjuncts before the first other one
// are taken, so the result — including which conjuncts would have run — is exactly the
// program's. When the guards are the whole expression the program is not run at all.
type boolExpr struct {
	prog   *vm.Program
	guards []guard
	whole  bool
}

// stringExpr is a compiled string expression; get reads a bare `event.F` without the VM.
type stringExpr struct {
	prog *vm.Program
	get  func(*event.Event) string
}

type guard struct {
	get    func(*event.Event) string
	values []string
}

func (g *guard) pass(e *event.Event) bool { return slices.Contains(g.values, g.get(e)) }

// eventStrings reads the string fields of event.Event by their Go (and expr) name.
var eventStrings = map[string]func(*event.Event) string{
	"Kind":               func(e *event.Event) string { return string(e.Kind) },
	"ID":                 func(e *event.Event) string { return e.ID },
	"Org":                func(e *event.Event) string { return e.Org },
	"User":               func(e *event.Event) string { return e.User },
	"Service":            func(e *event.Event) string { return e.Service },
	"Result":             func(e *event.Event) string { return e.Result },
	"Method":             func(e *event.Event) string { return e.Method },
	"Country":            func(e *event.Event) string { return e.Country },
	"Actor":              func(e *event.Event) string { return e.Actor },
	"ActorRole":          func(e *event.Event) string { return e.ActorRole },
	"Action":             func(e *event.Event) string { return e.Action },
	"Subject":            func(e *event.Event) string { return e.Subject },
	"Resource":           func(e *event.Event) string { return e.Resource },
	"Group":              func(e *event.Event) string { return e.Group },
	"Op":                 func(e *event.Event) string { return e.Op },
	"PrimaryAffiliation": func(e *event.Event) string { return e.PrimaryAffiliation },
	"GoType":             func(e *event.Event) string { return e.GoType },
	"Role":               func(e *event.Event) string { return e.Role },
	"School":             func(e *event.Event) string { return e.School },
	"Change":             func(e *event.Event) string { return e.Change },
	"Guardian":           func(e *event.Event) string { return e.Guardian },
	"Child":              func(e *event.Event) string { return e.Child },
	"Status":             func(e *event.Event) string { return e.Status },
}

// guardsOf extracts the guards of a bool expression that has compiled, and whether they are
// all of it.
func guardsOf(src string) (guards []guard, whole bool) {
	tree, err := parser.Parse(src)
	if err != nil {
		return nil, false
	}
	var conj []ast.Node
	flattenAnd(tree.Node, &conj)
	for _, c := range conj {
		g, ok := guardOf(c)
		if !ok {
			break
		}
		guards = append(guards, g)
	}
	return guards, len(guards) == len(conj)
}

// fieldOf returns the getter of a string expression that is a bare `event.F`, else nil.
func fieldOf(src string) func(*event.Event) string {
	tree, err := parser.Parse(src)
	if err != nil {
		return nil
	}
	get, _ := eventString(tree.Node)
	return get
}

// flattenAnd lists the conjuncts of a chain of && in evaluation order.
func flattenAnd(n ast.Node, out *[]ast.Node) {
	if b, ok := n.(*ast.BinaryNode); ok && (b.Operator == "&&" || b.Operator == "and") {
		flattenAnd(b.Left, out)
		flattenAnd(b.Right, out)
		return
	}
	*out = append(*out, n)
}

func guardOf(n ast.Node) (guard, bool) {
	b, ok := n.(*ast.BinaryNode)
	if !ok {
		return guard{}, false
	}
	switch b.Operator {
	case "==":
		if get, ok := eventString(b.Left); ok {
			if s, ok := b.Right.(*ast.StringNode); ok {
				return guard{get, []string{s.Value}}, true
			}
		}
		if get, ok := eventString(b.Right); ok {
			if s, ok := b.Left.(*ast.StringNode); ok {
				return guard{get, []string{s.Value}}, true
			}
		}
	case "in":
		get, ok := eventString(b.Left)
		arr, isArr := b.Right.(*ast.ArrayNode)
		if !ok || !isArr {
			return guard{}, false
		}
		values := make([]string, 0, len(arr.Nodes))
		for _, v := range arr.Nodes {
			s, ok := v.(*ast.StringNode)
			if !ok {
				return guard{}, false
			}
			values = append(values, s.Value)
		}
		return guard{get, values}, true
	}
	return guard{}, false
}

// eventString recognises `event.F` for a string field F.
func eventString(n ast.Node) (func(*event.Event) string, bool) {
	m, ok := n.(*ast.MemberNode)
	if !ok || m.Optional || m.Method {
		return nil, false
	}
	id, ok := m.Node.(*ast.IdentifierNode)
	if !ok || id.Value != "event" {
		return nil, false
	}
	p, ok := m.Property.(*ast.StringNode)
	if !ok {
		return nil, false
	}
	get, ok := eventStrings[p.Value]
	return get, ok
}
