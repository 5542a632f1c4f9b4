package report

import (
	"fmt"
	"strconv"
	"time"

	"github.com/scenario-runner/runner/result"
)

// t0 is the fixture's start: fixed, so outputs are the same on every run.
var t0 = time.Date(2026, 3, 14, 9, 26, 53, 0, time.UTC)

func at(s float64) time.Time { return t0.Add(time.Duration(s * float64(time.Second))) }

func step(name, kind string, from, to float64, out result.Outcome) *result.Step {
	return &result.Step{Name: name, Kind: kind, Pos: "plan.yaml:1:3", Start: at(from), End: at(to), Outcome: out}
}

// The fixture's step kinds are fakes (fakeCount, fakeProbe) with details
// of their own: the report knows no real kind, and report.json's schema
// constrains only the details of the kinds it was generated with.

// fixture is two plan runs: one that fails in a waitFor after a passing
// apply, a wait with progress and a timeProbe with two nested steps (one
// step skipped, cleanup with an error), and one that passes.
// countDetail is a test kind's detail: a summary and properties.
type countDetail struct {
	Done, Of int
	Unit     string
}

func (d *countDetail) Summary() string { return fmt.Sprintf("%d/%d %s", d.Done, d.Of, d.Unit) }
func (d *countDetail) Properties() []result.Property {
	return []result.Property{{Name: d.Unit, Value: strconv.Itoa(d.Done)}, {Name: "of", Value: strconv.Itoa(d.Of)}}
}

// probeDetail is a test kind's detail with a report section and suite
// properties, shaped like a timeProbe's.
type probeDetail struct {
	Name    string
	Samples []float64
	Checks  []result.Check
	Limits  []result.Limit
	Plots   []*result.LineChart
}

func (d *probeDetail) Summary() string { return fmt.Sprintf("%d sample(s)", len(d.Samples)) }
func (d *probeDetail) Properties() []result.Property {
	return []result.Property{{Name: "runs", Value: strconv.Itoa(len(d.Samples))}, {Name: "p90", Value: result.FormatSeconds(d.Samples[0])}}
}
func (d *probeDetail) SuiteProperties() []result.Property {
	var out []result.Property
	for _, p := range d.Properties() {
		out = append(out, result.Property{Name: "probe." + d.Name + "." + p.Name, Value: p.Value})
	}
	return out
}
func (d *probeDetail) Section() *result.Section {
	c := &result.BarChart{Label: "samples of " + d.Name, Seconds: true, Limits: d.Limits, Legend: "duration of each run"}
	for i, v := range d.Samples {
		c.Bars = append(c.Bars, result.Bar{Label: strconv.Itoa(i + 1), Value: v})
	}
	return &result.Section{Group: "Time probes", Note: fmt.Sprintf("%d run(s)", len(d.Samples)), Facts: d.Properties(), Checks: d.Checks, Chart: c, Plots: d.Plots}
}

