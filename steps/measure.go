package steps

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/expr-lang/expr/types"

	"github.com/scenario-runner/runner/engine"
	"github.com/scenario-runner/runner/engine/eval"
	"github.com/scenario-runner/runner/metrics"
	"github.com/scenario-runner/runner/result"
)

// MeasureSpec is a measure block (on a timeProbe): sample PromQL queries
// every interval while the steps run, keep min, max, last and the samples
// of every series, chart them in the report, and assert on them after the
// steps. Each query's name is bound in the assertions to its statistics:
// name.max, name.min, name.mean, name.first, name.last (the largest last
// value of its series), name.series, name.samples and name.absent. A query
// that returned nothing is absent (its numbers NaN, so every comparison
// fails and the message says "absent"), never zero. A source that cannot be
// read is reported, and fails nothing unless an assertion reads it.
type MeasureSpec struct {
	MetricsSourceSpec `yaml:",inline"`
	Every             engine.Duration        `yaml:"every" doc:"Sampling interval (default 1s)."`
	Queries           map[string]engine.Text `yaml:"queries" required:"true" doc:"Named PromQL queries, e.g. replicaQueue: sum(longhorn_workqueue_depth{name=\"longhorn-replica\"}); with pods, a selector, rate/irate/increase over a range, sum/min/max/avg/count (by/without)."`
	Assert            []engine.Expr          `yaml:"assert" doc:"Boolean expressions over the queries' statistics (name.max, name.min, name.mean, name.first, name.last, name.absent, name.series, name.samples), vars and outputs, checked after the steps, e.g. replicaQueue.max < 100."`
}

// defaultEvery is a measure's sampling interval unless it says.
const defaultEvery = time.Second

// measure is a compiled MeasureSpec.
type measure struct {
	src     *boundSource
	queries []boundQuery
	every   time.Duration
	asserts []*eval.Program
}

func (s *MeasureSpec) build(b *engine.Builder) *measure {
	m := &measure{src: s.MetricsSourceSpec.build(b, "measure"), every: s.Every.Duration}
	if m.every == 0 {
		m.every = defaultEvery
	}
	if s.Every.IsSet() && s.Every.Duration < 100*time.Millisecond {
		b.Errorf(b.Here(), "measure.every must be at least 100ms, got %s", s.Every.Duration)
	}
	if len(s.Queries) == 0 {
		b.Errorf(b.Here(), "measure needs at least one query")
	}
	m.queries = buildQueries(b, s.Queries, m.src)
	scope := b.Scope()
	for _, q := range m.queries {
		scope = scope.With(q.name, statType)
	}
	for _, e := range s.Assert {
		if p := b.Compile(e, scope, eval.Bool); p != nil {
			m.asserts = append(m.asserts, p)
		}
	}
	return m
}

// measuring is a measure running beside steps.
type measuring struct {
	m   *measure
	rec *metrics.Recorder
	// failed says why sampling could not start; the record then says so.
	failed error
	start  time.Time
}

// start begins sampling. It never fails: a source that cannot be opened is
// recorded, as a measurement never fails a plan unless asserted on.
func (m *measure) start(ctx context.Context, env *engine.Env) *measuring {
	run := &measuring{m: m, start: time.Now()}
	src, err := m.src.open(env)
	var named []metrics.Named
	if err == nil {
		named, err = resolveQueries(m.queries, m.src, env.Values())
	}
	if err != nil {
		run.failed = err
		env.Log.Warn().Err(err).Msg("measure: cannot read metrics")
		return run
	}
	run.rec = metrics.Start(ctx, src, named, m.every)
	return run
}

// stop ends sampling and returns the record.
func (r *measuring) stop(ctx context.Context) *metrics.Record {
	if r.rec == nil {
		rec := &metrics.Record{Source: "(not opened)", EverySeconds: r.m.every.Seconds(), Start: r.start, FailedReads: 1,
			Errors: []string{r.failed.Error()}, LastError: r.failed.Error(), Measured: []metrics.Measured{}}
		for _, q := range r.m.queries {
			src := ""
			if q.query != nil {
				src = q.query.Source
			}
			rec.Measured = append(rec.Measured, metrics.Measured{Name: q.name, Query: src, Absent: true})
		}
		return rec
	}
	rec := r.rec.Stop(ctx)
	for i := range rec.Measured {
		metrics.SortSeries(&rec.Measured[i])
	}
	return rec
}

