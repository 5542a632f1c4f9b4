package eval

import (
	"slices"
	"strings"

	"github.com/expr-lang/expr/ast"

	"github.com/scenario-runner/runner/engine/diag"
)

// Bound is an upper limit an expression puts on one name, read from its
// syntax tree: in `p90 < duration("30s") && max <= budget` the bounds are
// p90 < duration("30s") and max <= budget. Reports draw them as budgets.
type Bound struct {
	// Name is the bounded name, Op "<" or "<=".
	Name, Op string
	// Limit is the other side, compiled on its own; it reads none of the
	// bounded names.
	Limit *Program
}

// Bounds finds the upper bounds p puts on any of names: the conjuncts
// (joined by && or and) of the form `name < x`, `name <= x`, `x > name` or
// `x >= name` where x does not read any of names. Other parts of the
// expression bound nothing and are skipped. The limits are compiled in
// scope once, here, so evaluating them later cannot meet a syntax error.
func (p *Program) Bounds(names []string, scope *Scope) []Bound {
	var out []Bound
	var visit func(n ast.Node)
	visit = func(n ast.Node) {
		b, ok := n.(*ast.BinaryNode)
		if !ok {
			return
		}
		switch b.Operator {
		case "&&", "and":
			visit(b.Left)
			visit(b.Right)
			return
		}
		name, other, op := boundedName(b, names)
		if name == "" || readsAny(other, names) {
			return
		}
		src := other.String()
		limit, err := Compile(src, diag.Span{}, 0, scope, Any)
		if err != nil {
			return // not a limit on its own (it cannot fail as part of p)
		}
		out = append(out, Bound{Name: name, Op: op, Limit: limit})
	}
	visit(p.prog.Node())
	return out
}

// boundedName returns the name b bounds from above, the limit's side and
// the operator written name-first.
func boundedName(b *ast.BinaryNode, names []string) (string, ast.Node, string) {
	ident := func(n ast.Node) string {
		if id, ok := n.(*ast.IdentifierNode); ok {
			if v := strings.TrimPrefix(id.Value, "$"); slices.Contains(names, v) {
				return v
			}
		}
		return ""
	}
	switch b.Operator {
	case "<", "<=":
		if n := ident(b.Left); n != "" {
			return n, b.Right, b.Operator
		}
	case ">", ">=":
		if n := ident(b.Right); n != "" {
			return n, b.Left, strings.Replace(b.Operator, ">", "<", 1)
		}
	}
	return "", nil, ""
}

func readsAny(n ast.Node, names []string) bool {
	found := false
	ast.Walk(&n, visitorFunc(func(node *ast.Node) {
		if id, ok := (*node).(*ast.IdentifierNode); ok && slices.Contains(names, strings.TrimPrefix(id.Value, "$")) {
			found = true
		}
	}))
	return found
}
