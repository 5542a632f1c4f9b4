package engine_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/scenario-runner/runner/engine"
	"github.com/scenario-runner/runner/engine/diag"
	"github.com/scenario-runner/runner/engine/eval"
	"github.com/scenario-runner/runner/result"
	"github.com/scenario-runner/runner/steps"
)

// echoSpec is a test step kind: it evaluates a template and records it.
type echoSpec struct {
	Text  engine.Text            `yaml:"text" required:"true"`
	Check engine.Expr            `yaml:"check"`
	N     engine.IntOrExpr       `yaml:"n"`
	Out   map[string]engine.Expr `yaml:"outputs"`
}

type echoAction struct {
	tmpl  *eval.Template
	check *eval.Program
	n     engine.IntValue
	out   map[string]*eval.Program
	got   *[]string
}

func (s *echoSpec) Build(b *engine.Builder) (engine.Action, error) {
	a := &echoAction{tmpl: b.Template(s.Text, b.Scope()), check: b.Compile(s.Check, b.Scope(), eval.Bool), n: b.Int(s.N, b.Scope()), out: map[string]*eval.Program{}}
	for k, e := range s.Out {
		a.out[k] = b.Compile(e, b.Scope(), eval.Any)
		b.Declare(k, e.Pos, false)
	}
	return a, nil
}

func (a *echoAction) Run(ctx context.Context, env *engine.Env) error {
	s, err := a.tmpl.String(env.Values())
	if err != nil {
		return err
	}
	if a.check != nil {
		ok, err := a.check.Bool(env.Values())
		if err != nil {
			return err
		}
		if !ok {
			return errors.New("check failed")
		}
	}
	for k, p := range a.out {
		v, err := p.Run(env.Values())
		if err != nil {
			return err
		}
		env.SetOutput(k, v)
	}
	if a.got != nil {
		*a.got = append(*a.got, s)
	}
	return nil
}

func registry() *engine.Registry {
	return engine.NewRegistry(engine.Kind{Name: "echo", New: func() engine.Spec { return &echoSpec{} }, Binds: []string{"object"}})
}

func load(t *testing.T, src string, ov ...engine.Override) (*engine.Plan, error) {
	t.Helper()
	return engine.LoadBytes("plan.yaml", []byte(src), engine.LoadOptions{Registry: registry(), Overrides: ov})
}

func TestLoadErrors(t *testing.T) {
	cases := []struct {
		name string
		src  string
		want []string // each a line of the error, in order
	}{
		{"missing name", "steps:\n  - echo: {text: hi}\n", []string{`plan.yaml:1:1: missing required key "name"`}},
		{"bad name", "name: Bad_Name\nsteps:\n  - echo: {text: hi}\n", []string{`plan.yaml:1:7: name must be lower-case letters, digits and dashes ([a-z0-9-]+), got "Bad_Name"`}},
		{"unknown top key", "name: x\nstep:\n  - echo: {text: hi}\n", []string{`plan.yaml:1:1: missing required key "steps"`, `plan.yaml:2:1: unknown key "step", did you mean "steps"?`}},
		{"unknown step key", "name: x\nsteps:\n  - ecoh: {text: hi}\n", []string{`plan.yaml:3:5: unknown key "ecoh", did you mean "echo"?`, `plan.yaml:3:5: a step needs one step kind key: one of echo`}},
		{"unknown kind key", "name: x\nsteps:\n  - echo: {text: hi, txet: x}\n", []string{`plan.yaml:3:22: unknown key "txet", did you mean "text"?`}},
		{"two kinds", "name: x\nsteps:\n  - echo: {text: a}\n    echo2: {}\n", []string{`plan.yaml:4:5: unknown key "echo2", did you mean "echo"?`}},
		{"bad duration", "name: x\ntimeout: 2 hours\nsteps:\n  - echo: {text: a}\n", []string{`plan.yaml:2:10: expected a duration such as 30s, 5m or 1h30m, got "2 hours"`}},
		{"wrong type", "name: x\nsteps:\n  - echo: {text: [a]}\n", []string{`plan.yaml:3:18: expected a string, got a list`}},
		{"undefined var in template", "name: x\nsteps:\n  - echo: {text: \"hi ${{ who }}\"}\n", []string{`plan.yaml:3:26: unknown name who (known names: runID)`}},
		{"not boolean", "name: x\nsteps:\n  - echo: {text: a, check: 1 + 1}\n", []string{`plan.yaml:3:28: expected bool, but got int`}},
		{"int expected", "name: x\nvars: {w: hello}\nsteps:\n  - echo: {text: a, n: \"w == 'x'\"}\n", []string{`plan.yaml:4:25: expected an integer, but "w == 'x'" is of type bool`}},
		{"output used before set", "name: x\nsteps:\n  - echo: {text: \"${{ later }}\"}\n  - echo: {text: a, outputs: {later: \"1\"}}\n", []string{`plan.yaml:3:23: unknown name later (known names: runID)`}},
		{"reserved var", "name: x\nvars: {object: 1}\nsteps:\n  - echo: {text: a}\n", []string{`plan.yaml:2:8: variable name "object" is reserved (it names a value the runner provides)`}},
		{"empty steps", "name: x\nsteps: []\n", []string{`plan.yaml:2:8: a plan needs at least one step`}},
		{"unterminated", "name: x\nsteps:\n  - echo: {text: \"a ${{ b\"}\n", []string{`plan.yaml:3:21: unterminated ${{: expected }}`}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := load(t, tc.src)
			if err == nil {
				t.Fatal("want an error")
			}
			if !errors.Is(err, engine.ErrInvalid) {
				t.Errorf("error is not ErrInvalid: %v", err)
			}
			var got []string
			for _, e := range diag.Flatten(err.(*engine.InvalidError).Errs) {
				got = append(got, e.Error())
			}
			if strings.Join(got, "\n") != strings.Join(tc.want, "\n") {
				t.Errorf("errors:\n got: %q\nwant: %q", got, tc.want)
			}
		})
	}
}

