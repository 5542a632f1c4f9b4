package steps

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/scenario-runner/runner/engine"
	"github.com/scenario-runner/runner/engine/eval"
	"github.com/scenario-runner/runner/metrics"
	"github.com/scenario-runner/runner/result"
)

// TimeProbeSpec is the YAML shape of a timeProbe step: run nested steps
// repeat times, time each run, and assert on the durations.
//
// A run lasts from the start of its first step to the end of its last. The
// assertions see duration (the last run), samples (every run, in order),
// min, max, mean, and the percentiles p50, p90 and p99, all durations.
// Percentiles are nearest-rank: pN is the smallest sample that at least N%
// of the samples are less than or equal to (with 5 samples, p90 and p99 are
// the largest, p50 the third smallest).
type TimeProbeSpec struct {
	Name   string           `yaml:"name" required:"true" doc:"Name of the measurement, for reports."`
	Repeat engine.IntOrExpr `yaml:"repeat" doc:"How many times to run the steps (default 1; a number or an expression)."`
	Steps  []engine.Node    `yaml:"steps" required:"true" doc:"The steps to time, run in order, each under its own timeout."`
	Assert []engine.Expr    `yaml:"assert" doc:"Boolean expressions over duration, samples, min, max, mean, p50, p90 and p99, e.g. p90 < duration(\"30s\")."`
	// Measure samples metrics while the steps run.
	Measure *MeasureSpec `yaml:"measure" doc:"Metrics to sample while the steps run (every run), chart in the report and assert on afterwards: from pods through the API server's pod proxy, or from a Prometheus."`
}

// Describe implements engine.Describer.
func (s *TimeProbeSpec) Describe() string { return "timeProbe " + s.Name }

// probeStatNames are the statistics an assertion sees besides samples, in
// report order; duration is the last sample.
var probeStatNames = []string{"duration", "min", "p50", "mean", "p90", "p99", "max"}

// probeBinds are the names a timeProbe's assertions see.
var probeBinds = append([]string{"samples"}, probeStatNames...)

type timeProbeAction struct {
	name    string
	repeat  engine.IntValue
	steps   []*engine.Step
	asserts []*eval.Program
	// bounds are the budgets of the assertions, for the report's chart.
	bounds []eval.Bound
	// measure, when set, samples metrics during the runs.
	measure *measure
}

// ProbeDetail is a timeProbe's result: every sample, the statistics and
// the assertions with the values they read.
type ProbeDetail struct {
	Name           string             `json:"name"`
	Runs           int                `json:"runs" doc:"Samples taken."`
	SamplesSeconds []float64          `json:"samplesSeconds" doc:"Each run's duration in seconds, in order."`
	StatsSeconds   map[string]float64 `json:"statsSeconds" doc:"duration (the last sample), min, max, mean, p50, p90, p99 (nearest rank) in seconds, rounded to three significant digits as the console shows them."`
	Assertions     []result.Check     `json:"assertions"`
	Budgets        []result.Limit     `json:"budgets,omitempty" doc:"Upper limits the assertions put on a statistic (p90 < 30s), in seconds."`
	// Measure is what the probe's measure block sampled during its runs
	// (the last time the probe ran, when it is nested in a repeated one).
	Measure           *metrics.Record `json:"measure,omitempty" doc:"The metrics sampled while the steps ran: every series' samples, min, max and last; absent queries say so."`
	MeasureAssertions []result.Check  `json:"measureAssertions,omitempty" doc:"The measure block's assertions with the values they read."`

	samples []time.Duration
}

func (d *ProbeDetail) setSamples(samples []time.Duration) {
	d.samples = samples
	d.Runs = len(samples)
	d.SamplesSeconds = make([]float64, len(samples))
	for i, s := range samples {
		d.SamplesSeconds[i] = s.Seconds()
	}
	d.StatsSeconds = map[string]float64{}
	for name, v := range probeStats(samples) {
		d.StatsSeconds[name] = result.RoundDuration(v).Seconds()
	}
}

// stats lists the statistics in report order, formatted.
func (d *ProbeDetail) stats() []result.Property {
	var out []result.Property
	for _, name := range probeStatNames {
		if v, ok := d.StatsSeconds[name]; ok {
			out = append(out, result.Property{Name: name, Value: result.FormatSeconds(v)})
		}
	}
	return out
}

