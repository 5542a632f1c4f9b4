package steps

import (
	"fmt"

	"github.com/scenario-runner/runner/engine"
	"github.com/scenario-runner/runner/engine/eval"
)

// forEach is a compiled forEach/as pair: the list expression and the name
// its elements are bound to. A zero forEach yields the values once.
type forEach struct {
	list *eval.Program
	as   string
}

// buildForEach compiles forEach and returns the scope the step's other
// expressions see (with the element's name).
func buildForEach(b *engine.Builder, list engine.Expr, as string) (forEach, *eval.Scope) {
	f := forEach{as: as}
	if f.as == "" {
		f.as = "item"
	}
	if !varName(f.as) {
		b.Errorf(b.Here(), "as: %q is not a valid name (letters, digits, _)", f.as)
	}
	scope := b.Scope()
	if list.IsSet() {
		f.list = b.Compile(list, scope, eval.List)
		scope = scope.With(f.as, nil)
	}
	return f, scope
}

// iteration is one element of a forEach: the values with it bound and a
// label for messages (i=3), empty without forEach.
type iteration struct {
	vals  eval.Values
	label string
}

// items evaluates the list with vals.
func (f forEach) items(vals eval.Values) ([]iteration, error) {
	if f.list == nil {
		return []iteration{{vals: vals}}, nil
	}
	out, err := f.list.Run(vals)
	if err != nil {
		return nil, fmt.Errorf("forEach: %w", err)
	}
	list := out.([]any)
	its := make([]iteration, len(list))
	for i, it := range list {
		its[i] = iteration{vals: vals.With(f.as, it), label: fmt.Sprintf("%s=%v", f.as, it)}
	}
	return its, nil
}
