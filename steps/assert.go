package steps

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/scenario-runner/runner/engine"
	"github.com/scenario-runner/runner/engine/eval"
	"github.com/scenario-runner/runner/result"
)

// AssertSpec is the YAML shape of an assert step: boolean expressions over
// vars and outputs, all of which must hold, e.g.
//
//   - assert:
//   - victimNode != node
//   - len(replicas) == 3
type AssertSpec []engine.Expr

// Describe implements engine.Describer.
func (s *AssertSpec) Describe() string {
	if len(*s) == 1 {
		return "assert " + strings.TrimSpace((*s)[0].Src)
	}
	return fmt.Sprintf("assert %d conditions", len(*s))
}

type assertAction struct{ checks []*eval.Program }

// Build implements engine.Spec.
func (s *AssertSpec) Build(b *engine.Builder) (engine.Action, error) {
	if len(*s) == 0 {
		b.Errorf(b.Here(), "assert needs at least one expression")
	}
	a := &assertAction{}
	for _, e := range *s {
		if p := b.Compile(e, b.Scope(), eval.Bool); p != nil {
			a.checks = append(a.checks, p)
		}
	}
	return a, nil
}

// Run implements engine.Action.
func (a *assertAction) Run(_ context.Context, env *engine.Env) error {
	checks, err := checkAll(a.checks, env.Values())
	env.Result.Detail = &AssertDetail{Checks: checks}
	return err
}

// AssertDetail is an assert step's result: each expression and the values
// it read.
type AssertDetail struct {
	Checks []result.Check `json:"checks"`
}

// Summary implements result.Detail.
func (d *AssertDetail) Summary() string {
	passed := 0
	for _, c := range d.Checks {
		if c.Passed {
			passed++
		}
	}
	return fmt.Sprintf("%d/%d held", passed, len(d.Checks))
}

// Properties implements result.Detail: "assert.N" = "passed: <expr> (...)".
func (d *AssertDetail) Properties() []result.Property {
	var props []result.Property
	for i, c := range d.Checks {
		props = append(props, result.Property{Name: "assert." + strconv.Itoa(i+1), Value: checkText(c)})
	}
	return props
}

// checkAll evaluates every assertion and records what each read. The error
// lists every failed one with the values it read, in the order they appear:
//
//	assertion failed: p90 < duration("30s"): p90 = 47.2s
//	2 assertions failed: <expr>: <name> = <value>, ...; <expr>: ...
//
// It is the one assertion check of the runner (assert, timeProbe).
func checkAll(progs []*eval.Program, vals eval.Values) ([]result.Check, error) {
	checks := []result.Check{}
	var failed []string
	for _, p := range progs {
		r := result.Check{Expr: strings.TrimSpace(p.Source), Values: map[string]string{}}
		var shown []string
		for _, name := range p.Names() {
			v, ok := vals[name]
			if !ok {
				continue
			}
			r.Values[name] = formatProbeValue(v)
			shown = append(shown, name+" = "+r.Values[name])
		}
		ok, err := p.Bool(vals)
		r.Passed = ok && err == nil
		checks = append(checks, r)
		if r.Passed {
			continue
		}
		msg := r.Expr
		if len(shown) > 0 {
			msg += ": " + strings.Join(shown, ", ")
		}
		if err != nil {
			if inner := errors.Unwrap(err); inner != nil {
				err = inner
			}
			first, _, _ := strings.Cut(err.Error(), "\n")
			msg += " (error: " + first + ")"
		}
		failed = append(failed, msg)
	}
	switch len(failed) {
	case 0:
		return checks, nil
	case 1:
		return checks, fmt.Errorf("assertion failed: %s", failed[0])
	}
	return checks, fmt.Errorf("%d assertions failed: %s", len(failed), strings.Join(failed, "; "))
}
