package engine_test

import (
	"context"
	"errors"
	"reflect"
	"strings"
	"testing"

	"github.com/scenario-runner/runner/engine"
	"github.com/scenario-runner/runner/engine/diag"
)

func TestSuiteKeyErrors(t *testing.T) {
	cases := []struct {
		name string
		src  string
		want []string
	}{
		{"label not a string", "name: x\nlabels: {tier: [a]}\nsteps:\n  - echo: {text: a}\n", []string{`plan.yaml:2:16: expected a string, got a list`}},
		{"bad label key", "name: x\nlabels: {\"bad key\": a}\nsteps:\n  - echo: {text: a}\n", []string{`plan.yaml:2:10: label key "bad key": name part must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyName',  or 'my.name',  or '123-abc', regex used for validation is '([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]')`}},
		{"labels not a mapping", "name: x\nlabels: [a]\nsteps:\n  - echo: {text: a}\n", []string{`plan.yaml:2:9: expected a mapping, got a list`}},
		{"bad lock", "name: x\nlocks: [Node_Drain]\nsteps:\n  - echo: {text: a}\n", []string{`plan.yaml:2:9: lock "Node_Drain" must be lower-case letters, digits, dots and dashes`}},
		{"lock twice", "name: x\nlocks: [a, a]\nsteps:\n  - echo: {text: a}\n", []string{`plan.yaml:2:12: lock "a" is listed twice`}},
		{"matrix unknown var", "name: x\nvars: {replicas: 1}\nmatrix: {replica: [1, 2]}\nsteps:\n  - echo: {text: a}\n", []string{`plan.yaml:3:10: matrix variable "replica" is not declared in vars, did you mean "replicas"?`}},
		{"matrix undeclared", "name: x\nmatrix: {n: [1, 2]}\nsteps:\n  - echo: {text: a}\n", []string{`plan.yaml:2:10: matrix variable "n" is not declared in vars (a matrix gives values to variables the plan declares, with their defaults)`}},
		{"matrix empty list", "name: x\nvars: {n: 1}\nmatrix: {n: []}\nsteps:\n  - echo: {text: a}\n", []string{`plan.yaml:3:13: matrix.n is empty: give at least one value`}},
		{"matrix not a list", "name: x\nvars: {n: 1}\nmatrix: {n: 3}\nsteps:\n  - echo: {text: a}\n", []string{`plan.yaml:3:13: matrix.n must be a list of values, got the integer 3`}},
		{"matrix wrong type", "name: x\nvars: {n: 1}\nmatrix:\n  n: [1, five]\nsteps:\n  - echo: {text: a}\n", []string{`plan.yaml:4:10: matrix.n: n has the default 1, a integer; this value is a string`}},
		{"matrix duplicate value", "name: x\nvars: {n: 1}\nmatrix:\n  n: [1, 1]\nsteps:\n  - echo: {text: a}\n", []string{`plan.yaml:4:10: matrix.n: the value 1 is listed twice`}},
		{"matrix not a mapping", "name: x\nvars: {n: 1}\nmatrix: [n]\nsteps:\n  - echo: {text: a}\n", []string{`plan.yaml:3:9: matrix must be a mapping of variables to lists of values, got a list`}},
		{"runID reserved", "name: x\nvars: {runID: a}\nsteps:\n  - echo: {text: a}\n", []string{`plan.yaml:2:8: variable name "runID" is reserved (it names a value the runner provides)`}},
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

func TestCells(t *testing.T) {
	const src = `name: bi
labels: {tier: nightly, longhorn: ">=1.9"}
locks: [longhorn-settings]
vars: {replicas: 1, budget: 60s, ratio: 0.5}
matrix:
  replicas: [5, 25]
  budget: [30s, 1m30s]
  ratio: [1]
steps:
  - echo: {text: "${{ replicas }} ${{ budget }} ${{ ratio * 2 }}"}
`
	cases := []struct {
		name string
		ov   []engine.Override
		ids  []string
	}{
		{"all", nil, []string{
			"bi[replicas=5,budget=30s,ratio=1]", "bi[replicas=5,budget=1m30s,ratio=1]",
			"bi[replicas=25,budget=30s,ratio=1]", "bi[replicas=25,budget=1m30s,ratio=1]",
		}},
		{"pinned", []engine.Override{{Name: "replicas", Value: 7, Origin: "--set replicas=7"}}, []string{
			"bi[budget=30s,ratio=1]", "bi[budget=1m30s,ratio=1]",
		}},
		{"all pinned", []engine.Override{
			{Name: "replicas", Value: 7, Origin: "--set"}, {Name: "budget", Value: "1s", Origin: "--set"}, {Name: "ratio", Value: 2, Origin: "--set"},
		}, []string{"bi"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			p, err := load(t, src, tc.ov...)
			if err != nil {
				t.Fatal(err)
			}
			var ids []string
			for _, c := range p.Cells() {
				ids = append(ids, c.ID)
				for k, v := range c.Cell {
					if c.Vars[k] != v {
						t.Errorf("%s: vars[%s] = %v, cell %v", c.ID, k, c.Vars[k], v)
					}
				}
			}
			if !reflect.DeepEqual(ids, tc.ids) {
				t.Errorf("ids:\n got %q\nwant %q", ids, tc.ids)
			}
			if p.Labels["longhorn"] != ">=1.9" || !reflect.DeepEqual(p.Locks, []string{"longhorn-settings"}) {
				t.Errorf("labels %v, locks %v", p.Labels, p.Locks)
			}
		})
	}
	p, _ := load(t, src)
	if got := p.Cells()[0].Vars["ratio"]; got != 1.0 {
		t.Errorf("ratio of a float default is %T %v, want float64 1", got, got)
	}
	if p.Vars["replicas"] != 1 {
		t.Errorf("expanding changed the plan's own vars: %v", p.Vars)
	}
}

// TestRunIDVariable checks that plans can read the run's id and that it is
// not reported as an output.
func TestRunIDVariable(t *testing.T) {
	var got []string
	p, err := load(t, "name: x\nsteps:\n  - echo: {text: \"ns-${{ runID }}\"}\n")
	if err != nil {
		t.Fatal(err)
	}
	p.Steps[0].Action.(*echoAction).got = &got
	res := engine.Run(context.Background(), p, engine.RunOptions{RunID: "20261206-210000-abcdef", Cleanup: "never"})
	if res.Outcome != "passed" || len(got) != 1 || got[0] != "ns-20261206-210000-abcdef" {
		t.Fatalf("outcome %s %s, got %q", res.Outcome, res.Error, got)
	}
	if _, ok := res.Outputs[engine.RunIDVar]; ok {
		t.Errorf("runID is reported as an output: %v", res.Outputs)
	}
	if res.ID != "x" {
		t.Errorf("id %q", res.ID)
	}
}
