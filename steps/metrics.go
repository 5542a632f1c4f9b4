package steps

import (
	"context"
	"fmt"
	"math"
	"strings"
	"time"

	"github.com/expr-lang/expr/types"
	"github.com/prometheus/common/model"

	"github.com/scenario-runner/runner/engine"
	"github.com/scenario-runner/runner/engine/eval"
	"github.com/scenario-runner/runner/metrics"
	"github.com/scenario-runner/runner/result"
)

// MetricsSpec is the YAML shape of a metrics step: read named PromQL
// queries now, from pods through the API server's pod proxy or from a
// Prometheus, and bind them for until, assert and outputs. With until, it
// reads again every interval until the condition holds (bounded by the
// step's timeout), e.g. until the replica queue's retries stop growing:
//
//	until: retries.value == retries.previous
//
// Each name is bound to a MetricValue: name.value (the sum of its series'
// values; aggregate in the query for another, e.g. max(...)), name.values,
// name.series (each {labels, value}), name.absent, name.count and
// name.previous (value at the step's previous read; NaN on the first). An
// absent query's value is NaN: every comparison with it fails.
type MetricsSpec struct {
	MetricsSourceSpec `yaml:",inline"`
	Queries           map[string]engine.Text `yaml:"queries" required:"true" doc:"Named PromQL queries, e.g. retries: sum(longhorn_workqueue_retries_total{name=\"longhorn-replica\"}); with pods, a selector, sum/min/max/avg/count (by/without) (rate needs two reads: use until or a Prometheus)."`
	Until             engine.Expr            `yaml:"until" doc:"Read again every interval until this boolean expression over the queries (name.value, name.previous, name.absent, ...) holds, e.g. retries.value == retries.previous."`
	Every             engine.Duration        `yaml:"every" doc:"With until: the interval between reads (default 2s)."`
	Assert            []engine.Expr          `yaml:"assert" doc:"Boolean expressions over the queries, vars and outputs; all must hold, e.g. depth.value < 100 or engines.absent."`
	Outputs           map[string]engine.Expr `yaml:"outputs" doc:"Outputs for later steps: expressions over the queries, e.g. startRetries: retries.value."`
}

// Describe implements engine.Describer.
func (s *MetricsSpec) Describe() string {
	return "metrics " + strings.Join(sortedNames(s.Queries), ", ")
}

// MetricValue is a query's answer at a read.
type MetricValue struct {
	Value    float64
	Previous float64
	Values   []float64
	Series   []MetricSeries
	Absent   bool
	Count    int
}

// MetricSeries is one series of a query's answer.
type MetricSeries struct {
	Labels map[string]string `json:"labels"`
	Value  float64           `json:"value"`
}

// metricValueType is what expressions see of a query's answer.
var metricValueType = types.Map{
	"value": types.Float64, "previous": types.Float64, "values": types.Array(types.Float64),
	"series": types.Array(types.Map{"labels": types.Map{types.Extra: types.String}, "value": types.Float64}),
	"absent": types.Bool, "count": types.Int,
}

// metricEnv is a query's answer as expressions see it.
type metricEnv map[string]any

func (v MetricValue) env() metricEnv {
	series := make([]any, len(v.Series))
	for i, s := range v.Series {
		l := make(map[string]any, len(s.Labels))
		for k, x := range s.Labels {
			l[k] = x
		}
		series[i] = map[string]any{"labels": l, "value": s.Value}
	}
	return metricEnv{"value": v.Value, "previous": v.Previous, "values": v.Values, "series": series,
		"absent": v.Absent, "count": v.Count, "": v}
}

// CheckValue is how an assertion's message shows the answer.
func (e metricEnv) CheckValue() string { return e[""].(MetricValue).CheckValue() }

// CheckValue is how an assertion's message shows the value.
func (v MetricValue) CheckValue() string {
	if v.Absent {
		return "absent"
	}
	s := metrics.FormatValue(v.Value)
	if v.Count > 1 {
		s += fmt.Sprintf(" (sum of %d series)", v.Count)
	}
	if !math.IsNaN(v.Previous) {
		s += ", previous " + metrics.FormatValue(v.Previous)
	}
	return s
}

// defaultUntilEvery is the interval between the reads of a metrics step
// with until.
const defaultUntilEvery = 2 * time.Second

type metricsAction struct {
	src     *boundSource
	queries []boundQuery
	until   *eval.Program
	every   time.Duration
	asserts []*eval.Program
	outputs map[string]*eval.Program
}

