package eval

import (
	"reflect"
	"sync"
	"unsafe"

	"github.com/expr-lang/expr"
	"github.com/expr-lang/expr/ast"
	"github.com/expr-lang/expr/vm/runtime"
)

// inSetName is the function `x in name` is rewritten to. The "$" keeps it
// apart from plan names (private names use it too).
const inSetName = "$in"

// minSetLen is the shortest list looked up through a set; a shorter one is
// searched, which is as fast.
const minSetLen = 32

// inSetPatch rewrites `x in name`, where name is a list (or of unknown type,
// as outputs are), to `$in(x, name)`: the membership test of a condition
// run for every event of a wait, e.g. the seed's `object.metadata.name in
// volumes` over 2,500 names, becomes a map lookup instead of a linear
// search. Only a bare name is rewritten: its value is the same list for the
// whole run, so the set is built once.
type inSetPatch struct{}

func (inSetPatch) Visit(node *ast.Node) {
	b, ok := (*node).(*ast.BinaryNode)
	if !ok || b.Operator != "in" {
		return
	}
	id, ok := b.Right.(*ast.IdentifierNode)
	if !ok {
		return
	}
	if t := id.Type(); t != nil {
		switch t.Kind() {
		case reflect.Slice, reflect.Array, reflect.Interface:
		default:
			return // a map or a struct: expr's own lookup
		}
	}
	call := &ast.CallNode{Callee: &ast.IdentifierNode{Value: inSetName}, Arguments: []ast.Node{b.Left, b.Right}}
	ast.Patch(node, call)
}

// inSets is the $in function of one Program, with the sets it built. A
// list is recognised by its backing array and length; the cache keeps the
// list alive, so that address cannot be reused by another list.
type inSets struct {
	mu   sync.Mutex
	sets map[listID]*stringSet
}

type listID struct {
	data unsafe.Pointer
	n    int
}

// stringSet is a list of strings as a set; ok is false for a list holding
// anything but strings, which is searched as expr does.
type stringSet struct {
	list []any // keeps the list alive while it is a key
	set  map[string]struct{}
	ok   bool
}

// maxSets bounds the lists one Program remembers (they are the few list
// values a plan's names hold).
const maxSets = 16

func (s *inSets) option() expr.Option {
	return expr.Function(inSetName, func(params ...any) (any, error) {
		return s.in(params[0], params[1]), nil
	}, new(func(any, any) bool))
}

// in reports whether needle is in list, as expr's `in` does.
func (s *inSets) in(needle, list any) bool {
	l, ok := list.([]any)
	str, isStr := needle.(string)
	if !ok || !isStr || len(l) < minSetLen {
		return runtime.In(needle, list)
	}
	set := s.set(l)
	if !set.ok {
		return runtime.In(needle, list)
	}
	_, found := set.set[str]
	return found
}

func (s *inSets) set(l []any) *stringSet {
	id := listID{unsafe.Pointer(unsafe.SliceData(l)), len(l)}
	s.mu.Lock()
	defer s.mu.Unlock()
	if set := s.sets[id]; set != nil {
		return set
	}
	set := &stringSet{list: l, set: make(map[string]struct{}, len(l)), ok: true}
	for _, v := range l {
		str, ok := v.(string)
		if !ok {
			set.ok, set.set = false, nil
			break
		}
		set.set[str] = struct{}{}
	}
	if s.sets == nil || len(s.sets) >= maxSets {
		s.sets = map[listID]*stringSet{}
	}
	s.sets[id] = set
	return set
}