// check evaluates the assertions over the record's statistics.
func (m *measure) check(env *engine.Env, rec *metrics.Record) ([]result.Check, error) {
	if len(m.asserts) == 0 {
		return nil, nil
	}
	vals := env.Values()
	for _, q := range rec.Measured {
		vals = vals.With(q.Name, statEnv(q.Stat()))
	}
	checks, err := checkAll(m.asserts, vals)
	if err != nil {
		return checks, fmt.Errorf("measure: %w", err)
	}
	return checks, nil
}

// statType is what a measure's assertions see of a query.
var statType = types.Map{
	"min": types.Float64, "max": types.Float64, "mean": types.Float64, "first": types.Float64, "last": types.Float64,
	"absent": types.Bool, "series": types.Int, "samples": types.Int,
}

// statValue is a query's statistics as the assertions see them.
type statValue map[string]any

func statEnv(s metrics.Stat) statValue {
	return statValue{"min": s.Min, "max": s.Max, "mean": s.Mean, "first": s.First, "last": s.Last,
		"absent": s.Absent, "series": s.Series, "samples": s.Samples, "": s}
}

// CheckValue is how an assertion's message shows the statistics.
func (v statValue) CheckValue() string { return v[""].(metrics.Stat).CheckValue() }

// measureFacts are a record's facts for JUnit properties: per query, its
// range or that it is absent. (The report shows them over each chart.)
func measureFacts(rec *metrics.Record) []result.Property {
	var out []result.Property
	for _, q := range rec.Measured {
		out = append(out, result.Property{Name: q.Name, Value: statText(q)})
	}
	return out
}

// statText is "min 0, max 37, last 2 (3 series)" or "absent".
func statText(q metrics.Measured) string {
	st := q.Stat()
	if st.Absent {
		return "absent"
	}
	s := fmt.Sprintf("min %s, max %s, last %s", metrics.FormatValue(st.Min), metrics.FormatValue(st.Max), metrics.FormatValue(st.Last))
	if st.Series > 1 {
		s += fmt.Sprintf(" (%d series)", st.Series)
	}
	return s
}

// measurePlots are a record's line charts: one per query, a line per
// series; an absent query says so (and why, when reads failed).
func measurePlots(rec *metrics.Record) []*result.LineChart {
	var out []*result.LineChart
	for _, q := range rec.Measured {
		lc := &result.LineChart{Title: "measured " + q.Name + ": " + statText(q), Note: q.Query}
		if q.Absent {
			lc.Empty = "absent: no series matched"
			if rec.Reads == 0 && rec.LastError != "" {
				lc.Empty = "absent: " + firstLine(rec.LastError, 70)
			}
		}
		shared := sharedLabels(q.Series)
		for _, s := range q.Series {
			l := result.Line{Label: seriesLabel(s.Labels, shared)}
			if l.Label == "value" {
				l.Label = q.Name
			}
			for _, p := range s.Points {
				l.Points = append(l.Points, result.Point{T: p.T, V: p.V})
			}
			lc.Lines = append(lc.Lines, l)
		}
		out = append(out, lc)
	}
	return out
}

func firstLine(s string, n int) string {
	s, _, _ = strings.Cut(s, "\n")
	if r := []rune(s); len(r) > n {
		return string(r[:n-1]) + "…"
	}
	return s
}

// measureSummary is the console's part: "measured replicaQueue max 37,
// engines absent".
func measureSummary(rec *metrics.Record) string {
	var parts []string
	for _, q := range rec.Measured {
		st := q.Stat()
		if st.Absent {
			parts = append(parts, q.Name+" absent")
			continue
		}
		parts = append(parts, fmt.Sprintf("%s max %s", q.Name, metrics.FormatValue(st.Max)))
	}
	s := "measured " + strings.Join(parts, ", ")
	if rec.Reads == 0 && rec.LastError != "" {
		s += " (" + firstLine(rec.LastError, 100) + ")"
	}
	return s
}

