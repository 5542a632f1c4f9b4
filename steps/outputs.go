package steps

import (
	"encoding/json"
	"fmt"
	"sort"
	"strings"

	"github.com/scenario-runner/runner/engine"
	"github.com/scenario-runner/runner/engine/eval"
)

// outputs are named expressions over the objects a step saw.
type outputs map[string]*eval.Program

// outputBinds are the names output expressions see besides vars.
var outputBinds = []string{"objects"}

func buildOutputs(b *engine.Builder, specs map[string]engine.Expr) outputs {
	return buildOutputsOver(b, specs, "objects", []any{})
}

// buildOutputsOver compiles outputs that see name (a sample of its value
// types it) besides vars: objects, results, result.
func buildOutputsOver(b *engine.Builder, specs map[string]engine.Expr, name string, sample any) outputs {
	if len(specs) == 0 {
		return nil
	}
	out := outputs{}
	scope := b.Scope().With(name, sample)
	names := make([]string, 0, len(specs))
	for n := range specs {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, key := range names {
		e := specs[key]
		n, _ := strings.CutSuffix(key, "!")
		if !varName(n) {
			b.Errorf(e.Pos, "output name %q is not a valid name (letters, digits, _; a trailing ! re-binds an earlier output)", key)
			continue
		}
		if p := b.Compile(e, scope, eval.Any); p != nil {
			out[n] = p
		}
	}
	for _, key := range names {
		n, rebind := strings.CutSuffix(key, "!")
		b.Declare(n, specs[key].Pos, rebind)
	}
	return out
}

// set evaluates every output over objects and binds it.
func (o outputs) set(env *engine.Env, objects []any) error {
	return o.setOver(env, "objects", objects)
}

// setOver evaluates every output with name bound to v, and binds it.
func (o outputs) setOver(env *engine.Env, name string, v any) error {
	if len(o) == 0 {
		return nil
	}
	vals := env.Values().With(name, v)
	names := make([]string, 0, len(o))
	for n := range o {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		out, err := o[n].Run(vals)
		if err != nil {
			return fmt.Errorf("output %q: %w", n, err)
		}
		env.SetOutput(n, out)
		b, _ := json.Marshal(out)
		env.Log.Debug().Str("output", n).RawJSON("value", b).Msg("output set")
	}
	return nil
}
