package steps

import (
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/scenario-runner/runner/engine"
	"github.com/scenario-runner/runner/result"
)

func TestProbeStats(t *testing.T) {
	ms := func(v ...int) []time.Duration {
		out := make([]time.Duration, len(v))
		for i, x := range v {
			out[i] = time.Duration(x) * time.Millisecond
		}
		return out
	}
	tests := []struct {
		samples                          []time.Duration
		min, max, mean, p50, p90, p99, d time.Duration
	}{
		{ms(30, 10, 50, 20, 40), 10, 50, 30, 30, 50, 50, 40},
		{ms(7), 7, 7, 7, 7, 7, 7, 7},
		{ms(1, 2, 3, 4, 5, 6, 7, 8, 9, 10), 1, 10, 5, 5, 9, 10, 10},
	}
	for _, tt := range tests {
		s := probeStats(tt.samples)
		got := []time.Duration{s["min"], s["max"], s["mean"], s["p50"], s["p90"], s["p99"], s["duration"]}
		want := ms()
		for _, v := range []time.Duration{tt.min, tt.max, tt.mean, tt.p50, tt.p90, tt.p99, tt.d} {
			want = append(want, v*time.Millisecond)
		}
		if tt.mean == 5 { // 5.5ms
			want[2] = 5500 * time.Microsecond
		}
		if !slices.Equal(got, want) {
			t.Errorf("probeStats(%v) = min, max, mean, p50, p90, p99, duration %v, want %v", tt.samples, got, want)
		}
	}
}

func TestTimeProbe(t *testing.T) {
	t.Parallel()
	res := runYAML(t.Context(), t, newFakeCluster(t), `name: t
vars:
  limit: 1h
steps:
- timeProbe:
    name: nap
    repeat: 5
    steps:
    - sleep: 10ms
    - sleep: 5ms
    assert:
    - min >= duration("15ms")
    - p90 < duration("1ms")
    - max > duration(limit) && len(samples) == 5
`)
	if res.Outcome != result.Failed {
		t.Fatalf("outcome %s: %s", res.Outcome, res.Error)
	}
	want := regexp.MustCompile(`^step "timeProbe nap": 2 assertions failed: p90 < duration\("1ms"\): p90 = [0-9.]+ms; ` +
		`max > duration\(limit\) && len\(samples\) == 5: max = [0-9.]+ms, limit = "1h", samples = \[([0-9.]+ms ){4}[0-9.]+ms\]$`)
	if !want.MatchString(res.Error) {
		t.Errorf("error: %s", res.Error)
	}
	sr := res.Steps[0]
	p := sr.Detail.(*ProbeDetail)
	if p == nil || p.Name != "nap" || len(p.samples) != 5 {
		t.Fatalf("probe %+v", p)
	}
	for i, s := range p.samples {
		if s < 15*time.Millisecond {
			t.Errorf("sample %d is %s, shorter than the steps", i, s)
		}
	}
	if p.Runs != 5 {
		t.Errorf("runs = %d, want 5", p.Runs)
	}
	for _, k := range []string{"min", "max", "mean", "p50", "p90", "p99", "duration"} {
		if p.StatsSeconds[k] <= 0 {
			t.Errorf("no %s in stats %v", k, p.StatsSeconds)
		}
	}
	if len(p.Assertions) != 3 || !p.Assertions[0].Passed || p.Assertions[1].Passed || p.Assertions[2].Passed {
		t.Errorf("assertions %+v", p.Assertions)
	}
	if p.Assertions[0].Values["min"] == "" {
		t.Errorf("assertion values %v", p.Assertions[0].Values)
	}
	if len(sr.Steps) != 10 || sr.Steps[0].Name != "sleep 10ms" || sr.Steps[9].Outcome != result.Passed {
		t.Errorf("nested results: %d, first %+v", len(sr.Steps), sr.Steps[0])
	}
}

