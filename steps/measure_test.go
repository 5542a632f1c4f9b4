package steps

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/scenario-runner/runner/engine"
	"github.com/scenario-runner/runner/result"
)

// A measure samples during the probe's runs, keeps each series, reports
// an absent query as absent, and its assertions pass or fail with the
// values they read.
func TestTimeProbeMeasure(t *testing.T) {
	t.Parallel()
	// Each manager's replica queue grows by one per scrape.
	c := newManagersCluster(t, func(pod string, n int) (string, error) {
		return fmt.Sprintf("longhorn_workqueue_depth{name=\"longhorn-replica\"} %d\nlonghorn_workqueue_retries_total{name=\"longhorn-replica\"} %d\n", n, 10*n), nil
	}, "node-1", "node-2")
	res := runYAML(t.Context(), t, c, `name: m
steps:
- timeProbe:
    name: attach
    repeat: 2
    steps: [{sleep: 300ms}]
    measure:
      `+managersSource+`
      every: 100ms
      queries:
        depth: longhorn_workqueue_depth{name="longhorn-replica"}
        total: sum(longhorn_workqueue_depth{name="longhorn-replica"})
        retryRate: sum(rate(longhorn_workqueue_retries_total[1s]))
        engines: longhorn_engine_state
      assert:
      - depth.series == 2 && total.max >= 2 * depth.first
      - retryRate.max > 0 && retryRate.max < 1000
      - total.max < 3
      - engines.max < 1
`)
	if res.Outcome != result.Failed {
		t.Fatalf("outcome %s: %s", res.Outcome, res.Error)
	}
	if !strings.Contains(res.Error, "measure: 2 assertions failed: total.max < 3: total = {min 0, max ") ||
		!strings.Contains(res.Error, "engines.max < 1: engines = absent") {
		t.Errorf("error: %s", res.Error)
	}
	p := res.Steps[0].Detail.(*ProbeDetail)
	rec := p.Measure
	if rec == nil || rec.Reads < 6 {
		t.Fatalf("record %+v: want at least 6 reads in 600ms at 100ms", rec)
	}
	byName := map[string]int{}
	for i, m := range rec.Measured {
		byName[m.Name] = i
	}
	depth := rec.Measured[byName["depth"]]
	if depth.Absent || len(depth.Series) != 2 || depth.Series[0].Labels["pod"] != "longhorn-manager-node-1" {
		t.Errorf("depth: %+v", depth)
	}
	if s := depth.Series[1]; s.Min != 0 || s.Max != s.Last || len(s.Points) != rec.Reads {
		t.Errorf("depth on node-2: min %v max %v last %v, %d points for %d reads", s.Min, s.Max, s.Last, len(s.Points), rec.Reads)
	}
	if e := rec.Measured[byName["engines"]]; !e.Absent || len(e.Series) != 0 {
		t.Errorf("engines: %+v, want absent", e)
	}
	checks := p.MeasureAssertions
	if len(checks) != 4 || !checks[0].Passed || !checks[1].Passed || checks[2].Passed || checks[3].Passed {
		t.Errorf("assertions %+v", checks)
	}
	sec := p.Section()
	checked := 0
	defer func() {
		if checked != 2 {
			t.Errorf("checked %d plots, want the engines' and the depth's", checked)
		}
	}()
	if len(sec.Plots) != 4 {
		t.Fatalf("plots %d, want one per query", len(sec.Plots))
	}
	for _, pl := range sec.Plots {
		switch pl.Title {
		case "measured engines: absent":
			checked++
			if pl.Empty != "absent: no series matched" || len(pl.Lines) != 0 {
				t.Errorf("engines plot %+v", pl)
			}
		default:
			if !strings.HasPrefix(pl.Title, "measured depth: min 0, max ") {
				continue
			}
			checked++
			if len(pl.Lines) != 2 || pl.Lines[0].Label != "pod=longhorn-manager-node-1" {
				t.Errorf("depth plot lines %+v", pl.Lines)
			}
		}
	}
	if got := p.Summary(); !strings.Contains(got, "measured depth max ") || !strings.Contains(got, "engines absent") {
		t.Errorf("summary %q", got)
	}
}