// Summary implements result.Detail.
func (d *ProbeDetail) Summary() string {
	var parts []string
	for _, p := range d.stats() {
		switch p.Name {
		case "min", "p50", "p90", "max":
			parts = append(parts, p.Name+" "+p.Value)
		}
	}
	out := fmt.Sprintf("%d sample(s): %s", d.Runs, strings.Join(parts, ", "))
	if d.Measure != nil {
		out += "; " + measureSummary(d.Measure)
	}
	return out
}

// Properties implements result.Detail: runs, the statistics and the
// assertions ("passed: <expr> (name = value, ...)").
func (d *ProbeDetail) Properties() []result.Property {
	props := append([]result.Property{{Name: "runs", Value: strconv.Itoa(d.Runs)}}, d.stats()...)
	for i, a := range d.Assertions {
		props = append(props, result.Property{Name: fmt.Sprintf("assert.%d", i+1), Value: checkText(a)})
	}
	if d.Measure != nil {
		for _, f := range measureFacts(d.Measure) {
			props = append(props, result.Property{Name: "measure." + f.Name, Value: f.Value})
		}
		for i, a := range d.MeasureAssertions {
			props = append(props, result.Property{Name: fmt.Sprintf("measure.assert.%d", i+1), Value: checkText(a)})
		}
	}
	return props
}

// SuiteProperties implements result.SuiteProperties: probe.<name>.<stat>.
func (d *ProbeDetail) SuiteProperties() []result.Property {
	var props []result.Property
	for _, p := range d.Properties() {
		props = append(props, result.Property{Name: "probe." + d.Name + "." + p.Name, Value: p.Value})
	}
	return props
}

// Section implements result.Sectioned: the samples against the budgets.
func (d *ProbeDetail) Section() *result.Section {
	c := &result.BarChart{
		Label: "samples of timeProbe " + d.Name, Seconds: true, Limits: d.Budgets,
		Legend: fmt.Sprintf("%d run(s), duration of each; dashed: budget", d.Runs),
	}
	for i, v := range d.SamplesSeconds {
		c.Bars = append(c.Bars, result.Bar{Label: strconv.Itoa(i + 1), Value: v})
	}
	sec := &result.Section{
		Group: "Time probes", Note: fmt.Sprintf("%d run(s)", d.Runs),
		Facts: d.stats(), Checks: d.Assertions, Chart: c,
	}
	if d.Measure != nil {
		sec.Checks = append(sec.Checks, d.MeasureAssertions...)
		sec.Plots = measurePlots(d.Measure)
	}
	return sec
}

// checkText is "passed: <expr> (a = 1s, b = 2s)" or "failed: ...".
func checkText(a result.Check) string {
	status := "failed"
	if a.Passed {
		status = "passed"
	}
	var vals []string
	for _, k := range slices.Sorted(maps.Keys(a.Values)) {
		vals = append(vals, k+" = "+a.Values[k])
	}
	s := status + ": " + a.Expr
	if len(vals) > 0 {
		s += " (" + strings.Join(vals, ", ") + ")"
	}
	return s
}

// Build implements engine.Spec.
func (s *TimeProbeSpec) Build(b *engine.Builder) (engine.Action, error) {
	a := &timeProbeAction{name: s.Name}
	if strings.TrimSpace(s.Name) == "" {
		b.Errorf(b.Here(), "timeProbe needs a name")
	}
	a.repeat = b.Int(s.Repeat, b.Scope())
	if s.Repeat.IsSet() && !s.Repeat.Expr.IsSet() && s.Repeat.Literal < 1 {
		b.Errorf(s.Repeat.Pos, "repeat must be at least 1, got %d", s.Repeat.Literal)
	}
	if len(s.Steps) == 0 {
		b.Errorf(b.Here(), "timeProbe %q has no steps to time", s.Name)
	}
	a.steps = b.Steps(s.Steps)
	scope := b.Scope().With("samples", []time.Duration{})
	for _, n := range probeStatNames {
		scope = scope.With(n, time.Duration(0))
	}
	for _, e := range s.Assert {
		if p := b.Compile(e, scope, eval.Bool); p != nil {
			a.asserts = append(a.asserts, p)
			a.bounds = append(a.bounds, p.Bounds(probeStatNames, b.Scope())...)
		}
	}
	if s.Measure != nil {
		a.measure = s.Measure.build(b)
	}
	return a, nil
}

