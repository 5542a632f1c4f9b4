package engine_test

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/scenario-runner/runner/engine"
	"github.com/scenario-runner/runner/result"
)

// tallySpec is a test Beside kind: as a step it does nothing; at plan
// level it counts the steps that finished while it ran, and fails when
// asked to.
type tallySpec struct {
	Fail bool `yaml:"fail"`
}

type tallyAction struct {
	fail      bool
	planLevel bool
}

func (s *tallySpec) Build(b *engine.Builder) (engine.Action, error) {
	return &tallyAction{fail: s.Fail, planLevel: b.PlanLevel()}, nil
}

func (a *tallyAction) Run(context.Context, *engine.Env) error { return nil }

func (a *tallyAction) Beside(_ context.Context, env *engine.Env) func(context.Context) error {
	if !a.planLevel {
		panic("Beside called on a tally built as a step")
	}
	return func(context.Context) error {
		if a.fail {
			return errors.New("tally failed")
		}
		return nil
	}
}

func besideRegistry() *engine.Registry {
	return engine.NewRegistry(
		engine.Kind{Name: "echo", New: func() engine.Spec { return &echoSpec{} }},
		engine.Kind{Name: "tally", New: func() engine.Spec { return &tallySpec{} }, Beside: true},
	)
}

// A Beside kind given at plan level runs along the steps: its result is a
// step of its own after them, and its error fails a plan that had passed;
// the same kind still works as a step; other kinds are not plan keys.
func TestBesideKinds(t *testing.T) {
	tests := []struct {
		name, plan  string
		wantOutcome result.Outcome
		wantSteps   []string
		wantErr     string
	}{
		{name: "passes", plan: "name: x\ntally: {}\nsteps:\n  - echo: {text: a}\n  - tally: {}\n",
			wantOutcome: result.Passed, wantSteps: []string{"echo", "tally", "tally (plan)"}},
		{name: "fails the plan", plan: "name: x\ntally: {fail: true}\nsteps:\n  - echo: {text: a}\n",
			wantOutcome: result.Failed, wantSteps: []string{"echo", "tally (plan)"}, wantErr: "tally (plan): tally failed"},
		{name: "after a failed step", plan: "name: x\ntally: {}\nsteps:\n  - echo: {text: a, check: 'false'}\n  - echo: {text: b}\n",
			wantOutcome: result.Failed, wantSteps: []string{"echo", "echo", "tally (plan)"}, wantErr: `step "echo": check failed`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := engine.LoadBytes("plan.yaml", []byte(tt.plan), engine.LoadOptions{Registry: besideRegistry()})
			if err != nil {
				t.Fatal(err)
			}
			res := engine.Run(context.Background(), p, engine.RunOptions{})
			var names []string
			for _, s := range res.Steps {
				names = append(names, s.Name)
			}
			if res.Outcome != tt.wantOutcome || strings.Join(names, ",") != strings.Join(tt.wantSteps, ",") || !strings.HasPrefix(res.Error, tt.wantErr) {
				t.Errorf("outcome %s (%s), steps %v; want %s (%s), %v", res.Outcome, res.Error, names, tt.wantOutcome, tt.wantErr, tt.wantSteps)
			}
		})
	}
	_, err := engine.LoadBytes("plan.yaml", []byte("name: x\necho: {text: a}\nsteps:\n  - echo: {text: a}\n"), engine.LoadOptions{Registry: besideRegistry()})
	var inv *engine.InvalidError
	if !errors.As(err, &inv) || !strings.Contains(inv.Render(), `unknown key "echo"`) {
		t.Errorf("a plan-level key of a kind that is not Beside: %v", err)
	}
	schema, err := engine.Schema(besideRegistry())
	var s struct {
		Properties map[string]any `json:"properties"`
	}
	if err == nil {
		err = json.Unmarshal(schema, &s)
	}
	if _, ok := s.Properties["tally"]; err != nil || !ok {
		t.Errorf("the plan's schema lacks the plan-level tally: %v", err)
	}
	if _, ok := s.Properties["echo"]; ok {
		t.Error("the plan's schema has echo, which is not Beside")
	}
}