// TestBlockScalarPositions checks that an error inside ${{ }} in a block
// scalar points at the character in the file.
func TestBlockScalarPositions(t *testing.T) {
	src := "name: x\nsteps:\n  - echo:\n      text: |\n        line one\n        two ${{ nope }}\n"
	_, err := load(t, src)
	if err == nil {
		t.Fatal("want an error")
	}
	r := err.(*engine.InvalidError).Render()
	want := "plan.yaml:6:17: unknown name nope (known names: runID)\n          two ${{ nope }}\n                  ^\n"
	if r != want {
		t.Errorf("render:\n%s\nwant:\n%s", r, want)
	}
}

func TestOverridesAndTypes(t *testing.T) {
	p, err := load(t, "name: x\nvars: {n: 2, who: a}\nsteps:\n  - echo: {text: \"${{ who }}-${{ n * 2 }}\", n: n}\n",
		engine.Override{Name: "n", Value: 5, Origin: "--set n=5"}, engine.Override{Name: "who", Value: "b", Origin: "--set who=b"})
	if err != nil {
		t.Fatal(err)
	}
	if p.Vars["n"] != 5 || p.Vars["who"] != "b" {
		t.Fatalf("vars: %v", p.Vars)
	}
	_, err = load(t, "name: x\nvars: {replicas: 2}\nsteps:\n  - echo: {text: a}\n", engine.Override{Name: "replica", Value: 5, Origin: "--set replica=5"})
	if err == nil || !strings.Contains(err.Error(), `--set replica=5: plan.yaml has no variable "replica", did you mean "replicas"?`) {
		t.Fatalf("want unknown-var error, got %v", err)
	}
	// --set-optional applies only where the variable exists.
	p, err = load(t, "name: x\nvars: {replicas: 2}\nsteps:\n  - echo: {text: a}\n",
		engine.Override{Name: "other", Value: 5, Origin: "--set-optional other=5", Optional: true},
		engine.Override{Name: "replicas", Value: 7, Origin: "--set-optional replicas=7", Optional: true})
	if err != nil || p.Vars["replicas"] != 7 {
		t.Fatalf("optional overrides: %v, vars %v", err, p.Vars)
	}
}

func TestTemplateKeepsType(t *testing.T) {
	scope := eval.NewScope(map[string]any{"n": 3})
	for _, tc := range []struct {
		src  string
		want any
	}{
		{"${{ n }}", 3},
		{"${{ n + 1 }}", 4},
		{"n=${{ n }}", "n=3"},
		{" ${{ n }}", " 3"},
		{"plain", "plain"},
	} {
		tmpl, err := eval.CompileTemplate(spanOf(tc.src), scope)
		if err != nil {
			t.Fatal(err)
		}
		got, err := tmpl.Eval(eval.Values{"n": 3})
		if err != nil || got != tc.want {
			t.Errorf("%q: got %#v, %v; want %#v", tc.src, got, err, tc.want)
		}
	}
}

func TestRunOutputsFlow(t *testing.T) {
	var got []string
	p, err := load(t, "name: x\nvars: {n: 2}\nsteps:\n  - echo: {text: first, outputs: {double: n * 2}}\n  - echo: {text: \"${{ double + 1 }}\", check: double == 4}\n")
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range p.Steps {
		s.Action.(*echoAction).got = &got
	}
	res := engine.Run(context.Background(), p, engine.RunOptions{})
	if res.Outcome != result.Passed {
		t.Fatalf("outcome %s: %s", res.Outcome, res.Error)
	}
	if strings.Join(got, ",") != "first,5" {
		t.Errorf("got %v", got)
	}
}

