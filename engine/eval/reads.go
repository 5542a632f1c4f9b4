package eval

import (
	"github.com/expr-lang/expr/ast"
)

// Reads is what an expression may read of the value bound to one name: the
// whole value, or only the subtrees at Paths (each read whole below its
// path). A holder of many such values (a wait's objects) keeps only those.
type Reads struct {
	Whole bool
	Paths [][]string
}

// Add returns the union of r and o.
func (r Reads) Add(o Reads) Reads {
	if r.Whole || o.Whole {
		return Reads{Whole: true}
	}
	return Reads{Paths: append(append([][]string{}, r.Paths...), o.Paths...)}
}

// Reads says what p may read of the object bound to root. Every use of
// root must be the start of a member chain of constant properties
// (root.a?.b["c"][0]); each chain counts as read whole at its end, so
// `len(object.data)` reads all of data and `object.status != nil &&
// object.status.phase == "x"` all of status. Any other use of root (root
// alone, root[key], a call's argument) reads the whole value.
func (p *Program) Reads(root string) Reads {
	return reads(p.prog.Node(), root, false)
}

// ElemReads says what p may read of each element of the list bound to root
// (a step's objects): root[i].a.b reads [a b] of every element, `len(root)`
// reads none, and map, all, any, none, one, count, sum, findIndex and
// findLastIndex over root read what their predicate reads of # (`.a.b`).
// Anything else (filter, sortBy, root alone) reads whole elements.
func (p *Program) ElemReads(root string) Reads {
	return reads(p.prog.Node(), root, true)
}

func reads(tree ast.Node, root string, list bool) Reads {
	var r Reads
	uses := 0      // identifiers root
	accounted := 0 // of them, the start of a chain or a harmless argument
	inner := map[ast.Node]bool{}
	var chains []*ast.MemberNode
	isRoot := func(n ast.Node) bool {
		id, ok := unchain(n).(*ast.IdentifierNode)
		return ok && id.Value == private(root)
	}
	// For a list, the element chains: root[i]... and predicate bodies.
	var preds []ast.Node
	ast.Walk(&tree, visitorFunc(func(node *ast.Node) {
		switch x := (*node).(type) {
		case *ast.IdentifierNode:
			if x.Value == private(root) {
				uses++
			}
		case *ast.MemberNode:
			if _, ok := constantProperty(x.Property); ok {
				inner[unchain(x.Node)] = true
				chains = append(chains, x)
			}
		case *ast.BuiltinNode:
			if !list || len(x.Arguments) == 0 || !isRoot(x.Arguments[0]) {
				return
			}
			switch x.Name {
			case "len":
				if len(x.Arguments) == 1 {
					accounted++
				}
			case "map", "all", "any", "none", "one", "count", "sum", "findIndex", "findLastIndex":
				if len(x.Arguments) == 2 && x.Map == nil {
					if pr, ok := x.Arguments[1].(*ast.PredicateNode); ok {
						accounted++
						preds = append(preds, pr.Node)
					}
				}
			}
		}
	}))
	if list {
		// root[i].a.b: the chain starts at the element root[i] (a member of
		// root whose property may be any index), which only a chain may use.
		isElem := func(n ast.Node) bool {
			e, ok := unchain(n).(*ast.MemberNode)
			return ok && isRoot(e.Node)
		}
		ast.Walk(&tree, visitorFunc(func(node *ast.Node) {
			if e, ok := (*node).(*ast.MemberNode); ok && isRoot(e.Node) && inner[e] {
				accounted++
			}
		}))
		for _, m := range chains {
			if inner[m] || isElem(m) {
				continue
			}
			if path, ok := chainPath(m, isElem); ok {
				r.Paths = append(r.Paths, path)
			}
		}
		for _, body := range preds {
			pr, ok := predicateReads(body)
			if !ok {
				return Reads{Whole: true}
			}
			r.Paths = append(r.Paths, pr...)
		}
	} else {
		for _, m := range chains {
			if inner[m] {
				continue
			}
			if path, ok := chainPath(m, isRoot); ok {
				r.Paths = append(r.Paths, path)
			}
		}
		for _, m := range chains {
			if isRoot(m.Node) {
				accounted++
			}
		}
	}
	if accounted < uses {
		return Reads{Whole: true}
	}
	return r
}

// predicateReads is what a predicate body reads of its element #: every
// use of # must start a chain of constant properties. In a nested
// predicate # is the inner element, so its pointers are not the outer
// element (the inner builtin's collection, e.g. .status.conditions in
// find(.status.conditions, .type == "Ready"), is a chain of the outer one).
func predicateReads(body ast.Node) ([][]string, bool) {
	innerPtr := map[ast.Node]bool{}
	ast.Walk(&body, visitorFunc(func(node *ast.Node) {
		if pr, ok := (*node).(*ast.PredicateNode); ok {
			ast.Walk(&pr.Node, visitorFunc(func(n *ast.Node) {
				if p, ok := (*n).(*ast.PointerNode); ok {
					innerPtr[p] = true
				}
			}))
		}
	}))
	isPtr := func(n ast.Node) bool {
		p, ok := unchain(n).(*ast.PointerNode)
		return ok && p.Name == "" && !innerPtr[p]
	}
	uses, starts := 0, 0
	inner := map[ast.Node]bool{}
	var chains []*ast.MemberNode
	ast.Walk(&body, visitorFunc(func(node *ast.Node) {
		switch x := (*node).(type) {
		case *ast.PointerNode:
			if isPtr(x) {
				uses++
			}
		case *ast.MemberNode:
			if _, ok := constantProperty(x.Property); ok {
				inner[unchain(x.Node)] = true
				chains = append(chains, x)
				if isPtr(x.Node) {
					starts++
				}
			}
		}
	}))
	if starts < uses {
		return nil, false
	}
	var out [][]string
	for _, m := range chains {
		if inner[m] {
			continue
		}
		if path, ok := chainPath(m, isPtr); ok {
			out = append(out, path)
		}
	}
	return out, true
}

// chainPath returns the constant properties of the member chain m down to
// the node where stop is true.
func chainPath(m *ast.MemberNode, stop func(ast.Node) bool) ([]string, bool) {
	var rev []string
	var n ast.Node = m
	for !stop(n) {
		x, ok := unchain(n).(*ast.MemberNode)
		if !ok {
			return nil, false
		}
		prop, ok := constantProperty(x.Property)
		if !ok {
			return nil, false
		}
		rev = append(rev, prop)
		n = x.Node
	}
	out := make([]string, len(rev))
	for i, p := range rev {
		out[len(rev)-1-i] = p
	}
	return out, true
}

// unchain strips the ChainNode that wraps an optional chain (a?.b).
func unchain(n ast.Node) ast.Node {
	for {
		c, ok := n.(*ast.ChainNode)
		if !ok {
			return n
		}
		n = c.Node
	}
}