func TestTimeProbePasses(t *testing.T) {
	t.Parallel()
	res := runYAML(t.Context(), t, newFakeCluster(t, pods("a=Running")...), `name: t
steps:
- timeProbe:
    name: ready
    repeat: ${{ 1 + 1 }}
    steps:
    - waitFor: {apiVersion: v1, kind: Pod, condition: 'object.status.phase == "Running"', outputs: {first: 'objects[0].metadata.name'}}
    assert:
    - duration < duration("5s") && first == "a"
- waitFor: {apiVersion: v1, kind: Pod, name: '${{ first }}', condition: 'true'}
`)
	if res.Outcome != result.Passed {
		t.Fatalf("outcome %s: %s", res.Outcome, res.Error)
	}
	if n := len(res.Steps[0].Detail.(*ProbeDetail).samples); n != 2 {
		t.Errorf("%d samples, want 2", n)
	}
}

func TestTimeProbeNestedFailure(t *testing.T) {
	t.Parallel()
	res := runYAML(t.Context(), t, newFakeCluster(t, pods("a=Pending")...), `name: t
steps:
- timeProbe:
    name: ready
    repeat: 3
    steps:
    - timeout: 100ms
      waitFor: {apiVersion: v1, kind: Pod, condition: 'object.status.phase == "Running"'}
    assert:
    - p90 < duration("1s")
`)
	if res.Outcome != result.TimedOut && res.Outcome != result.Failed {
		t.Fatalf("outcome %s: %s", res.Outcome, res.Error)
	}
	want := `step "timeProbe ready": run 1 of 3: step "waitFor Pod": waiting for Pod in default: 1 matched, 0 satisfied`
	if !strings.HasPrefix(res.Error, want) {
		t.Errorf("error: %s\nwant prefix: %s", res.Error, want)
	}
	if p := res.Steps[0].Detail.(*ProbeDetail); len(p.Assertions) != 0 || len(p.samples) != 0 {
		t.Errorf("probe %+v", p)
	}
}

func TestTimeProbeInvalid(t *testing.T) {
	t.Parallel()
	tests := []struct{ body, want string }{
		{"repeat: 0\nsteps: [{sleep: 1s}]", "repeat must be at least 1"},
		{"steps: [{sleep: 1s}]\nassert: [p95 < max]", "unknown name p95"},
		{"steps: [{sleep: 1s}]\nassert: [p90]", "bool"},
		{"steps: [{sleep: nap}]", "expected a duration"},
		{"name: ''\nsteps: []", "timeProbe needs a name"},
		{"steps: []", "has no steps to time"},
	}
	for _, tt := range tests {
		body := tt.body
		if !strings.HasPrefix(body, "name:") {
			body = "name: p\n" + body
		}
		plan := "name: t\nsteps:\n- timeProbe:\n" + indent(body, "    ")
		_, err := engine.LoadBytes("plan.yaml", []byte(plan), engine.LoadOptions{Registry: Kinds()})
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%q: error %v, want it to contain %q", tt.body, err, tt.want)
		}
	}
}

// TestNestedProbeAggregates: a timeProbe inside a repeated one adds its
// samples over every repeat, so p90 of the inner one is asserted over all.
func TestNestedProbeAggregates(t *testing.T) {
	t.Parallel()
	res := runYAML(t.Context(), t, newFakeCluster(t), `name: t
steps:
  - timeProbe:
      name: round
      repeat: 3
      steps:
        - timeProbe:
            name: detach
            repeat: 2
            steps: [{sleep: 1ms}]
            assert: [len(samples) <= 6]
      assert: [len(samples) == 3]
`)
	if res.Outcome != result.Passed {
		t.Fatalf("outcome %s: %s", res.Outcome, res.Error)
	}
	outer := res.Steps[0]
	if outer.Runs != 3 || len(outer.Steps) != 3 {
		t.Fatalf("outer: %d runs, %d nested results", outer.Runs, len(outer.Steps))
	}
	inner := outer.Steps[2].Detail.(*ProbeDetail)
	if inner.Runs != 6 || outer.Steps[2].Run != 3 {
		t.Errorf("inner probe has %d samples (run %d), want all 6 of the 3 rounds", inner.Runs, outer.Steps[2].Run)
	}
}