// Build implements engine.Spec.
func (s *MetricsSpec) Build(b *engine.Builder) (engine.Action, error) {
	a := &metricsAction{src: s.MetricsSourceSpec.build(b, "metrics"), every: s.Every.Duration}
	if a.every == 0 {
		a.every = defaultUntilEvery
	}
	if s.Every.IsSet() && !s.Until.IsSet() {
		b.Errorf(b.Here(), "every is the interval between reads for until: give until too, or drop every")
	}
	if len(s.Queries) == 0 {
		b.Errorf(b.Here(), "metrics needs at least one query")
	}
	a.queries = buildQueries(b, s.Queries, a.src)
	scope := b.Scope()
	for _, q := range a.queries {
		scope = scope.With(q.name, metricValueType)
	}
	a.until = b.Compile(s.Until, scope, eval.Bool)
	for _, e := range s.Assert {
		if p := b.Compile(e, scope, eval.Bool); p != nil {
			a.asserts = append(a.asserts, p)
		}
	}
	if len(s.Outputs) > 0 {
		a.outputs = map[string]*eval.Program{}
		for _, key := range sortedNames(s.Outputs) {
			e := s.Outputs[key]
			n, _ := strings.CutSuffix(key, "!")
			if !varName(n) {
				b.Errorf(e.Pos, "output name %q is not a valid name (letters, digits, _; a trailing ! re-binds an earlier output)", key)
				continue
			}
			if p := b.Compile(e, scope, eval.Any); p != nil {
				a.outputs[n] = p
			}
		}
		for _, key := range sortedNames(s.Outputs) {
			n, rebind := strings.CutSuffix(key, "!")
			b.Declare(n, s.Outputs[key].Pos, rebind)
		}
	}
	return a, nil
}

// MetricsDetail is a metrics step's result: where it read, how often, and
// each query's answer at the last read.
type MetricsDetail struct {
	Source  string         `json:"source"`
	Reads   int            `json:"reads" doc:"Reads made (more than one with until)."`
	Notes   []string       `json:"notes,omitempty" doc:"Problems that did not fail a read, e.g. a pod that could not be scraped."`
	Queries []QueryAnswer  `json:"queries"`
	Checks  []result.Check `json:"checks,omitempty" doc:"The assertions with the values they read."`
	Until   *result.Check  `json:"until,omitempty" doc:"The until condition at the last read."`
	History []MetricsRead  `json:"history,omitempty" doc:"With until: each read's values (the sum of each query's series), thinned evenly past 2000 reads."`

	start time.Time
}

// MetricsRead is one read of a metrics step with until: seconds since the
// step began and each present query's value (absent ones are left out).
type MetricsRead struct {
	T      float64            `json:"t"`
	Values map[string]float64 `json:"values"`
}

// maxHistory bounds the reads a metrics step keeps.
const maxHistory = 2000

func (d *MetricsDetail) addRead(at time.Time, vals map[string]float64) {
	if len(d.History) >= maxHistory {
		kept := d.History[:0]
		for i, r := range d.History {
			if i%2 == 0 {
				kept = append(kept, r)
			}
		}
		d.History = kept
	}
	d.History = append(d.History, MetricsRead{T: at.Sub(d.start).Seconds(), Values: vals})
}

// Section implements result.Sectioned: with until and more than one read,
// each query's value over the reads.
func (d *MetricsDetail) Section() *result.Section {
	if len(d.History) < 2 {
		return nil
	}
	sec := &result.Section{Group: "Metrics", Note: fmt.Sprintf("%d reads from %s", d.Reads, d.Source), Checks: d.Checks}
	if d.Until != nil {
		sec.Checks = append([]result.Check{*d.Until}, sec.Checks...)
	}
	for _, q := range d.Queries {
		lc := &result.LineChart{Title: q.Name, Note: q.Query}
		l := result.Line{Label: q.Name}
		for _, r := range d.History {
			if v, ok := r.Values[q.Name]; ok {
				l.Points = append(l.Points, result.Point{T: r.T, V: v})
			}
		}
		if len(l.Points) == 0 {
			lc.Empty = "absent: no series matched"
		} else {
			lc.Lines = []result.Line{l}
		}
		sec.Plots = append(sec.Plots, lc)
		v := "absent"
		if !q.Absent {
			v = metrics.FormatValue(*q.Value)
		}
		sec.Facts = append(sec.Facts, result.Property{Name: q.Name, Value: v})
	}
	return sec
}

// QueryAnswer is one query's answer at a read.
type QueryAnswer struct {
	Name   string         `json:"name"`
	Query  string         `json:"query"`
	Absent bool           `json:"absent" doc:"The query selected nothing: the metric is missing, not zero."`
	Value  *float64       `json:"value,omitempty" doc:"The sum of the series' values."`
	Series []MetricSeries `json:"series,omitempty" doc:"The first 20 series."`
	More   int            `json:"moreSeries,omitempty"`
}

// maxAnswerSeries bounds the series a detail keeps per query.
const maxAnswerSeries = 20

// Summary implements result.Detail: "retries=5120, engines absent".
func (d *MetricsDetail) Summary() string {
	var parts []string
	for _, q := range d.Queries {
		if q.Absent {
			parts = append(parts, q.Name+" absent")
		} else {
			parts = append(parts, q.Name+"="+metrics.FormatValue(*q.Value))
		}
	}
	s := strings.Join(parts, ", ")
	if d.Reads > 1 {
		s += fmt.Sprintf(" (%d reads)", d.Reads)
	}
	return s
}