// Run implements engine.Action. A failed nested step fails the probe with
// its error, and no assertion is evaluated.
func (a *timeProbeAction) Run(ctx context.Context, env *engine.Env) error {
	n := 1
	if a.repeat.IsSet() {
		var err error
		if n, err = a.repeat.Eval(env.Values()); err != nil {
			return fmt.Errorf("repeat: %w", err)
		}
		if n < 1 {
			return fmt.Errorf("repeat must be at least 1, got %d", n)
		}
	}
	// The detail and samples are kept for the whole run of the plan: a
	// timeProbe nested in a repeated one adds to them on every repeat, so
	// its statistics and assertions cover all of them.
	acc := env.Memo(a, func() any { return &ProbeDetail{Name: a.name, Assertions: []result.Check{}} }).(*ProbeDetail)
	probe := acc
	env.Result.Detail = probe
	samples := probe.samples
	var m *measuring
	if a.measure != nil && !env.DryRun {
		m = a.measure.start(ctx, env)
	}
	for i := range n {
		first := len(env.Result.Steps)
		start := time.Now()
		err := env.RunSteps(ctx, a.steps)
		if err != nil {
			probe.setSamples(samples)
			if m != nil {
				probe.Measure = m.stop(ctx)
			}
			if n == 1 {
				return err
			}
			return fmt.Errorf("run %d of %d: %w", i+1, n, err)
		}
		end := time.Now()
		if runs := env.Result.Steps[first:]; len(runs) > 0 {
			start, end = runs[0].Start, runs[len(runs)-1].End
		}
		samples = append(samples, end.Sub(start))
		env.Progress(i+1, n, "runs", 0)
	}
	probe.setSamples(samples)
	err := a.check(env, probe)
	if m != nil {
		probe.Measure = m.stop(ctx)
		checks, merr := a.measure.check(env, probe.Measure)
		probe.MeasureAssertions = checks
		err = errors.Join(err, merr)
	}
	return err
}

// check evaluates every assertion and records what each saw. The error
// lists every failed one with the values it read, in the order they appear:
//
//	assertion failed: p90 < duration("30s"): p90 = 47.2s
//	2 assertions failed: <expr>: <name> = <value>, ...; <expr>: ...
func (a *timeProbeAction) check(env *engine.Env, probe *ProbeDetail) error {
	vals := env.Values()
	for name, v := range probeStats(probe.samples) {
		vals = vals.With(name, v)
	}
	vals = vals.With("samples", slices.Clone(probe.samples))
	probe.Budgets = budgets(a.bounds, vals)

	checks, err := checkAll(a.asserts, vals)
	probe.Assertions = checks
	return err
}

// probeStats computes duration (the last sample), min, max, mean and the
// nearest-rank percentiles of samples. It returns nothing for no samples.
func probeStats(samples []time.Duration) map[string]time.Duration {
	if len(samples) == 0 {
		return nil
	}
	sorted := slices.Clone(samples)
	slices.Sort(sorted)
	var sum time.Duration
	for _, s := range sorted {
		sum += s
	}
	rank := func(p float64) time.Duration {
		i := int(math.Ceil(p / 100 * float64(len(sorted))))
		return sorted[max(i, 1)-1]
	}
	return map[string]time.Duration{
		"duration": samples[len(samples)-1],
		"min":      sorted[0],
		"max":      sorted[len(sorted)-1],
		"mean":     sum / time.Duration(len(sorted)),
		"p50":      rank(50),
		"p90":      rank(90),
		"p99":      rank(99),
	}
}

// budgets evaluates the limits of bounds with vals: the dashed lines of
// the report's chart, e.g. "p90 < 30s (attachBudget)".
func budgets(bounds []eval.Bound, vals eval.Values) []result.Limit {
	var out []result.Limit
	for _, b := range bounds {
		v, err := b.Limit.Run(vals)
		d, ok := v.(time.Duration)
		if err != nil || !ok {
			continue
		}
		label := b.Name + " " + b.Op + " " + result.FormatDuration(d)
		if names := b.Limit.Names(); len(names) > 0 {
			label += " (" + strings.Join(names, ", ") + ")"
		}
		out = append(out, result.Limit{Label: label, Value: d.Seconds()})
	}
	return out
}

func formatProbeValue(v any) string {
	switch x := v.(type) {
	case interface{ CheckValue() string }:
		return x.CheckValue()
	case time.Duration:
		return result.FormatDuration(x)
	case []time.Duration:
		parts := make([]string, len(x))
		for i, d := range x {
			parts[i] = result.FormatDuration(d)
		}
		return "[" + strings.Join(parts, " ") + "]"
	}
	return formatValue(v)
}
