package eval

import (
	"fmt"
	"reflect"
	"strings"
	"sync/atomic"
	"unicode/utf8"

	"github.com/expr-lang/expr"
	"github.com/expr-lang/expr/ast"
	"github.com/expr-lang/expr/builtin"
	"github.com/expr-lang/expr/conf"
	"github.com/expr-lang/expr/vm/runtime"
)

// Memory limits of expressions. expr bounds the nodes of an expression
// (expr.MaxNodes) and the elements a run may allocate (vm.MemoryBudget), but
// not the bytes of the strings and lists its functions build: replace(),
// join(), concat(), flatten() and + on strings can ask for gigabytes from
// one short line. Those are rewritten at compile time into metered versions
// that check the size of their result before building it.
const (
	// MaxNodes is the most syntax-tree nodes one expression may have.
	MaxNodes = 10_000
	// MemoryBudget is expr's budget per run, in its own units (elements of
	// ranges, maps and filters, bytes of repeat()).
	MemoryBudget = 1_000_000
	// MaxRunBytes is the most bytes of strings and list elements (16 bytes
	// each) the metered functions may build in one run of one expression.
	MaxRunBytes = 16 << 20
	// MaxStepBytes bounds what the runs of one step build together, with
	// the strings rendered from templates (see WithMeter).
	MaxStepBytes = 64 << 20
)

// elemBytes is what one list element costs the meter.
const elemBytes = 16

// Meter counts the bytes expressions build against a limit. It is safe for
// concurrent use. A step that evaluates many expressions (a forEach over a
// manifest) shares one Meter over all of them.
type Meter struct {
	left   atomic.Int64
	limit  int64
	parent *Meter
}

// NewMeter returns a meter of limit bytes.
func NewMeter(limit int64) *Meter {
	m := &Meter{limit: limit}
	m.left.Store(limit)
	return m
}

func (m *Meter) child(limit int64) *Meter {
	c := NewMeter(limit)
	c.parent = m
	return c
}

// ErrMemory is the error of an expression that went over a memory limit.
type ErrMemory struct{ Limit int64 }

func (e *ErrMemory) Error() string {
	return fmt.Sprintf("memory limit exceeded: the expression would build more than %d MiB", e.Limit>>20)
}

// Charge takes n bytes from m (and the meters above it); a nil meter has
// no limit.
func (m *Meter) Charge(n int64) error {
	for x := m; x != nil; x = x.parent {
		if x.left.Add(-n) < 0 {
			return &ErrMemory{Limit: x.limit}
		}
	}
	return nil
}

const meterName = "$meter"

// WithMeter returns a copy of v whose expressions (and templates) charge m.
func (v Values) WithMeter(m *Meter) Values { return v.With(meterName, m) }

func (v Values) meter() *Meter {
	m, _ := v[meterName].(*Meter)
	return m
}

// metered lists the builtins replaced by metered functions, each called
// with the run's *Meter as first argument.
var metered = map[string]*builtin.Function{
	"replace": {
		Name: "$replace",
		Func: func(args ...any) (any, error) {
			m, s, old, repl := args[0].(*Meter), args[1].(string), args[2].(string), args[3].(string)
			n := -1
			if len(args) == 5 {
				n = runtime.ToInt(args[4])
			}
			count := strings.Count(s, old)
			if old == "" {
				count = utf8.RuneCountInString(s) + 1
			}
			if n >= 0 {
				count = min(count, n)
			}
			if err := m.Charge(int64(len(s)) + int64(count)*int64(max(0, len(repl)-len(old)))); err != nil {
				return nil, err
			}
			return strings.Replace(s, old, repl, n), nil
		},
		Types: []reflect.Type{
			reflect.TypeOf(func(*Meter, string, string, string) string { return "" }),
			reflect.TypeOf(func(*Meter, string, string, string, int) string { return "" }),
		},
	},
	"join": {
		Name: "$join",
		Func: func(args ...any) (any, error) {
			m := args[0].(*Meter)
			glue := ""
			if len(args) == 3 {
				glue, _ = args[2].(string)
			}
			v := reflect.ValueOf(args[1])
			if v.Kind() == reflect.Slice {
				size := int64(v.Len()) * int64(len(glue))
				for i := range v.Len() {
					if s, ok := v.Index(i).Interface().(string); ok {
						size += int64(len(s))
					}
				}
				if err := m.Charge(size); err != nil {
					return nil, err
				}
			}
			return original("join").Func(args[1:]...)
		},
		Types: []reflect.Type{
			reflect.TypeOf(func(*Meter, []string, string) string { return "" }),
			reflect.TypeOf(func(*Meter, []string) string { return "" }),
			reflect.TypeOf(func(*Meter, []any, string) string { return "" }),
			reflect.TypeOf(func(*Meter, []any) string { return "" }),
		},
	},
	"concat": {
		Name: "$concat",
		Func: func(args ...any) (any, error) {
			n := int64(0)
			for _, a := range args[1:] {
				if v := reflect.ValueOf(a); v.Kind() == reflect.Slice || v.Kind() == reflect.Array {
					n += int64(v.Len())
				}
			}
			if err := args[0].(*Meter).Charge(n * elemBytes); err != nil {
				return nil, err
			}
			out, _, err := original("concat").Safe(args[1:]...)
			return out, err
		},
		Validate: func(args []reflect.Type) (reflect.Type, error) { return original("concat").Validate(args[1:]) },
	},
	"flatten": {
		Name: "$flatten",
		Func: func(args ...any) (any, error) {
			if len(args) == 2 {
				if err := args[0].(*Meter).Charge(flatSize(reflect.ValueOf(args[1]), 0) * elemBytes); err != nil {
					return nil, err
				}
			}
			out, _, err := original("flatten").Safe(args[1:]...)
			return out, err
		},
		Validate: func(args []reflect.Type) (reflect.Type, error) { return original("flatten").Validate(args[1:]) },
	},
}

