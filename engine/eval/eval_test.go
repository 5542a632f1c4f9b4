package eval_test

import (
	"testing"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/scenario-runner/runner/engine/diag"
	"github.com/scenario-runner/runner/engine/eval"
)

func span(src string) diag.Span {
	return diag.SpanOf(diag.NewSource("t.yaml", []byte(src)), &yaml.Node{Kind: yaml.ScalarNode, Value: src, Line: 1, Column: 1})
}

func TestCompileAndRun(t *testing.T) {
	stats := map[string]any{
		"duration": 2 * time.Second, "min": time.Second, "max": 3 * time.Second,
		"p90": 3 * time.Second, "samples": []time.Duration{time.Second, 2 * time.Second, 3 * time.Second},
		"budget": "2m",
	}
	scope := eval.NewScope(stats)
	vals := eval.Values(stats)
	for _, tc := range []struct {
		src  string
		want eval.Want
		out  any
	}{
		{`duration < duration(budget)`, eval.Bool, true},
		{`duration < duration("1s")`, eval.Bool, false},
		{`min < max && max(1, 2) == 2 && min(4, 3) == 3`, eval.Bool, true},
		{`len(samples)`, eval.Int, 3},
		{`p90 <= duration("3s")`, eval.Bool, true},
		{`1..3`, eval.List, []any{1, 2, 3}},
		{`"5"`, eval.Int, 5},
		{`budget`, eval.Duration, 2 * time.Minute},
	} {
		p, err := eval.Compile(tc.src, span(tc.src), 0, scope, tc.want)
		if err != nil {
			t.Errorf("%s: %v", tc.src, err)
			continue
		}
		out, err := p.Run(vals)
		if err != nil {
			t.Errorf("%s: %v", tc.src, err)
			continue
		}
		if got, want := fmtAny(out), fmtAny(tc.out); got != want {
			t.Errorf("%s = %s, want %s", tc.src, got, want)
		}
	}
}

func fmtAny(v any) string {
	b, _ := yaml.Marshal(v)
	return string(b)
}

func TestCompileErrorsPointAtTheCharacter(t *testing.T) {
	scope := eval.NewScope(map[string]any{"n": 1})
	for _, tc := range []struct {
		src, want string
	}{
		{`n + nope`, `t.yaml:1:5: unknown name nope (known names: n)`},
		{`n +`, `t.yaml:1:3: unexpected token EOF`},
		{`n + 1`, `t.yaml:1:1: expected bool, but got int`},
	} {
		_, err := eval.Compile(tc.src, span(tc.src), 0, scope, eval.Bool)
		if err == nil || err.Error() != tc.want {
			t.Errorf("%s: got %v, want %s", tc.src, err, tc.want)
		}
	}
}

func TestAnyTypedNames(t *testing.T) {
	scope := eval.NewScope(map[string]any{"out": nil})
	p, err := eval.Compile(`out + 1`, span(`out + 1`), 0, scope, eval.Int)
	if err != nil {
		t.Fatal(err)
	}
	if v, err := p.Run(eval.Values{"out": 2}); err != nil || v != 3 {
		t.Fatalf("got %v, %v", v, err)
	}
}