// A measure whose source cannot be read fails nothing by itself: the probe
// passes and the record says why nothing was read.
func TestTimeProbeMeasureNeverFailsUnlessAsserted(t *testing.T) {
	t.Parallel()
	c := newManagersCluster(t, func(string, int) (string, error) {
		return "", fmt.Errorf(`pods "x" is forbidden: cannot get resource "pods/proxy"`)
	}, "node-1")
	res := runYAML(t.Context(), t, c, `name: m
steps:
- timeProbe:
    name: p
    steps: [{sleep: 300ms}]
    measure:
      `+managersSource+`
      every: 100ms
      queries: {depth: longhorn_workqueue_depth}
`)
	if res.Outcome != result.Passed {
		t.Fatalf("outcome %s: %s", res.Outcome, res.Error)
	}
	rec := res.Steps[0].Detail.(*ProbeDetail).Measure
	if rec.Reads != 0 || rec.FailedReads < 2 || !strings.Contains(strings.Join(rec.Errors, ""), "pods/proxy") || !rec.Measured[0].Absent {
		t.Errorf("record %+v", rec)
	}
	if pl := res.Steps[0].Detail.(*ProbeDetail).Section().Plots[0]; !strings.HasPrefix(pl.Empty, "absent: no pod could be scraped") {
		t.Errorf("plot says %q", pl.Empty)
	}
}

// A measure at plan level samples while the plan's steps run; its record
// is a result step of its own after them, and its failed assertion fails
// the plan; a measure step samples while its nested steps run.
func TestPlanLevelMeasure(t *testing.T) {
	t.Parallel()
	c := newManagersCluster(t, func(pod string, n int) (string, error) {
		return fmt.Sprintf("longhorn_workqueue_depth{name=\"longhorn-replica\"} %d\n", n), nil
	}, "node-1")
	res := runYAML(t.Context(), t, c, `name: m
measure:
  `+managersSource+`
  every: 100ms
  queries:
    depth: sum(longhorn_workqueue_depth{name="longhorn-replica"})
  assert:
  - depth.max < limit
vars: {limit: 1}
steps:
- sleep: 300ms
- measure:
    `+managersSource+`
    every: 100ms
    queries: {inner: sum(longhorn_workqueue_depth)}
    assert: [inner.samples >= 3, inner.max > inner.first]
    steps: [{sleep: 300ms}]
`)
	if res.Outcome != result.Failed || !strings.HasPrefix(res.Error, "measure depth (plan): measure: assertion failed: depth.max < limit: depth = {min 0, max ") {
		t.Fatalf("outcome %s: %s", res.Outcome, res.Error)
	}
	if len(res.Steps) != 3 || res.Steps[1].Outcome != result.Passed || res.Steps[2].Name != "measure depth (plan)" || res.Steps[2].Outcome != result.Failed {
		for _, s := range res.Steps {
			t.Logf("step %s: %s %s", s.Name, s.Outcome, s.Error)
		}
		t.Fatal("want the two steps, the inner measure passing, then the plan's measure failing")
	}
	d := res.Steps[2].Detail.(*MeasureDetail)
	if d.Measure == nil || d.Measure.Reads < 4 || d.Section().Group != "Measurements" || len(d.Section().Plots) != 1 {
		t.Errorf("plan measure detail %+v", d)
	}
	if got := res.Steps[2].Duration(); got < 600*time.Millisecond {
		t.Errorf("the plan's measure lasted %v, want the steps' 600ms", got)
	}
}

func TestMeasureLoadErrors(t *testing.T) {
	t.Parallel()
	tests := []struct{ plan, want string }{
		{"name: m\nmeasure:\n  " + managersSource + "\n  queries: {a: up}\n  steps: [{sleep: 1s}]\nsteps: [{sleep: 1s}]\n",
			"a measure at plan level samples while the plan's steps run: it has no steps of its own"},
		{"name: m\nsteps:\n- measure:\n    " + managersSource + "\n    queries: {a: up}\n",
			"a measure step needs steps to measure"},
		{"name: m\nsteps:\n- timeProbe:\n    name: p\n    steps: [{sleep: 1s}]\n    measure:\n      " + managersSource + "\n      queries: {a: 'rate(up)'}\n",
			`query a: 1:6: parse error: expected type range vector in call to function "rate", got instant vector`},
		{"name: m\nsteps:\n- timeProbe:\n    name: p\n    steps: [{sleep: 1s}]\n    measure:\n      " + managersSource + "\n      every: 10ms\n      queries: {a: up}\n      assert: [a.maximum > 1]\n",
			"measure.every must be at least 100ms"},
		{"name: m\nsteps:\n- timeProbe:\n    name: p\n    steps: [{sleep: 1s}]\n    measure:\n      " + managersSource + "\n      queries: {a: up}\n      assert: [a.maximum > 1]\n",
			"unknown field maximum"},
	}
	for _, tt := range tests {
		_, err := engine.LoadBytes("plan.yaml", []byte(tt.plan), engine.LoadOptions{Registry: Kinds()})
		var inv *engine.InvalidError
		if !errors.As(err, &inv) || !strings.Contains(inv.Render(), tt.want) {
			t.Errorf("%s: error %v, want one containing %q", tt.plan, err, tt.want)
		}
	}
}
