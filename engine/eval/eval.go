// Package eval compiles the expressions of a plan once, at load time, against
// a typed scope, and runs them later. Expressions are expr-lang/expr; strings
// may embed them as ${{ expr }} (see Template).
//
// Compile errors are *diag.Error values that point at the exact character of
// the plan file, inside block scalars and manifests too. Nothing here touches
// a cluster; a compiled Program is safe to share between goroutines.
package eval

import (
	"errors"
	"fmt"
	"maps"
	"math"
	"reflect"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/expr-lang/expr"
	"github.com/expr-lang/expr/ast"
	"github.com/expr-lang/expr/builtin"
	"github.com/expr-lang/expr/file"
	"github.com/expr-lang/expr/types"
	"github.com/expr-lang/expr/vm"

	"github.com/scenario-runner/runner/engine/decode"
	"github.com/scenario-runner/runner/engine/diag"
	"github.com/scenario-runner/runner/redact"
)

// Scope is the set of names an expression may use, each with a sample value
// whose type the checker uses. A Scope is immutable: With returns a copy.
type Scope struct {
	names map[string]any
}

// NewScope returns a scope holding names (sample values give the types).
func NewScope(names map[string]any) *Scope {
	return &Scope{names: maps.Clone(names)}
}

// With returns a copy of s in which name has the type of sample.
func (s *Scope) With(name string, sample any) *Scope {
	n := maps.Clone(s.names)
	if n == nil {
		n = map[string]any{}
	}
	n[name] = sample
	return &Scope{names: n}
}

// Has reports whether name is in s.
func (s *Scope) Has(name string) bool { _, ok := s.names[name]; return ok }

// Names returns the names in s, sorted.
func (s *Scope) Names() []string {
	return slices.Sorted(maps.Keys(s.names))
}

// env returns the checker's environment: names that shadow a builtin
// function (min, max, duration in a timeProbe) are stored under a private
// name, so that both `duration` and `duration("2m")` work.
// A nil sample declares a name of any type (an output, whose type is known
// only at run time); a types.Type sample declares that type (a map with
// known keys: a typo in a key is then a load-time error).
func (s *Scope) env() types.Map {
	env := make(types.Map, len(s.names))
	for k, v := range s.names {
		switch t := v.(type) {
		case nil:
			env[private(k)] = types.Any
		case types.Type: // a declared shape, e.g. types.Map{"max": types.Float64}
			env[private(k)] = t
		default:
			env[private(k)] = types.TypeOf(v)
		}
	}
	env[meterName] = types.TypeOf(&Meter{})
	return env
}

func shadowsBuiltin(name string) bool {
	_, ok := builtin.Index[name]
	return ok
}

func private(name string) string {
	if shadowsBuiltin(name) {
		return "$" + name
	}
	return name
}

// Values is what a program runs with: the value of every name of its scope.
type Values map[string]any

// With returns a copy of v with name set to value.
func (v Values) With(name string, value any) Values {
	n := make(Values, len(v)+1)
	maps.Copy(n, v)
	n[name] = value
	return n
}

func (v Values) env() map[string]any {
	env := make(map[string]any, len(v))
	for k, x := range v {
		env[private(k)] = x
	}
	return env
}

// Want says what type an expression must produce.
type Want int

const (
	Any Want = iota
	Bool
	Int
	List
	String
	Duration
)

func (w Want) String() string {
	return [...]string{"any value", "a boolean", "an integer", "a list", "a string", "a duration"}[w]
}

// Program is one compiled expression.
type Program struct {
	Source string
	Span   diag.Span
	want   Want
	prog   *vm.Program
	meters bool // calls a metered function (see memory.go)
}

// shadowPatch renames identifiers that shadow builtins to their private
// names. Calls of the builtin itself are BuiltinNodes and stay untouched.
type shadowPatch struct{ scope *Scope }

func (p shadowPatch) Visit(node *ast.Node) {
	if id, ok := (*node).(*ast.IdentifierNode); ok && shadowsBuiltin(id.Value) && p.scope.Has(id.Value) {
		id.Value = private(id.Value)
	}
}

// Compile compiles src, found at span (whose offset 0 is src's first rune
// plus base), in scope. An error is a *diag.Error at the offending character.
func Compile(src string, span diag.Span, base int, scope *Scope, want Want) (*Program, error) {
	return compile(src, span, base, scope, want, true)
}

// compile is Compile; setLookup false keeps expr's linear `in` (for the
// benchmark that compares them).
func compile(src string, span diag.Span, base int, scope *Scope, want Want, setLookup bool) (*Program, error) {
	opts := append([]expr.Option{expr.Env(scope.env()), expr.Patch(shadowPatch{scope})}, memoryOptions()...)
	if setLookup {
		opts = append(opts, expr.Patch(inSetPatch{}), new(inSets).option())
	}
	switch want {
	case Bool:
		opts = append(opts, expr.AsBool())
	}
	prog, err := expr.Compile(src, opts...)
	if err != nil {
		return nil, locate(err, src, span, base, scope)
	}
	p := &Program{Source: src, Span: span, want: want, prog: prog, meters: usesMeter(prog.Node())}
	if err := p.checkType(base); err != nil {
		return nil, err
	}
	return p, nil
}

// checkType rejects expressions whose static type cannot be what is wanted.
// Unknown types (interface{}) pass and are checked when run.
func (p *Program) checkType(base int) error {
	t := p.prog.Node().Type()
	if t == nil || t.Kind() == reflect.Interface {
		return nil
	}
	ok := true
	switch p.want {
	case Int:
		ok = isInt(t.Kind()) || t.Kind() == reflect.String
	case List:
		ok = t.Kind() == reflect.Slice || t.Kind() == reflect.Array
	case String:
		ok = true // anything prints
	case Duration:
		ok = t == reflect.TypeOf(time.Duration(0)) || t.Kind() == reflect.String
	}
	if !ok {
		return p.Span.Errorf(base, "expected %s, but %q is of type %s", p.want, strings.TrimSpace(p.Source), t)
	}
	return nil
}