// MeasureStepSpec is the YAML shape of a measure step: sample metrics
// while its nested steps run. Given at plan level (beside steps:), it has
// no steps of its own and samples while the plan's steps run.
type MeasureStepSpec struct {
	MeasureSpec `yaml:",inline"`
	Steps       []engine.Node `yaml:"steps" doc:"The steps to measure, run in order. None at plan level, where the plan's steps are measured."`
}

// Describe implements engine.Describer.
func (s *MeasureStepSpec) Describe() string {
	return "measure " + strings.Join(sortedNames(s.Queries), ", ")
}

type measureAction struct {
	m     *measure
	steps []*engine.Step
}

// Build implements engine.Spec.
func (s *MeasureStepSpec) Build(b *engine.Builder) (engine.Action, error) {
	a := &measureAction{}
	switch {
	case b.PlanLevel() && len(s.Steps) > 0:
		b.Errorf(b.Here(), "a measure at plan level samples while the plan's steps run: it has no steps of its own")
	case !b.PlanLevel() && len(s.Steps) == 0:
		b.Errorf(b.Here(), "a measure step needs steps to measure (or give measure at plan level, beside steps:, to measure the whole plan)")
	}
	if !b.PlanLevel() {
		a.steps = b.Steps(s.Steps)
	}
	a.m = s.MeasureSpec.build(b)
	return a, nil
}

// MeasureDetail is a measure's result: what it sampled and its assertions.
type MeasureDetail struct {
	Measure    *metrics.Record `json:"measure,omitempty" doc:"The metrics sampled: every series' samples, min, max and last; absent queries say so."`
	Assertions []result.Check  `json:"assertions,omitempty" doc:"The assertions with the values they read."`
}

// Summary implements result.Detail.
func (d *MeasureDetail) Summary() string {
	if d.Measure == nil {
		return ""
	}
	return measureSummary(d.Measure)
}

// Properties implements result.Detail.
func (d *MeasureDetail) Properties() []result.Property {
	if d.Measure == nil {
		return nil
	}
	props := measureFacts(d.Measure)
	for i, a := range d.Assertions {
		props = append(props, result.Property{Name: fmt.Sprintf("assert.%d", i+1), Value: checkText(a)})
	}
	return props
}

// Section implements result.Sectioned: a chart per query.
func (d *MeasureDetail) Section() *result.Section {
	if d.Measure == nil {
		return nil
	}
	return &result.Section{
		Group: "Measurements", Note: fmt.Sprintf("%d read(s) every %s from %s", d.Measure.Reads,
			result.FormatSeconds(d.Measure.EverySeconds), d.Measure.Source),
		Checks: d.Assertions, Plots: measurePlots(d.Measure),
	}
}

// Run implements engine.Action: the nested steps, sampled. When a nested
// step fails, sampling stops and no assertion is evaluated.
func (a *measureAction) Run(ctx context.Context, env *engine.Env) error {
	end := a.begin(ctx, env)
	if err := env.RunSteps(ctx, a.steps); err != nil {
		_ = end(ctx, false)
		return err
	}
	return end(ctx, true)
}

// Beside implements engine.Besider: sampling starts now and ends, with the
// assertions, when end is called.
func (a *measureAction) Beside(ctx context.Context, env *engine.Env) func(context.Context) error {
	end := a.begin(ctx, env)
	return func(ctx context.Context) error { return end(ctx, true) }
}

// begin starts sampling; end stops it and, with check, evaluates the
// assertions. A dry run samples nothing.
func (a *measureAction) begin(ctx context.Context, env *engine.Env) (end func(ctx context.Context, check bool) error) {
	d := &MeasureDetail{}
	env.Result.Detail = d
	if env.DryRun {
		return func(context.Context, bool) error { return nil }
	}
	run := a.m.start(ctx, env)
	return func(ctx context.Context, check bool) error {
		d.Measure = run.stop(ctx)
		if !check {
			return nil
		}
		checks, err := a.m.check(env, d.Measure)
		d.Assertions = checks
		return err
	}
}
