package metrics

import (
	"errors"
	"fmt"
	"math"
	"slices"
	"strings"
	"time"

	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/promql/parser"
)

// Query is a PromQL expression compiled by Prometheus's parser. A
// Prometheus source sends any of them to its server; the pods source
// evaluates this subset itself over the scrapes it keeps:
//
//   - a selector: longhorn_workqueue_depth{name="longhorn-replica"} (=, !=,
//     =~, !~; {__name__=~"longhorn_volume_.*"});
//   - rate, irate or increase of a selector over a range:
//     rate(longhorn_workqueue_retries_total[30s]), computed from the scrapes
//     inside the range (at least two), counter resets counted, without
//     Prometheus's extrapolation to the range's edges;
//   - sum, min, max, avg or count of either, optionally by or without
//     labels: sum by (node) (longhorn_volume_actual_size_bytes);
//   - parentheses.
//
// Anything else (offsets, binary operators, other functions) parses, but
// only a Prometheus source evaluates it: Local says why.
type Query struct {
	Source string
	expr   parser.Expr
	local  error
	window time.Duration
}

// Compile parses src. The error is Prometheus's, with its position in src
// ("1:12: parse error: ...").
func Compile(src string) (*Query, error) {
	e, err := parser.NewParser(parser.Options{}).ParseExpr(src)
	if err != nil {
		return nil, err
	}
	q := &Query{Source: src, expr: e}
	q.local = q.check(e)
	return q, nil
}

// Local returns nil when the pods source can evaluate q, and otherwise
// what it cannot evaluate.
func (q *Query) Local() error { return q.local }

// Window is the longest range q reads (0 for an instant query).
func (q *Query) Window() time.Duration { return q.window }

// rangeFuncs are the functions over a range the pods source evaluates.
var rangeFuncs = []string{"rate", "irate", "increase"}

// aggregations are the aggregation operators the pods source evaluates.
var aggregations = []string{"sum", "min", "max", "avg", "count"}

var errSupported = "the pods source evaluates selectors, rate/irate/increase over a range, " +
	"sum/min/max/avg/count (by/without) and parentheses; use a prometheus source for more"

func (q *Query) check(e parser.Expr) error {
	switch n := e.(type) {
	case *parser.ParenExpr:
		return q.check(n.Expr)
	case *parser.VectorSelector:
		if n.OriginalOffset != 0 || n.OriginalOffsetExpr != nil || n.Timestamp != nil || n.StartOrEnd != 0 {
			return fmt.Errorf("offset and @ modifiers: %s", errSupported)
		}
		return nil
	case *parser.AggregateExpr:
		if !slices.Contains(aggregations, n.Op.String()) {
			return fmt.Errorf("aggregation %s: %s", n.Op, errSupported)
		}
		return q.check(n.Expr)
	case *parser.Call:
		if !slices.Contains(rangeFuncs, n.Func.Name) {
			return fmt.Errorf("function %s: %s", n.Func.Name, errSupported)
		}
		m, ok := n.Args[0].(*parser.MatrixSelector)
		if !ok {
			return fmt.Errorf("%s of a subquery: %s", n.Func.Name, errSupported)
		}
		if m.RangeExpr != nil {
			return fmt.Errorf("a computed range: %s", errSupported)
		}
		q.window = max(q.window, m.Range)
		return q.check(m.VectorSelector)
	}
	return fmt.Errorf("%s: %s", strings.TrimSpace(e.String()), errSupported)
}

// History is the scrapes a pods source keeps for range functions, oldest
// first. It is not safe for concurrent use.
type History struct {
	reads []read
}

type read struct {
	at time.Time
	v  model.Vector
}

// Add appends a scrape taken at at and drops the scrapes older than keep
// before it (the last one is always kept).
func (h *History) Add(at time.Time, v model.Vector, keep time.Duration) {
	h.reads = append(h.reads, read{at: at, v: v})
	cut := 0
	for cut < len(h.reads)-1 && at.Sub(h.reads[cut].at) > keep {
		cut++
	}
	h.reads = slices.Delete(h.reads, 0, cut)
}

// Eval evaluates q at the newest scrape of h. No scrape, or a query that
// selects nothing, gives an empty vector: the series is absent.
func (q *Query) Eval(h *History) (model.Vector, error) {
	if q.local != nil {
		return nil, q.local
	}
	if len(h.reads) == 0 {
		return nil, nil
	}
	return evalNode(q.expr, h)
}