func FuzzLoad(f *testing.F) {
	seeds := []string{
		"name: x\nsteps:\n  - echo: {text: hi}\n",
		"name: x\nvars: {a: 1}\nsteps:\n  - echo:\n      text: |\n        ${{ a + 1 }}\n",
		"name: x\nsteps:\n  - echo: {text: \"${{\"}\n",
		"name: [\nsteps: {",
		"name: x\nsteps:\n  - echo: {text: a, check: 'a ?? b'}\n",
		"---\n---\n",
		"name: x\nsteps:\n  - {}\n  - echo: &a {text: a}\n  - echo: *a\n",
		"name: x\nlabels: {tier: a}\nlocks: [l]\nvars: {n: 1, s: a, f: 0.5}\nmatrix: {n: [1, 2], s: [a, b], f: [1, 2.5]}\nsteps:\n  - echo: {text: \"${{ n }}${{ runID }}\"}\n",
	}
	for _, s := range seeds {
		f.Add(s)
	}
	// The real step kinds and the test kind together.
	reg := engine.NewRegistry(append(steps.Kinds().Kinds(), engine.Kind{Name: "echo", New: func() engine.Spec { return &echoSpec{} }})...)
	hostile, _ := filepath.Glob("../testdata/hostile/*.yaml")
	for _, file := range append([]string{"../testdata/valid/everything.yaml", "../scenarios/bi-scalability.yaml", "../testdata/invalid/three-errors.yaml", "../testdata/invalid/expr-in-block.yaml"}, hostile...) {
		if data, err := os.ReadFile(file); err == nil {
			f.Add(string(data))
		}
	}
	f.Fuzz(func(t *testing.T, src string) {
		p, err := engine.LoadBytes("fuzz.yaml", []byte(src), engine.LoadOptions{Registry: reg})
		if err == nil && p == nil {
			t.Fatal("nil plan without error")
		}
		if err == nil {
			cells := p.Cells()
			n := 1
			for _, ax := range p.Matrix {
				n *= len(ax.Values)
			}
			if len(cells) != n {
				t.Fatalf("%d cells for a matrix of %d combinations", len(cells), n)
			}
		}
		if err != nil {
			if !errors.Is(err, engine.ErrInvalid) {
				t.Fatalf("error is not ErrInvalid: %v", err)
			}
			_ = err.(*engine.InvalidError).Render()
		}
	})
}

// waitSpec is a test kind that only observes.
type waitSpec struct {
	For engine.Duration `yaml:"for"`
}

type waitAction struct{ ran *bool }

func (s *waitSpec) Build(*engine.Builder) (engine.Action, error) { return &waitAction{}, nil }
func (a *waitAction) Run(context.Context, *engine.Env) error {
	if a.ran != nil {
		*a.ran = true
	}
	return nil
}
func (*waitAction) Observing() bool { return true }

func TestDryRunSkipsObservingSteps(t *testing.T) {
	reg := engine.NewRegistry(
		engine.Kind{Name: "echo", New: func() engine.Spec { return &echoSpec{} }},
		engine.Kind{Name: "wait", New: func() engine.Spec { return &waitSpec{} }},
	)
	p, err := engine.LoadBytes("plan.yaml", []byte("name: x\nsteps:\n  - echo: {text: a}\n  - wait: {for: 1s}\n"), engine.LoadOptions{Registry: reg})
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	ran := false
	p.Steps[0].Action.(*echoAction).got = &got
	p.Steps[1].Action.(*waitAction).ran = &ran
	res := engine.Run(context.Background(), p, engine.RunOptions{DryRun: true})
	if res.Outcome != result.Passed || len(got) != 1 || ran {
		t.Fatalf("outcome %s, echo ran %d times, wait ran %v", res.Outcome, len(got), ran)
	}
	if res.Steps[1].Outcome != result.Skipped {
		t.Errorf("wait step outcome %s, want skipped", res.Steps[1].Outcome)
	}
}

// makeSpec records one created object per step.
type makeSpec struct {
	Name string `yaml:"name"`
}

type makeAction struct{ name string }

func (s *makeSpec) Build(*engine.Builder) (engine.Action, error) { return &makeAction{s.Name}, nil }
func (a *makeAction) Run(_ context.Context, env *engine.Env) error {
	env.Recorder.Created(result.ObjectRef{Kind: "ConfigMap", Namespace: "default", Name: a.name})
	return nil
}

// TestAbortedCleanupListsWhatWasLeft: a second Ctrl-C (Abort) stops the
// cleanup; every object not deleted is reported as left behind, in reverse
// order of creation.
func TestAbortedCleanupListsWhatWasLeft(t *testing.T) {
	reg := engine.NewRegistry(engine.Kind{Name: "make", New: func() engine.Spec { return &makeSpec{} }})
	p, err := engine.LoadBytes("plan.yaml", []byte("name: x\nsteps:\n  - make: {name: a}\n  - make: {name: b}\n"), engine.LoadOptions{Registry: reg})
	if err != nil {
		t.Fatal(err)
	}
	abort := make(chan struct{})
	close(abort)
	res := engine.Run(context.Background(), p, engine.RunOptions{Abort: abort})
	if res.Outcome != result.Passed {
		t.Fatalf("outcome %s: %s", res.Outcome, res.Error)
	}
	var left []string
	for _, r := range res.Cleanup.Left {
		left = append(left, r.String())
	}
	if strings.Join(left, ",") != "ConfigMap/default/b,ConfigMap/default/a" || len(res.Cleanup.Deleted) != 0 {
		t.Errorf("left %v, deleted %v", left, res.Cleanup.Deleted)
	}
}