// flatSize counts the elements flatten would return.
func flatSize(v reflect.Value, depth int) int64 {
	for v.Kind() == reflect.Interface && !v.IsNil() {
		v = v.Elem()
	}
	if (v.Kind() != reflect.Slice && v.Kind() != reflect.Array) || depth > 100 {
		return 1
	}
	n := int64(0)
	for i := range v.Len() {
		n += flatSize(v.Index(i), depth+1)
	}
	return n
}

// strcat and add are + on strings, and on values whose type is known only
// when run (which may be strings or lists).
var (
	strcat = &builtin.Function{
		Name: "$strcat",
		Func: func(args ...any) (any, error) {
			a, b := args[1].(string), args[2].(string)
			if err := args[0].(*Meter).Charge(int64(len(a) + len(b))); err != nil {
				return nil, err
			}
			return a + b, nil
		},
		Types: []reflect.Type{reflect.TypeOf(func(*Meter, string, string) string { return "" })},
	}
	add = &builtin.Function{
		Name: "$add",
		Func: func(args ...any) (any, error) {
			m, a, b := args[0].(*Meter), args[1], args[2]
			as, aok := a.(string)
			bs, bok := b.(string)
			if aok && bok {
				if err := m.Charge(int64(len(as) + len(bs))); err != nil {
					return nil, err
				}
				return as + bs, nil
			}
			va, vb := reflect.ValueOf(a), reflect.ValueOf(b)
			if va.Kind() == reflect.Slice && vb.Kind() == reflect.Slice {
				if err := m.Charge(int64(va.Len()+vb.Len()) * elemBytes); err != nil {
					return nil, err
				}
			}
			return runtime.Add(a, b), nil
		},
		Types: []reflect.Type{reflect.TypeOf(func(*Meter, any, any) any { return nil })},
	}
)

func original(name string) *builtin.Function { return builtin.Builtins[builtin.Index[name]] }

// memoryOptions are the compile options that bound an expression's memory.
func memoryOptions() []expr.Option {
	opts := []expr.Option{expr.MaxNodes(MaxNodes), expr.Patch(meterPatch{})}
	fns := []*builtin.Function{strcat, add}
	for name, f := range metered {
		opts = append(opts, expr.DisableBuiltin(name))
		fns = append(fns, f)
	}
	opts = append(opts, func(c *conf.Config) {
		for _, f := range fns {
			c.Functions[f.Name] = f
		}
	})
	return opts
}

// meterPatch rewrites calls of the metered builtins and + over strings,
// lists or values of unknown type into the metered functions.
type meterPatch struct{}

func (meterPatch) Visit(node *ast.Node) {
	meter := func() ast.Node { return &ast.IdentifierNode{Value: meterName} }
	switch n := (*node).(type) {
	case *ast.CallNode:
		id, ok := n.Callee.(*ast.IdentifierNode)
		if !ok {
			return
		}
		if f, ok := metered[id.Value]; ok {
			ast.Patch(node, &ast.CallNode{Callee: &ast.IdentifierNode{Value: f.Name}, Arguments: append([]ast.Node{meter()}, n.Arguments...)})
		}
	case *ast.BinaryNode:
		if n.Operator != "+" {
			return
		}
		lk, rk := kindOf(n.Left), kindOf(n.Right)
		switch {
		case lk == reflect.String && rk == reflect.String:
			ast.Patch(node, &ast.CallNode{Callee: &ast.IdentifierNode{Value: strcat.Name}, Arguments: []ast.Node{meter(), n.Left, n.Right}})
		case growable(lk) && (growable(rk) || rk == reflect.Interface) || lk == reflect.Interface && (growable(rk) || rk == reflect.Interface):
			ast.Patch(node, &ast.CallNode{Callee: &ast.IdentifierNode{Value: add.Name}, Arguments: []ast.Node{meter(), n.Left, n.Right}})
		}
	}
}

func growable(k reflect.Kind) bool {
	return k == reflect.String || k == reflect.Slice || k == reflect.Array
}

func kindOf(n ast.Node) reflect.Kind {
	t := n.Type()
	if t == nil {
		return reflect.Interface
	}
	return t.Kind()
}

// internalName reports whether an identifier is one of the meter's own
// (the meter, a metered function), not a name of the plan.
func internalName(id string) bool {
	if id == meterName || id == strcat.Name || id == add.Name {
		return true
	}
	for _, f := range metered {
		if id == f.Name {
			return true
		}
	}
	return false
}

// usesMeter reports whether the compiled tree reads the meter.
func usesMeter(n ast.Node) bool {
	found := false
	ast.Walk(&n, visitorFunc(func(node *ast.Node) {
		if id, ok := (*node).(*ast.IdentifierNode); ok && id.Value == meterName {
			found = true
		}
	}))
	return found
}
