package engine

import (
	"context"
	"fmt"
	"reflect"
	"slices"
	"sort"

	"github.com/scenario-runner/runner/engine/eval"
	"github.com/scenario-runner/runner/result"
)

// Action is a compiled step, ready to run.
type Action interface {
	Run(ctx context.Context, env *Env) error
}

// Spec is the decoded YAML of one step kind. Its fields are decoded by
// package decode from the struct tags; Build checks what the tags cannot and
// compiles the expressions.
type Spec interface {
	Build(b *Builder) (Action, error)
}

// Observing is implemented by actions that only observe or pass time
// (waits, sleeps): a dry run skips them, since what they would wait for
// was never created.
type Observing interface {
	Observing() bool
}

// Describer is implemented by specs that can name their step when the plan
// gives no name, e.g. "waitFor Pod app=nginx".
type Describer interface {
	Describe() string
}

// Kind is one step kind: the YAML key, a constructor of its empty spec,
// and what the engine and the reports must know of it without naming it.
type Kind struct {
	Name string
	Doc  string
	New  func() Spec
	// Binds are the names the kind's expressions see besides vars and
	// outputs (object, duration, ...): no variable may take them.
	Binds []string
	// Detail is a zero value of the kind's result detail (nil: none), for
	// the JSON Schema of report.json.
	Detail result.Detail
	// Fallible kinds make API requests that can be refused, so a step of
	// theirs may say expectError.
	Fallible bool
	// Local kinds run programs on the machine runner runs on. A plan with
	// such a step runs only when RunOptions.AllowLocal says so (the
	// command line's --allow-commands): a plan may come from a pull
	// request. Validation and dry runs never run them.
	Local bool
	// Beside kinds may also be given once at plan level (a key beside
	// steps:), where their action runs along the plan's steps: it must
	// implement Besider, and its Build sees Builder.PlanLevel.
	Beside bool
	// Access lists the API requests an action of the kind makes, with
	// what only the plan's variables decide resolved from vals (see
	// Plan.StaticValues and StaticString). runner rbac and the preflight
	// derive their rules from it; nil: the kind asks nothing of the API
	// server itself (steps nested in it are listed on their own).
	Access func(a Action, vals eval.Values) []Access
}

// Besider is implemented by the actions of Beside kinds: at plan level they
// run along the plan's steps instead of as a step.
type Besider interface {
	// Beside starts the action before the plan's first step; the engine
	// calls end after the steps (the last one, or the one that failed),
	// before finally. end's error fails a plan that had passed. The
	// action records its detail in env.Result, a result step of its own
	// listed after the plan's steps.
	Beside(ctx context.Context, env *Env) (end func(ctx context.Context) error)
}

// Registry maps step keys to kinds. Build one with NewRegistry; it is not
// modified after that.
type Registry struct {
	kinds map[string]Kind
}

// NewRegistry returns a registry of kinds; duplicate names panic, as they
// are a programming error.
func NewRegistry(kinds ...Kind) *Registry {
	r := &Registry{kinds: map[string]Kind{}}
	for _, k := range kinds {
		if _, dup := r.kinds[k.Name]; dup {
			panic(fmt.Sprintf("engine: step kind %q registered twice", k.Name))
		}
		r.kinds[k.Name] = k
	}
	return r
}

// Lookup returns the kind named name.
func (r *Registry) Lookup(name string) (Kind, bool) {
	k, ok := r.kinds[name]
	return k, ok
}

// Names lists the kinds, sorted.
func (r *Registry) Names() []string {
	names := make([]string, 0, len(r.kinds))
	for n := range r.kinds {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// SpecType returns the struct type of kind name's spec.
func (r *Registry) SpecType(name string) reflect.Type {
	t := reflect.TypeOf(r.kinds[name].New())
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	return t
}

// Kinds returns the kinds, sorted by name.
func (r *Registry) Kinds() []Kind {
	out := make([]Kind, 0, len(r.kinds))
	for _, n := range r.Names() {
		out = append(out, r.kinds[n])
	}
	return slices.Clip(out)
}

// fallible lists the kinds whose steps may say expectError.
func (r *Registry) fallible() []string {
	var out []string
	for _, n := range r.Names() {
		if r.kinds[n].Fallible {
			out = append(out, n)
		}
	}
	return out
}

// besideKinds lists the kinds that may be given at plan level.
func (r *Registry) besideKinds() []Kind {
	var out []Kind
	for _, n := range r.Names() {
		if r.kinds[n].Beside {
			out = append(out, r.kinds[n])
		}
	}
	return out
}

// Bound lists every name some kind binds, sorted.
func (r *Registry) Bound() []string {
	var out []string
	for _, k := range r.kinds {
		out = append(out, k.Binds...)
	}
	slices.Sort(out)
	return slices.Compact(out)
}

// Details maps each kind that has a result detail to its type.
func (r *Registry) Details() map[string]reflect.Type {
	out := map[string]reflect.Type{}
	for name, k := range r.kinds {
		if k.Detail != nil {
			out[name] = reflect.TypeOf(k.Detail)
		}
	}
	return out
}

func typeOf[T any]() reflect.Type { return reflect.TypeOf((*T)(nil)).Elem() }
