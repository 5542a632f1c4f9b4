package steps

import (
	"context"
	"errors"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/scenario-runner/runner/engine"
	"github.com/scenario-runner/runner/engine/eval"
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
}

// Describe implements engine.Describer.
func (s *TimeProbeSpec) Describe() string { return "timeProbe " + s.Name }

// probeNames are the statistics an assertion sees, in report order.
var probeNames = []string{"min", "mean", "p50", "p90", "p99", "max"}

type timeProbeAction struct {
	name    string
	repeat  engine.IntValue
	steps   []*engine.Step
	asserts []*eval.Program
}

// Build implements engine.Spec.
func (s *TimeProbeSpec) Build(b *engine.Builder) (engine.Action, error) {
	a := &timeProbeAction{name: s.Name}
	if strings.TrimSpace(s.Name) == "" {
		b.Errorf(b.Here(), "timeProbe needs a name")
	}
	a.repeat = b.Int(s.Repeat, b.Scope())
	if s.Repeat.IsSet() && !s.Repeat.Expr.IsSet() && s.Repeat.Literal < 1 {
		b.Errorf(b.Here(), "repeat must be at least 1, got %d", s.Repeat.Literal)
	}
	if len(s.Steps) == 0 {
		b.Errorf(b.Here(), "timeProbe %q has no steps to time", s.Name)
	}
	a.steps = b.Steps(s.Steps)
	scope := b.Scope().With("duration", time.Duration(0)).With("samples", []time.Duration{})
	for _, n := range probeNames {
		scope = scope.With(n, time.Duration(0))
	}
	for _, e := range s.Assert {
		if p := b.Compile(e, scope, eval.Bool); p != nil {
			a.asserts = append(a.asserts, p)
		}
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
	probe := &engine.ProbeResult{Name: a.name, Stats: map[string]string{}}
	env.Result.Probe = probe
	for i := range n {
		first := len(env.Result.Steps)
		start := time.Now()
		err := env.RunSteps(ctx, a.steps)
		if err != nil {
			probe.Stats = formatStats(probe.Samples)
			if n == 1 {
				return err
			}
			return fmt.Errorf("run %d of %d: %w", i+1, n, err)
		}
		end := time.Now()
		if runs := env.Result.Steps[first:]; len(runs) > 0 {
			start, end = runs[0].Start, runs[len(runs)-1].End
		}
		probe.Samples = append(probe.Samples, end.Sub(start))
		env.Progress(i+1, n, "runs", 0)
	}
	probe.Stats = formatStats(probe.Samples)
	return a.check(env, probe)
}

// check evaluates every assertion and records what each saw. The error
// lists every failed one with the values it read, in the order they appear:
//
//	assertion failed: p90 < duration("30s"): p90 = 47.2s
//	2 assertions failed: <expr>: <name> = <value>, ...; <expr>: ...
func (a *timeProbeAction) check(env *engine.Env, probe *engine.ProbeResult) error {
	vals := env.Values()
	for name, v := range probeStats(probe.Samples) {
		vals = vals.With(name, v)
	}
	vals = vals.With("samples", slices.Clone(probe.Samples))

	var failed []string
	for _, p := range a.asserts {
		r := engine.AssertionResult{Expr: strings.TrimSpace(p.Source), Values: map[string]string{}}
		var shown []string
		for _, name := range p.Names() {
			v, ok := vals[name]
			if !ok {
				continue
			}
			r.Values[name] = formatProbeValue(v)
			shown = append(shown, name+" = "+r.Values[name])
		}
		ok, err := p.Bool(vals)
		r.Passed = ok && err == nil
		probe.Assertions = append(probe.Assertions, r)
		if r.Passed {
			continue
		}
		msg := r.Expr
		if len(shown) > 0 {
			msg += ": " + strings.Join(shown, ", ")
		}
		if err != nil {
			if inner := errors.Unwrap(err); inner != nil {
				err = inner
			}
			first, _, _ := strings.Cut(err.Error(), "\n")
			msg += " (error: " + first + ")"
		}
		failed = append(failed, msg)
	}
	switch len(failed) {
	case 0:
		return nil
	case 1:
		return fmt.Errorf("assertion failed: %s", failed[0])
	}
	return fmt.Errorf("%d assertions failed: %s", len(failed), strings.Join(failed, "; "))
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

// formatStats renders the statistics of samples for reports.
func formatStats(samples []time.Duration) map[string]string {
	out := map[string]string{"runs": strconv.Itoa(len(samples))}
	for name, v := range probeStats(samples) {
		out[name] = roundDuration(v).String()
	}
	return out
}

func formatProbeValue(v any) string {
	switch x := v.(type) {
	case time.Duration:
		return roundDuration(x).String()
	case []time.Duration:
		parts := make([]string, len(x))
		for i, d := range x {
			parts[i] = roundDuration(d).String()
		}
		return "[" + strings.Join(parts, " ") + "]"
	}
	return formatValue(v)
}
