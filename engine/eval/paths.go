package eval

import (
	"slices"
	"strconv"
	"strings"

	"github.com/expr-lang/expr/ast"
)

// Paths lists the member paths p reads below the identifier root, e.g.
// [status phase] for `object.status?.phase == "Running"`, so that a report
// can show the values the expression saw. Only constant properties count
// (object.spec["replicas"], object.status.conditions[0]); an integer index
// is given in decimal. A path that is a prefix of another one is left out;
// the rest come in the order they appear in the source.
func (p *Program) Paths(root string) [][]string {
	type found struct {
		path []string
		from int
	}
	var all []found
	ast.Walk(new(p.prog.Node()), visitorFunc(func(node *ast.Node) {
		m, ok := (*node).(*ast.MemberNode)
		if !ok {
			return
		}
		if path, ok := memberPath(m, root); ok {
			all = append(all, found{path, m.Location().From})
		}
	}))
	slices.SortStableFunc(all, func(a, b found) int { return a.from - b.from })
	var out [][]string
	for i, f := range all {
		covered := false
		for j, g := range all {
			if i != j && len(g.path) >= len(f.path) && slices.Equal(g.path[:len(f.path)], f.path) && (len(g.path) > len(f.path) || j < i) {
				covered = true
				break
			}
		}
		if !covered {
			out = append(out, f.path)
		}
	}
	return out
}

// memberPath returns the properties of the member chain m when it starts at
// the identifier root and every property is a constant.
func memberPath(m *ast.MemberNode, root string) ([]string, bool) {
	var rev []string
	var n ast.Node = m
	for {
		switch x := n.(type) {
		case *ast.MemberNode:
			prop, ok := constantProperty(x.Property)
			if !ok {
				return nil, false
			}
			rev = append(rev, prop)
			n = x.Node
			continue
		case *ast.ChainNode:
			n = x.Node
			continue
		case *ast.IdentifierNode:
			if strings.TrimPrefix(x.Value, "$") != root {
				return nil, false
			}
			slices.Reverse(rev)
			return rev, true
		}
		return nil, false
	}
}

func constantProperty(n ast.Node) (string, bool) {
	switch x := n.(type) {
	case *ast.StringNode:
		return x.Value, true
	case *ast.IntegerNode:
		return strconv.Itoa(x.Value), true
	case *ast.ConstantNode:
		switch v := x.Value.(type) {
		case string:
			return v, true
		case int:
			return strconv.Itoa(v), true
		}
	}
	return "", false
}

// Names lists the names p reads from its scope in the order they first
// appear in the source, for reports that show the values an expression saw
// (Identifiers gives them sorted).
func (p *Program) Names() []string {
	type found struct {
		name string
		from int
	}
	var all []found
	ast.Walk(new(p.prog.Node()), visitorFunc(func(node *ast.Node) {
		if id, ok := (*node).(*ast.IdentifierNode); ok && id.Value != inSetName {
			all = append(all, found{strings.TrimPrefix(id.Value, "$"), id.Location().From})
		}
	}))
	slices.SortStableFunc(all, func(a, b found) int { return a.from - b.from })
	var names []string
	for _, f := range all {
		if !slices.Contains(names, f.name) {
			names = append(names, f.name)
		}
	}
	return names
}
