package report

import (
	"math"
	"strings"
	"testing"
	"time"

	"github.com/scenario-runner/runner/result"
)

func TestMannWhitneyGreater(t *testing.T) {
	cases := []struct {
		name string
		x, y []float64
		want float64
	}{
		{"all larger, 5 and 5: 1/252", []float64{1, 2, 3, 4, 5}, []float64{6, 7, 8, 9, 10}, 1.0 / 252},
		{"all smaller", []float64{6, 7, 8, 9, 10}, []float64{1, 2, 3, 4, 5}, 1},
		{"interleaved", []float64{1, 3, 5, 7, 9}, []float64{2, 4, 6, 8, 10}, 0.3452},
		{"one each", []float64{1}, []float64{2}, 0.5},
		{"empty", nil, []float64{1}, 1},
		// Ties: the normal approximation; all equal is no evidence.
		{"all equal", []float64{1, 1, 1, 1, 1}, []float64{1, 1, 1, 1, 1}, 0.5},
	}
	for _, tc := range cases {
		got := MannWhitneyGreater(tc.x, tc.y)
		if math.Abs(got-tc.want) > 5e-4 && !(tc.name == "all equal" && got >= 0.5) {
			t.Errorf("%s: p = %.5f, want %.5f", tc.name, got, tc.want)
		}
	}
	// Large samples use the normal approximation: a clear shift is found.
	var x, y []float64
	for i := range 40 {
		x = append(x, 1+float64(i%7)*0.01)
		y = append(y, 1.2+float64(i%5)*0.01)
	}
	if p := MannWhitneyGreater(x, y); p > 1e-6 {
		t.Errorf("40 vs 40 shifted: p = %g", p)
	}
}

// plan builds a report plan with a plan duration, one step and a step
// whose detail carries samples.
func cmpPlan(id string, outcome result.Outcome, dur, step float64, samples ...float64) Plan {
	t0 := time.Date(2026, 12, 6, 3, 0, 0, 0, time.UTC)
	end := t0.Add(time.Duration(step * float64(time.Second)))
	p := Plan{ID: id, Name: id, Outcome: outcome, DurationSeconds: dur, Steps: []Step{
		{Name: "wait", Kind: "waitFor", Outcome: result.Passed, Start: &t0, End: &end, DurationSeconds: step},
	}}
	if len(samples) > 0 {
		stats := map[string]float64{"p50": median(samples), "max": samples[len(samples)-1], "min": samples[0]}
		p.Steps = append(p.Steps, Step{Name: "attach", Kind: "timeProbe", Outcome: result.Passed, Start: &t0, End: &end,
			Detail: map[string]any{"statsSeconds": stats, "samplesSeconds": samples}})
	}
	return p
}

func median(s []float64) float64 { return s[len(s)/2] }

