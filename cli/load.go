package cli

import (
	"errors"
	"fmt"
	"os"
	"strings"

	"gopkg.in/yaml.v3"

	"github.com/scenario-runner/runner/engine"
	"github.com/scenario-runner/runner/engine/diag"
	"github.com/scenario-runner/runner/steps"
)

// overrides reads --values files, then --set pairs, in that order.
func overrides(valuesFiles, sets []string) ([]engine.Override, error) {
	var out []engine.Override
	for _, f := range valuesFiles {
		data, err := os.ReadFile(f)
		if err != nil {
			return nil, fmt.Errorf("%w: --values %s: %v", ErrUsage, f, err)
		}
		var doc yaml.Node
		if err := yaml.Unmarshal(data, &doc); err != nil {
			return nil, fmt.Errorf("%w: --values %s: invalid YAML: %v", ErrUsage, f, err)
		}
		if len(doc.Content) == 0 {
			continue
		}
		m := doc.Content[0]
		if m.Kind != yaml.MappingNode {
			return nil, fmt.Errorf("%w: --values %s: expected a mapping of variable names to values", ErrUsage, f)
		}
		for i := 0; i+1 < len(m.Content); i += 2 {
			var v any
			if err := m.Content[i+1].Decode(&v); err != nil {
				return nil, fmt.Errorf("%w: %s:%d: %v", ErrUsage, f, m.Content[i+1].Line, err)
			}
			out = append(out, engine.Override{Name: m.Content[i].Value, Value: v, Origin: fmt.Sprintf("%s:%d:%d", f, m.Content[i].Line, m.Content[i].Column)})
		}
	}
	for _, s := range sets {
		k, v, ok := strings.Cut(s, "=")
		if !ok || k == "" {
			return nil, fmt.Errorf("%w: --set %q: expected name=value", ErrUsage, s)
		}
		var val any
		if err := yaml.Unmarshal([]byte(v), &val); err != nil {
			val = v // not YAML: take it as a string
		}
		out = append(out, engine.Override{Name: k, Value: val, Origin: "--set " + s})
	}
	return out, nil
}

// loadPlans loads and validates every file, collecting all problems, so
// that nothing runs unless every plan is valid.
func loadPlans(files []string, ov []engine.Override) ([]*engine.Plan, error) {
	reg := steps.Kinds()
	var plans []*engine.Plan
	var errs []error
	for _, f := range files {
		p, err := engine.Load(f, engine.LoadOptions{Registry: reg, Overrides: ov})
		if err == nil {
			err = checkSchema(f, reg)
		}
		if err != nil {
			errs = append(errs, err)
			continue
		}
		plans = append(plans, p)
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	return plans, nil
}

// renderInvalid prints every problem of every invalid plan with its line and
// a caret, followed by a count.
func renderInvalid(w interface{ Write([]byte) (int, error) }, err error) {
	n := 0
	var walk func(error)
	walk = func(e error) {
		var inv *engine.InvalidError
		if errors.As(e, &inv) && errors.Is(e, engine.ErrInvalid) {
			if j, ok := e.(interface{ Unwrap() []error }); ok && !isInvalid(e) {
				for _, x := range j.Unwrap() {
					walk(x)
				}
				return
			}
			fmt.Fprint(w, inv.Render())
			n += len(diag.Flatten(inv.Errs))
			return
		}
		if j, ok := e.(interface{ Unwrap() []error }); ok {
			for _, x := range j.Unwrap() {
				walk(x)
			}
			return
		}
		fmt.Fprintln(w, e)
		n++
	}
	walk(err)
	if n > 1 {
		fmt.Fprintf(w, "%d problems\n", n)
	}
}

func isInvalid(e error) bool {
	_, ok := e.(*engine.InvalidError)
	return ok
}