// Properties implements result.Detail.
func (d *MetricsDetail) Properties() []result.Property {
	props := []result.Property{{Name: "source", Value: d.Source}}
	for _, q := range d.Queries {
		v := "absent"
		if !q.Absent {
			v = metrics.FormatValue(*q.Value)
		}
		props = append(props, result.Property{Name: "query." + q.Name, Value: v})
	}
	for i, c := range d.Checks {
		props = append(props, result.Property{Name: fmt.Sprintf("assert.%d", i+1), Value: checkText(c)})
	}
	return props
}

// Observing implements engine.Observing: a dry run skips it.
func (*metricsAction) Observing() bool { return true }

// Run implements engine.Action.
func (a *metricsAction) Run(ctx context.Context, env *engine.Env) error {
	src, err := a.src.open(env)
	if err != nil {
		return err
	}
	named, err := resolveQueries(a.queries, a.src, env.Values())
	if err != nil {
		return err
	}
	d := &MetricsDetail{Source: src.String(), start: time.Now()}
	env.Result.Detail = d
	qs := make([]*metrics.Query, len(named))
	for i, n := range named {
		qs[i] = n.Query
	}
	prev := map[string]float64{}
	var vals eval.Values
	var lastErr error
	for {
		reading, err := src.Read(ctx, qs)
		for _, n := range reading.Notes {
			if len(d.Notes) < 8 && !containsString(d.Notes, n) {
				d.Notes = append(d.Notes, n)
			}
		}
		if err != nil {
			// Without until a failed read fails the step; with until it
			// is tried again (the managers may be starting) until the
			// step's timeout, which then names it.
			if a.until == nil || ctx.Err() != nil {
				return fmt.Errorf("read %s: %w", src, err)
			}
			lastErr = err
			env.Log.Debug().Err(err).Msg("metrics: read failed, trying again")
		} else {
			lastErr = nil
			d.Reads++
			vals = env.Values()
			d.Queries = d.Queries[:0]
			read := map[string]float64{}
			for i, n := range named {
				v := metricValue(reading.Vectors[i], prev, n.Name)
				prev[n.Name] = v.Value
				vals = vals.With(n.Name, v.env())
				d.Queries = append(d.Queries, answer(n, v))
				if !v.Absent {
					read[n.Name] = v.Value
				}
			}
			if a.until != nil {
				d.addRead(reading.At, read)
			}
			if a.until == nil {
				break
			}
			ok, err := a.until.Bool(vals)
			d.Until = &result.Check{Expr: strings.TrimSpace(a.until.Source), Passed: ok && err == nil, Values: readValues(a.until, vals)}
			if d.Until.Passed {
				break
			}
			env.Progress(d.Reads, 0, "reads", 0)
		}
		select {
		case <-ctx.Done():
			last := ""
			if d.Until != nil {
				last = ": " + checkText(*d.Until)
			}
			if lastErr != nil {
				last += "; the last read failed: " + lastErr.Error()
			}
			return fmt.Errorf("until did not hold after %d read(s)%s", d.Reads, last)
		case <-time.After(a.every):
		}
	}
	checks, err := checkAll(a.asserts, vals)
	if len(a.asserts) > 0 {
		d.Checks = checks
	}
	if err != nil {
		return err
	}
	for _, n := range sortedNames(a.outputs) {
		v, err := a.outputs[n].Run(vals)
		if err != nil {
			return fmt.Errorf("output %q: %w", n, err)
		}
		env.SetOutput(n, v)
	}
	return nil
}

func containsString(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// metricValue binds a query's answer; prev holds each name's value at the
// step's previous read.
func metricValue(v model.Vector, prev map[string]float64, name string) MetricValue {
	mv := MetricValue{Value: math.NaN(), Previous: math.NaN(), Values: []float64{}, Series: []MetricSeries{}, Absent: true}
	if p, ok := prev[name]; ok {
		mv.Previous = p
	}
	var sum float64
	for _, s := range v {
		x := float64(s.Value)
		if math.IsNaN(x) {
			continue
		}
		sum += x
		mv.Values = append(mv.Values, x)
		l := map[string]string{}
		for k, lv := range s.Metric {
			l[string(k)] = string(lv)
		}
		mv.Series = append(mv.Series, MetricSeries{Labels: l, Value: x})
	}
	if len(mv.Values) > 0 {
		mv.Value, mv.Absent, mv.Count = sum, false, len(mv.Values)
	}
	return mv
}

func answer(n metrics.Named, v MetricValue) QueryAnswer {
	a := QueryAnswer{Name: n.Name, Query: n.Query.Source, Absent: v.Absent}
	if !v.Absent {
		val := v.Value
		a.Value = &val
		a.Series = v.Series
		if len(a.Series) > maxAnswerSeries {
			a.More = len(a.Series) - maxAnswerSeries
			a.Series = a.Series[:maxAnswerSeries]
		}
	}
	return a
}

// readValues are the values a program read, as checkAll shows them.
func readValues(p *eval.Program, vals eval.Values) map[string]string {
	out := map[string]string{}
	for _, name := range p.Names() {
		if v, ok := vals[name]; ok {
			out[name] = formatProbeValue(v)
		}
	}
	return out
}