func fixture() []*result.Plan {
	apply := step("create config maps", "fakeCount", 0.1, 2.1, result.Passed)
	apply.Detail = &countDetail{Done: 250, Of: 250, Unit: "applied"}
	for i := 1; i <= 5; i++ {
		apply.Progress = append(apply.Progress, result.Progress{Time: at(0.1 + 0.4*float64(i)), Done: 50 * i, Total: 250, Unit: "applied"})
	}
	wait := step("every config map is done", "fakeCount", 2.1, 14.6, result.Passed)
	wait.Detail = &countDetail{Done: 250, Of: 250, Unit: "satisfied"}
	for i, sat := range []int{0, 40, 120, 242, 250} {
		wait.Progress = append(wait.Progress, result.Progress{Time: at(2.2 + 3*float64(i)), Done: sat, Total: 250, Unit: "satisfied", Matched: 250})
	}
	probe := step("timeProbe create-and-attach", "fakeProbe", 14.6, 18.2, result.Passed)
	probe.Steps = []*result.Step{
		step("apply Volume bi-scalability-probe", "apply", 14.6, 14.7, result.Passed),
		step("the volume is attached", "waitFor", 14.7, 18.2, result.Passed),
	}
	probe.Detail = &probeDetail{
		Name: "create-and-attach", Samples: []float64{3.6},
		Checks: []result.Check{{Expr: "duration < duration(attachBudget)", Passed: true, Values: map[string]string{"duration": "3.6s", "attachBudget": `"60s"`}}},
		Limits: []result.Limit{{Label: "duration < 1m (attachBudget)", Value: 60}},
		Plots: []*result.LineChart{
			{Title: "measured replicaQueue", Note: `longhorn_workqueue_depth{name="longhorn-replica"}`, Lines: []result.Line{
				{Label: "pod=longhorn-manager-a", Points: []result.Point{{T: 0, V: 0}, {T: 1, V: 12}, {T: 2, V: 40}, {T: 3.6, V: 3}}},
				{Label: "pod=longhorn-manager-b", Points: []result.Point{{T: 0, V: 1}, {T: 1, V: 2}, {T: 2, V: 2}, {T: 3.6, V: 0}}},
			}},
			{Title: "measured engines", Note: "longhorn_engine_state", Empty: "absent: no series matched"},
		},
	}
	failed := step("every pod is Running", "fakeCount", 18.2, 20.2, result.TimedOut)
	failed.Error = "step timeout of 2s reached: waiting for Pod in default with labels app=web: 3 matched, 1 satisfied, need all 3\nnot satisfied: pod/web-1: status.phase = \"Pending\""
	failed.Detail = &countDetail{Done: 1, Of: 3, Unit: "satisfied"}
	failed.Progress = []result.Progress{{Time: at(18.3), Done: 1, Total: 3, Unit: "satisfied", Matched: 3}}
	skipped := &result.Step{Name: "timeProbe delete-volume", Kind: "timeProbe", Pos: "plan.yaml:40:5", Outcome: result.Skipped, Skip: "an earlier step failed"}

	first := &result.Plan{
		Name: "bi-scalability", File: "scenarios/bi-scalability.yaml",
		Vars:  map[string]any{"replicas": 3, "attachBudget": "60s", "labels": map[string]any{"app": "web"}},
		Start: t0, End: at(21.5), Outcome: result.TimedOut, Server: "v1.33.1",
		Error: `step "every pod is Running": ` + failed.Error,
		Steps: []*result.Step{apply, wait, probe, failed, skipped},
		Cleanup: &result.Cleanup{
			Policy: result.CleanupAlways, Ran: true, Start: at(20.2), End: at(21.5),
			Deleted: []result.ObjectRef{{APIVersion: "v1", Kind: "ConfigMap", Namespace: "default", Name: "cm-1"}},
			Left:    []result.ObjectRef{{APIVersion: "v1", Kind: "ConfigMap", Namespace: "default", Name: "cm-2"}},
			Errors:  []string{`deleting ConfigMap/default/cm-2: forbidden`},
		},
	}
	sleep := step("sleep 1s", "sleep", 21.6, 22.6, result.Passed)
	second := &result.Plan{
		Name: "smoke", File: "scenarios/smoke.yaml", Vars: map[string]any{},
		Start: at(21.5), End: at(22.7), Outcome: result.Passed, Server: "v1.33.1",
		Steps:   []*result.Step{sleep},
		Cleanup: &result.Cleanup{Policy: result.CleanupOnSuccess, Ran: true, Start: at(22.6), End: at(22.7)},
	}
	return []*result.Plan{first, second}
}

func fixtureReport() *Report {
	return New(fixture(), Meta{
		RunnerVersion: "v0.1.0-test", ClusterHost: "https://127.0.0.1:6443", ClusterContext: "sim",
		Args: []string{"--set", "replicas=3", "scenarios/bi-scalability.yaml", "scenarios/smoke.yaml"}, Generated: at(23),
	})
}