func evalNode(e parser.Expr, h *History) (model.Vector, error) {
	switch n := e.(type) {
	case *parser.ParenExpr:
		return evalNode(n.Expr, h)
	case *parser.VectorSelector:
		return selectSeries(h.reads[len(h.reads)-1].v, n), nil
	case *parser.Call:
		return evalRange(n.Func.Name, n.Args[0].(*parser.MatrixSelector), h), nil
	case *parser.AggregateExpr:
		in, err := evalNode(n.Expr, h)
		if err != nil {
			return nil, err
		}
		return aggregate(n, in, h.reads[len(h.reads)-1].at), nil
	}
	return nil, errors.New(errSupported)
}

func matches(m model.Metric, sel *parser.VectorSelector) bool {
	for _, lm := range sel.LabelMatchers {
		if !lm.Matches(string(m[model.LabelName(lm.Name)])) {
			return false
		}
	}
	return true
}

func selectSeries(v model.Vector, sel *parser.VectorSelector) model.Vector {
	var out model.Vector
	for _, s := range v {
		if matches(s.Metric, sel) {
			out = append(out, s)
		}
	}
	return out
}

// evalRange computes rate, irate or increase per series from the scrapes
// inside the range ending at the newest one.
func evalRange(fn string, m *parser.MatrixSelector, h *History) model.Vector {
	sel := m.VectorSelector.(*parser.VectorSelector)
	end := h.reads[len(h.reads)-1].at
	type point struct {
		t time.Time
		v float64
	}
	series := map[model.Fingerprint][]point{}
	metrics := map[model.Fingerprint]model.Metric{}
	var order []model.Fingerprint
	for _, r := range h.reads {
		if end.Sub(r.at) >= m.Range {
			continue
		}
		for _, s := range r.v {
			if !matches(s.Metric, sel) {
				continue
			}
			fp := s.Metric.Fingerprint()
			if _, ok := metrics[fp]; !ok {
				metrics[fp] = s.Metric
				order = append(order, fp)
			}
			series[fp] = append(series[fp], point{r.at, float64(s.Value)})
		}
	}
	var out model.Vector
	for _, fp := range order {
		pts := series[fp]
		if len(pts) < 2 {
			continue
		}
		first, last := pts[0], pts[len(pts)-1]
		if fn == "irate" {
			first = pts[len(pts)-2]
		}
		var inc float64
		prev := first.v
		for _, p := range pts {
			if p.t.Before(first.t) {
				continue
			}
			if p.v < prev { // a counter reset: it started again from 0
				inc += p.v
			} else {
				inc += p.v - prev
			}
			prev = p.v
		}
		val := inc
		if fn != "increase" {
			secs := last.t.Sub(first.t).Seconds()
			if secs <= 0 {
				continue
			}
			val = inc / secs
		}
		lbls := metrics[fp].Clone()
		delete(lbls, model.MetricNameLabel)
		out = append(out, &model.Sample{Metric: lbls, Value: model.SampleValue(val), Timestamp: model.TimeFromUnixNano(end.UnixNano())})
	}
	return out
}

// aggregate applies sum, min, max, avg or count by (or without) labels.
func aggregate(n *parser.AggregateExpr, in model.Vector, at time.Time) model.Vector {
	type group struct {
		labels model.Metric
		vals   []float64
	}
	groups := map[model.Fingerprint]*group{}
	var order []model.Fingerprint
	for _, s := range in {
		key := model.Metric{}
		if n.Without {
			key = s.Metric.Clone()
			delete(key, model.MetricNameLabel)
			for _, l := range n.Grouping {
				delete(key, model.LabelName(l))
			}
		} else {
			for _, l := range n.Grouping {
				if v, ok := s.Metric[model.LabelName(l)]; ok {
					key[model.LabelName(l)] = v
				}
			}
		}
		fp := key.Fingerprint()
		g, ok := groups[fp]
		if !ok {
			g = &group{labels: key}
			groups[fp] = g
			order = append(order, fp)
		}
		g.vals = append(g.vals, float64(s.Value))
	}
	var out model.Vector
	for _, fp := range order {
		g := groups[fp]
		var v float64
		switch n.Op.String() {
		case "sum", "avg":
			for _, x := range g.vals {
				v += x
			}
			if n.Op.String() == "avg" {
				v /= float64(len(g.vals))
			}
		case "min":
			v = math.Inf(1)
			for _, x := range g.vals {
				v = math.Min(v, x)
			}
		case "max":
			v = math.Inf(-1)
			for _, x := range g.vals {
				v = math.Max(v, x)
			}
		case "count":
			v = float64(len(g.vals))
		}
		out = append(out, &model.Sample{Metric: g.labels, Value: model.SampleValue(v), Timestamp: model.TimeFromUnixNano(at.UnixNano())})
	}
	return out
}