func TestCompare(t *testing.T) {
	base := &Report{Plans: []Plan{
		cmpPlan("steady", result.Passed, 10, 1, 1.0, 1.1, 1.2, 1.3, 1.4),
		cmpPlan("slower", result.Passed, 10, 1, 1.0, 1.1, 1.2, 1.3, 1.4),
		cmpPlan("noisy", result.Passed, 10, 1, 1.0, 1.1, 1.2, 1.3, 1.4),
		cmpPlan("small", result.Passed, 0.1, 0.01),
		cmpPlan("breaks", result.Passed, 10, 1),
		cmpPlan("fixed", result.Failed, 10, 1),
		cmpPlan("gone", result.Passed, 10, 1),
		cmpPlan("step-slower", result.Passed, 10, 1),
		cmpPlan("faster", result.Passed, 10, 5),
	}}
	cur := &Report{Plans: []Plan{
		cmpPlan("steady", result.Passed, 10.5, 1.1, 1.05, 1.1, 1.2, 1.25, 1.4),
		cmpPlan("slower", result.Passed, 10, 1, 2.0, 2.1, 2.2, 2.3, 2.4),
		// p50 up by 40%, but the samples overlap: noise.
		cmpPlan("noisy", result.Passed, 10, 1, 0.9, 1.0, 1.68, 1.7, 1.75),
		// 10x slower, but by less than 50ms.
		cmpPlan("small", result.Passed, 0.1, 0.04),
		cmpPlan("breaks", result.TimedOut, 10, 1),
		cmpPlan("fixed", result.Passed, 10, 1),
		cmpPlan("step-slower", result.Passed, 10, 1.5),
		cmpPlan("faster", result.Passed, 10, 1),
		cmpPlan("new", result.Passed, 10, 1),
	}}
	c := Compare(Input{File: "base.json", Report: base}, Input{File: "cur.json", Report: cur}, DefaultCompareOptions())
	want := map[string]string{
		"steady": StatusSame, "slower": StatusRegressed, "noisy": StatusSame, "small": StatusSame,
		"breaks": StatusNewlyFailing, "fixed": StatusFixed, "gone": StatusMissing, "step-slower": StatusRegressed,
		"faster": StatusSame, "new": StatusNew,
	}
	for _, cd := range c.Cells {
		if cd.Status != want[cd.ID] {
			t.Errorf("%s: %s, want %s (%+v)", cd.ID, cd.Status, want[cd.ID], cd.Metrics)
		}
		delete(want, cd.ID)
	}
	if len(want) > 0 {
		t.Errorf("cells not compared: %v", want)
	}
	if !c.Failed() || c.NewlyFailing != 1 || c.Regressions != 3 {
		t.Errorf("failed %v, newly failing %d, regressions %d", c.Failed(), c.NewlyFailing, c.Regressions)
	}
	verdict := func(id, metric string) MetricDiff {
		for _, cd := range c.Cells {
			for _, m := range cd.Metrics {
				if cd.ID == id && m.Name == metric {
					return m
				}
			}
		}
		t.Fatalf("%s: no metric %q", id, metric)
		return MetricDiff{}
	}
	if m := verdict("noisy", "attach p50"); m.Verdict != VerdictNoise || m.PValue == nil || *m.PValue < 0.05 {
		t.Errorf("noisy p50: %+v", m)
	}
	if m := verdict("slower", "attach p50"); m.Verdict != VerdictRegressed || m.PValue == nil || *m.PValue > 0.01 {
		t.Errorf("slower p50: %+v", m)
	}
	if m := verdict("step-slower", "step wait"); m.Verdict != VerdictRegressed || m.PValue != nil {
		t.Errorf("step wait: %+v", m)
	}
	if m := verdict("faster", "step wait"); m.Verdict != VerdictImproved {
		t.Errorf("faster: %+v", m)
	}
	// Thresholds: 60% allowed hides the 50% slower step, and 1s of delta
	// every regression here.
	o := DefaultCompareOptions()
	o.MaxSlowdown = 0.6
	c = Compare(Input{Report: base}, Input{Report: cur}, o)
	for _, cd := range c.Cells {
		if cd.ID == "step-slower" && cd.Status != StatusSame {
			t.Errorf("--max-slowdown 60%%: step-slower %s", cd.Status)
		}
	}
	o = DefaultCompareOptions()
	o.MinDelta = 2 * time.Second
	if c = Compare(Input{Report: base}, Input{Report: cur}, o); c.Regressions != 0 || !c.Failed() {
		t.Errorf("--min-delta 2s: %d regressions, failed %v", c.Regressions, c.Failed())
	}
}

func TestCompareNamesTheNewError(t *testing.T) {
	b := cmpPlan("x", result.Passed, 1, 1)
	c := cmpPlan("x", result.TimedOut, 1, 1)
	c.Error = "step \"attach\": step timeout of 10m reached\nnot satisfied: ..."
	cmp := Compare(Input{Report: &Report{Plans: []Plan{b}}}, Input{Report: &Report{Plans: []Plan{c}}}, DefaultCompareOptions())
	if cmp.Cells[0].Error != `step "attach": step timeout of 10m reached` {
		t.Errorf("error %q", cmp.Cells[0].Error)
	}
	var text strings.Builder
	_ = cmp.WriteText(&text)
	if !strings.Contains(text.String(), "  error: step \"attach\": step timeout of 10m reached\n") {
		t.Errorf("text:\n%s", text.String())
	}
}

func TestCompareVarsChanged(t *testing.T) {
	b := cmpPlan("x", result.Passed, 1, 1)
	b.Vars = map[string]any{"replicas": float64(25), "budget": "60s"}
	c := cmpPlan("x", result.Passed, 1, 1)
	c.Vars = map[string]any{"replicas": float64(8), "budget": "60s", "extra": true}
	cmp := Compare(Input{Report: &Report{Plans: []Plan{b}}}, Input{Report: &Report{Plans: []Plan{c}}}, DefaultCompareOptions())
	want := []string{"replicas: 25 → 8", "extra: (none) → true"}
	if got := cmp.Cells[0].VarsChanged; strings.Join(got, ";") != strings.Join(want, ";") {
		t.Errorf("got %q, want %q", got, want)
	}
}