func isInt(k reflect.Kind) bool {
	switch k {
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return true
	}
	return false
}

// locate turns an expr error into a diag.Error pointing into the file.
func locate(err error, src string, span diag.Span, base int, scope *Scope) error {
	var fe *file.Error
	if !errors.As(err, &fe) {
		return span.Errorf(base, "%v", err)
	}
	off := fe.From
	if n := len([]rune(src)); off > n {
		off = n
	}
	msg := fe.Message
	if name, ok := strings.CutPrefix(msg, "unknown name "); ok {
		if s := decode.Suggest(name, scope.Names()); s != "" {
			msg += fmt.Sprintf(", did you mean %q?", s)
		} else if names := scope.Names(); len(names) > 0 && len(names) <= 12 {
			msg += fmt.Sprintf(" (known names: %s)", strings.Join(names, ", "))
		}
	}
	return span.Errorf(base+off, "%s", msg)
}

// Run evaluates p with vals and converts the result to what p wants. The
// run is bounded by MemoryBudget and MaxRunBytes (and the meter of vals, see
// WithMeter); an error never quotes a value read from a Secret (see package
// redact).
func (p *Program) Run(vals Values) (any, error) {
	env := vals.env()
	if p.meters {
		env[meterName] = vals.meter().child(MaxRunBytes)
	}
	machine := vm.VM{MemoryBudget: MemoryBudget}
	out, err := machine.Run(p.prog, env)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", strings.TrimSpace(p.Source), scrub(err, vals))
	}
	out, err = convert(out, p.want, p.Source)
	if err != nil {
		return nil, scrub(err, vals)
	}
	return out, nil
}

// scrub masks in err the values of the Secrets among vals (and every secret
// the run knows so far), recording those values in the run's set
// (vals.Redact()) so that later output masks them too.
func scrub(err error, vals Values) error {
	set := vals.Redact()
	if set == nil {
		set = redact.New() // no run's set: mask at least this message
	}
	for k, v := range vals {
		if k == redactName {
			continue
		}
		if s := redact.Find(v, 3); len(s) > 0 {
			set.Add(s...)
		}
	}
	msg := err.Error()
	if clean := set.String(msg); clean != msg {
		return errors.New(clean)
	}
	return err
}

// Bool runs a boolean program.
func (p *Program) Bool(vals Values) (bool, error) {
	out, err := p.Run(vals)
	if err != nil {
		return false, err
	}
	b, _ := out.(bool)
	return b, nil
}

func convert(out any, want Want, src string) (any, error) {
	bad := func() error {
		return fmt.Errorf("%s: expected %s, got %T (%v)", strings.TrimSpace(src), want, out, out)
	}
	switch want {
	case Bool:
		if _, ok := out.(bool); !ok {
			return nil, bad()
		}
	case Int:
		n, err := ToInt(out)
		if err != nil {
			return nil, bad()
		}
		return n, nil
	case List:
		v := reflect.ValueOf(out)
		if out == nil || (v.Kind() != reflect.Slice && v.Kind() != reflect.Array) {
			return nil, bad()
		}
		list := make([]any, v.Len())
		for i := range list {
			list[i] = v.Index(i).Interface()
		}
		return list, nil
	case Duration:
		switch d := out.(type) {
		case time.Duration:
			return d, nil
		case string:
			pd, err := time.ParseDuration(d)
			if err != nil {
				return nil, bad()
			}
			return pd, nil
		}
		return nil, bad()
	case String:
		if s, ok := out.(string); ok {
			return s, nil
		}
		return fmt.Sprint(out), nil
	}
	return out, nil
}

// ToInt converts the integer kinds, whole floats and numeric strings to int.
func ToInt(v any) (int, error) {
	rv := reflect.ValueOf(v)
	switch {
	case v == nil:
	case rv.CanInt():
		return int(rv.Int()), nil
	case rv.CanUint():
		if rv.Uint() <= math.MaxInt64 {
			return int(rv.Uint()), nil
		}
	case rv.CanFloat():
		// Whole and inside the int64 range (2^63 itself is not).
		if f := rv.Float(); f == math.Trunc(f) && f >= math.MinInt64 && f < math.MaxInt64 {
			return int(f), nil
		}
	case rv.Kind() == reflect.String:
		// The whole string, in base 10: "5x" and "1e400" are not integers.
		if n, err := strconv.ParseInt(strings.TrimSpace(rv.String()), 10, 64); err == nil {
			return int(n), nil
		}
	}
	return 0, fmt.Errorf("not an integer: %v", v)
}

// Identifiers lists the names p reads from its scope, sorted, for reports
// that show the values an expression saw.
func (p *Program) Identifiers() []string {
	seen := map[string]bool{}
	var walk func(n ast.Node)
	v := visitorFunc(func(node *ast.Node) {
		if id, ok := (*node).(*ast.IdentifierNode); ok && !internalName(id.Value) && id.Value != inSetName {
			seen[strings.TrimPrefix(id.Value, "$")] = true
		}
	})
	walk = func(n ast.Node) { ast.Walk(&n, v) }
	walk(p.prog.Node())
	names := make([]string, 0, len(seen))
	for k := range seen {
		names = append(names, k)
	}
	sort.Strings(names)
	return names
}

type visitorFunc func(*ast.Node)

func (f visitorFunc) Visit(n *ast.Node) { f(n) }
