package report

import (
	"time"

	"github.com/scenario-runner/runner/engine"
)

// t0 is the fixture's start: fixed, so outputs are the same on every run.
var t0 = time.Date(2026, 3, 14, 9, 26, 53, 0, time.UTC)

func at(s float64) time.Time { return t0.Add(time.Duration(s * float64(time.Second))) }

func step(name, kind string, from, to float64, out engine.Outcome) *engine.StepResult {
	return &engine.StepResult{Name: name, Kind: kind, Pos: "plan.yaml:1:3", Start: at(from), End: at(to), Outcome: out}
}

// fixture is two plan runs: one that fails in a waitFor after a passing
// apply, a wait with progress and a timeProbe with two nested steps (one
// step skipped, cleanup with an error), and one that passes.
func fixture() []*engine.Result {
	apply := step("create config maps", "apply", 0.1, 2.1, engine.Passed)
	apply.Apply = &engine.ApplyResult{Objects: 250, Created: 250}
	for i := 1; i <= 5; i++ {
		apply.Progress = append(apply.Progress, engine.Progress{Time: at(0.1 + 0.4*float64(i)), Done: 50 * i, Total: 250, Unit: "applied"})
	}
	wait := step("every config map is done", "waitFor", 2.1, 14.6, engine.Passed)
	wait.Wait = &engine.WaitResult{Matched: 250, Satisfied: 250, Needed: 250, Quantifer: "all"}
	for i, sat := range []int{0, 40, 120, 242, 250} {
		wait.Progress = append(wait.Progress, engine.Progress{Time: at(2.2 + 3*float64(i)), Done: sat, Total: 250, Unit: "satisfied", Matched: 250})
	}
	probe := step("timeProbe create-and-attach", "timeProbe", 14.6, 18.2, engine.Passed)
	probe.Steps = []*engine.StepResult{
		step("apply Volume bi-scalability-probe", "apply", 14.6, 14.7, engine.Passed),
		step("the volume is attached", "waitFor", 14.7, 18.2, engine.Passed),
	}
	probe.Probe = &engine.ProbeResult{
		Name:    "create-and-attach",
		Samples: []time.Duration{3600 * time.Millisecond},
		Stats:   map[string]string{"runs": "1", "duration": "3.6s", "min": "3.6s", "max": "3.6s", "mean": "3.6s", "p50": "3.6s", "p90": "3.6s", "p99": "3.6s"},
		Assertions: []engine.AssertionResult{
			{Expr: "duration < duration(attachBudget)", Passed: true, Values: map[string]string{"duration": "3.6s", "attachBudget": `"60s"`}},
		},
	}
	failed := step("every pod is Running", "waitFor", 18.2, 20.2, engine.TimedOut)
	failed.Error = "step timeout of 2s reached: waiting for Pod in default with labels app=web: 3 matched, 1 satisfied, need all 3\nnot satisfied: pod/web-1: status.phase = \"Pending\""
	failed.Wait = &engine.WaitResult{Matched: 3, Satisfied: 1, Needed: 3, Quantifer: "all", Unmet: []string{`pod/web-1: status.phase = "Pending"`, `pod/web-2: status.phase = "Pending"`}}
	failed.Progress = []engine.Progress{{Time: at(18.3), Done: 1, Total: 3, Unit: "satisfied", Matched: 3}}
	skipped := &engine.StepResult{Name: "timeProbe delete-volume", Kind: "timeProbe", Pos: "plan.yaml:40:5", Outcome: engine.Skipped}

	first := &engine.Result{
		Name: "bi-scalability", File: "scenarios/bi-scalability.yaml",
		Vars:  map[string]any{"replicas": 3, "attachBudget": "60s", "labels": map[string]any{"app": "web"}},
		Start: t0, End: at(21.5), Outcome: engine.TimedOut, Server: "v1.33.1",
		Error: `step "every pod is Running": ` + failed.Error,
		Steps: []*engine.StepResult{apply, wait, probe, failed, skipped},
		Cleanup: &engine.CleanupResult{
			Policy: engine.CleanupAlways, Ran: true, Start: at(20.2), End: at(21.5),
			Deleted: []engine.ObjectRef{{APIVersion: "v1", Kind: "ConfigMap", Namespace: "default", Name: "cm-1"}},
			Left:    []engine.ObjectRef{{APIVersion: "v1", Kind: "ConfigMap", Namespace: "default", Name: "cm-2"}},
			Errors:  []string{`deleting ConfigMap/default/cm-2: forbidden`},
		},
	}
	sleep := step("sleep 1s", "sleep", 21.6, 22.6, engine.Passed)
	second := &engine.Result{
		Name: "smoke", File: "scenarios/smoke.yaml", Vars: map[string]any{},
		Start: at(21.5), End: at(22.7), Outcome: engine.Passed, Server: "v1.33.1",
		Steps:   []*engine.StepResult{sleep},
		Cleanup: &engine.CleanupResult{Policy: engine.CleanupOnSuccess, Ran: true, Start: at(22.6), End: at(22.7)},
	}
	return []*engine.Result{first, second}
}

func fixtureReport() *Report {
	return New(fixture(), Meta{
		RunnerVersion: "v0.1.0-test", ClusterHost: "https://127.0.0.1:6443", ClusterContext: "sim",
		Args: []string{"--set", "replicas=3", "scenarios/bi-scalability.yaml", "scenarios/smoke.yaml"}, Generated: at(23),
	})
}
