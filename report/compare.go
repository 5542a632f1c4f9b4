package report

import (
	"encoding/json"
	"fmt"
	"maps"
	"math"
	"reflect"
	"slices"
	"strings"
	"time"

	"github.com/scenario-runner/runner/result"
)

// CompareOptions are the thresholds of Compare.
type CompareOptions struct {
	// MaxSlowdown is the ratio by which a statistic may grow (0.2: 20%
	// slower) before it counts as a regression.
	MaxSlowdown float64 `json:"maxSlowdown"`
	// MinDelta is the absolute growth below which nothing regresses.
	MinDelta time.Duration `json:"-"`
	// MinDeltaSeconds is MinDelta in report units.
	MinDeltaSeconds float64 `json:"minDeltaSeconds"`
	// Alpha is the significance level of the rank test used when both
	// sides have at least MinSamples samples.
	Alpha      float64 `json:"alpha"`
	MinSamples int     `json:"minSamples"`
}

// DefaultCompareOptions are runner report compare's defaults.
func DefaultCompareOptions() CompareOptions {
	return CompareOptions{MaxSlowdown: 0.20, MinDelta: 50 * time.Millisecond, Alpha: 0.05, MinSamples: 5}
}

// Cell statuses in a comparison.
const (
	StatusSame         = "same"
	StatusRegressed    = "regressed"
	StatusNewlyFailing = "newly-failing"
	StatusFixed        = "fixed"
	StatusStillFailing = "still-failing"
	StatusMissing      = "missing"
	StatusNew          = "new"
)

// Metric verdicts.
const (
	VerdictSame      = "same"
	VerdictRegressed = "regressed"
	VerdictImproved  = "improved"
	// VerdictNoise: past both thresholds, but the rank test cannot tell
	// the two sets of samples apart.
	VerdictNoise = "noise"
)

// Comparison is what Compare found, cell by cell. It is runner report
// compare's -o json document.
type Comparison struct {
	Baseline     Side           `json:"baseline"`
	Current      Side           `json:"current"`
	Options      CompareOptions `json:"options"`
	Cells        []CellDiff     `json:"cells"`
	Counts       map[string]int `json:"counts" doc:"Cells per status."`
	Regressions  int            `json:"regressions" doc:"Regressed statistics over every cell."`
	NewlyFailing int            `json:"newlyFailing"`
}

// Side describes one of the two reports compared.
type Side struct {
	File           string            `json:"file"`
	Start          time.Time         `json:"start"`
	ClusterVersion string            `json:"clusterVersion,omitempty"`
	Meta           map[string]string `json:"meta,omitempty"`
	Outcome        result.Outcome    `json:"outcome"`
}

// CellDiff compares one cell.
type CellDiff struct {
	ID       string         `json:"id"`
	Status   string         `json:"status"`
	Baseline result.Outcome `json:"baseline,omitempty"`
	Current  result.Outcome `json:"current,omitempty"`
	// Error is the first line of the current run's error, for a cell that
	// fails now.
	Error string `json:"error,omitempty"`
	// VarsChanged lists the variables whose values differ between the two
	// runs (name: baseline → current): their timings may not be comparable.
	VarsChanged []string     `json:"varsChanged,omitempty"`
	Metrics     []MetricDiff `json:"metrics,omitempty"`
}

// MetricDiff compares one timing of a cell: its duration, a step's
// duration (a waitFor's is its time to satisfaction) or a statistic of a
// step's samples (a timeProbe's p50, p90, p99, max, mean).
type MetricDiff struct {
	Name            string   `json:"name"`
	BaselineSeconds float64  `json:"baselineSeconds"`
	CurrentSeconds  float64  `json:"currentSeconds"`
	DeltaSeconds    float64  `json:"deltaSeconds"`
	Ratio           float64  `json:"ratio" doc:"current / baseline (0 when the baseline is 0)."`
	BaselineSamples int      `json:"baselineSamples"`
	CurrentSamples  int      `json:"currentSamples"`
	PValue          *float64 `json:"pValue,omitempty" doc:"One-sided Mann-Whitney U test, when both sides have enough samples."`
	Verdict         string   `json:"verdict"`
}

// Failed reports whether the comparison should fail CI: a regressed
// statistic or a newly failing cell.
func (c *Comparison) Failed() bool { return c.Regressions > 0 || c.NewlyFailing > 0 }

// statNames are the statistics of a step's samples that Compare compares,
// in order.
var statNames = []string{"p50", "p90", "p99", "max", "mean"}

// metric is one timing of a cell with its samples.
type metric struct {
	name    string
	value   float64
	samples []float64
}

// Compare matches the cells of base and cur by id and compares outcome and
// timings. A timing regresses when the current value is larger than the
// baseline by more than MaxSlowdown (as a ratio) and by more than MinDelta
// and, when both sides have at least MinSamples samples, a one-sided
// Mann-Whitney U test finds the current samples larger with p < Alpha
// (otherwise it is noise). Timings are compared only when the cell passed
// on both sides. Which statistics a step has is read from its detail in
// report.json: a detail with statsSeconds (a map of statistic to seconds)
// and samplesSeconds (the samples) is compared statistic by statistic; the
// package names no step kind.
func Compare(base, cur Input, o CompareOptions) *Comparison {
	if o.MinDeltaSeconds == 0 {
		o.MinDeltaSeconds = o.MinDelta.Seconds()
	}
	c := &Comparison{Baseline: side(base), Current: side(cur), Options: o, Counts: map[string]int{}, Cells: []CellDiff{}}
	curByID := map[string]*Plan{}
	for i := range cur.Report.Plans {
		curByID[cur.Report.Plans[i].ID] = &cur.Report.Plans[i]
	}
	seen := map[string]bool{}
	for i := range base.Report.Plans {
		b := &base.Report.Plans[i]
		if seen[b.ID] {
			continue
		}
		seen[b.ID] = true
		cd := CellDiff{ID: b.ID, Baseline: b.Outcome}
		p, ok := curByID[b.ID]
		switch {
		case !ok:
			cd.Status = StatusMissing
		default:
			cd.Current = p.Outcome
			cd.VarsChanged = varsChanged(b.Vars, p.Vars)
			bf, cf := failing(b.Outcome), failing(p.Outcome)
			if cf {
				cd.Error = firstLine(p.Error)
			}
			switch {
			case !bf && cf:
				cd.Status = StatusNewlyFailing
				c.NewlyFailing++
			case bf && !cf:
				cd.Status = StatusFixed
			case bf && cf:
				cd.Status = StatusStillFailing
			default:
				cd.Status = StatusSame
				if b.Outcome == result.Passed && p.Outcome == result.Passed {
					cd.Metrics = compareMetrics(metrics(b), metrics(p), o)
				}
				for _, m := range cd.Metrics {
					if m.Verdict == VerdictRegressed {
						cd.Status = StatusRegressed
						c.Regressions++
					}
				}
			}
		}
		c.Cells = append(c.Cells, cd)
	}
	for i := range cur.Report.Plans {
		p := &cur.Report.Plans[i]
		if !seen[p.ID] {
			seen[p.ID] = true
			c.Cells = append(c.Cells, CellDiff{ID: p.ID, Status: StatusNew, Current: p.Outcome})
		}
	}
	for _, cd := range c.Cells {
		c.Counts[cd.Status]++
	}
	return c
}

func side(in Input) Side {
	return Side{File: in.File, Start: in.Report.Start, ClusterVersion: in.Report.Cluster.Version, Meta: in.Report.Meta, Outcome: in.Report.Outcome}
}

// varsChanged lists "name: a → b" for each variable that differs.
func varsChanged(a, b map[string]any) []string {
	var out []string
	for _, k := range slices.Sorted(maps.Keys(a)) {
		if _, ok := b[k]; !ok {
			out = append(out, fmt.Sprintf("%s: %s → (none)", k, varText(a[k])))
		} else if !reflect.DeepEqual(a[k], b[k]) {
			out = append(out, fmt.Sprintf("%s: %s → %s", k, varText(a[k]), varText(b[k])))
		}
	}
	for _, k := range slices.Sorted(maps.Keys(b)) {
		if _, ok := a[k]; !ok {
			out = append(out, fmt.Sprintf("%s: (none) → %s", k, varText(b[k])))
		}
	}
	return out
}

// firstLine is s up to its first newline, at most 200 runes.
func firstLine(s string) string {
	s, _, _ = strings.Cut(s, "\n")
	if r := []rune(s); len(r) > 200 {
		s = string(r[:200]) + "…"
	}
	return s
}

func failing(o result.Outcome) bool {
	return o == result.Failed || o == result.TimedOut || o == result.Interrupted
}

// metrics lists the timings of a plan: its duration, each step's duration
// (steps named twice get #2, #3), and the statistics of steps whose detail
// carries samples, nested steps included.
func metrics(p *Plan) []metric {
	out := []metric{{name: "duration", value: p.DurationSeconds}}
	count := map[string]int{}
	for i := range p.Steps {
		s := &p.Steps[i]
		if s.Start == nil || s.Outcome != result.Passed {
			continue
		}
		name := "step " + s.Name
		if count[name]++; count[name] > 1 {
			name += fmt.Sprintf(" #%d", count[name])
		}
		out = append(out, metric{name: name, value: s.DurationSeconds})
	}
	walk(p.Steps, "", func(path string, s *Step) {
		stats, samples := sampled(s.Detail)
		for _, n := range statNames {
			if v, ok := stats[n]; ok {
				out = append(out, metric{name: path + " " + n, value: v, samples: samples})
				if len(samples) == 1 {
					break // one sample: every statistic is that sample
				}
			}
		}
	})
	return out
}

// sampled reads statsSeconds and samplesSeconds from a step's detail, as
// report.json has it (a typed detail is encoded first).
func sampled(detail any) (map[string]float64, []float64) {
	if detail == nil {
		return nil, nil
	}
	var d struct {
		Stats   map[string]float64 `json:"statsSeconds"`
		Samples []float64          `json:"samplesSeconds"`
	}
	raw, err := json.Marshal(detail)
	if err != nil || json.Unmarshal(raw, &d) != nil {
		return nil, nil
	}
	return d.Stats, d.Samples
}

func compareMetrics(base, cur []metric, o CompareOptions) []MetricDiff {
	var out []MetricDiff
	for _, b := range base {
		i := slices.IndexFunc(cur, func(m metric) bool { return m.name == b.name })
		if i < 0 {
			continue
		}
		c := cur[i]
		md := MetricDiff{
			Name: b.name, BaselineSeconds: b.value, CurrentSeconds: c.value, DeltaSeconds: c.value - b.value,
			BaselineSamples: max(1, len(b.samples)), CurrentSamples: max(1, len(c.samples)), Verdict: VerdictSame,
		}
		if b.value > 0 {
			md.Ratio = c.value / b.value
		}
		slower := md.DeltaSeconds > o.MinDeltaSeconds && (b.value <= 0 || md.Ratio-1 > o.MaxSlowdown)
		faster := -md.DeltaSeconds > o.MinDeltaSeconds && (c.value <= 0 || b.value/c.value-1 > o.MaxSlowdown)
		tested := len(b.samples) >= o.MinSamples && len(c.samples) >= o.MinSamples
		if tested && (slower || faster) {
			x, y := b.samples, c.samples
			if faster {
				x, y = y, x
			}
			p := MannWhitneyGreater(x, y)
			md.PValue = &p
			if p >= o.Alpha {
				md.Verdict = VerdictNoise
				out = append(out, md)
				continue
			}
		}
		switch {
		case slower:
			md.Verdict = VerdictRegressed
		case faster:
			md.Verdict = VerdictImproved
		}
		out = append(out, md)
	}
	return out
}

// MannWhitneyGreater is the one-sided p-value of the Mann-Whitney U test
// that the values of y tend to be larger than those of x: the chance, if
// both came from one distribution, of a U statistic at least as large as
// the one seen. Without ties and with at most 30 values a side it is exact
// (the distribution of U counted by recurrence); otherwise it is the
// normal approximation with a tie correction and a continuity correction.
func MannWhitneyGreater(x, y []float64) float64 {
	n1, n2 := len(x), len(y)
	if n1 == 0 || n2 == 0 {
		return 1
	}
	// Ranks of the pooled values, ties sharing their mean rank.
	type v struct {
		val  float64
		ofY  bool
		rank float64
	}
	all := make([]v, 0, n1+n2)
	for _, a := range x {
		all = append(all, v{val: a})
	}
	for _, b := range y {
		all = append(all, v{val: b, ofY: true})
	}
	slices.SortFunc(all, func(a, b v) int { return cmpFloat(a.val, b.val) })
	ties := false
	var tieTerm float64
	for i := 0; i < len(all); {
		j := i
		for j < len(all) && all[j].val == all[i].val {
			j++
		}
		r := float64(i+j+1) / 2 // mean of ranks i+1..j
		for k := i; k < j; k++ {
			all[k].rank = r
		}
		if t := float64(j - i); t > 1 {
			ties = true
			tieTerm += t*t*t - t
		}
		i = j
	}
	var ry float64
	for _, a := range all {
		if a.ofY {
			ry += a.rank
		}
	}
	u := ry - float64(n2*(n2+1))/2 // pairs (x, y) with y > x, ties half
	if !ties && n1 <= 30 && n2 <= 30 {
		return exactUpper(n1, n2, int(math.Round(u)))
	}
	n := float64(n1 + n2)
	mean := float64(n1*n2) / 2
	variance := float64(n1*n2) / 12 * ((n + 1) - tieTerm/(n*(n-1)))
	if variance <= 0 {
		return 1
	}
	z := (u - mean - 0.5) / math.Sqrt(variance)
	return 0.5 * math.Erfc(z/math.Sqrt2)
}

func cmpFloat(a, b float64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// exactUpper is P(U >= u) for samples of n1 and n2 without ties. Under
// the null hypothesis U has the distribution of the count of pairs with the
// x value above the y value (it is symmetric), whose number of arrangements
// with count k follows f(m, n, k) = f(m-1, n, k-n) + f(m, n-1, k): the
// largest value is an x, above all n values of y, or a y, above none.
func exactUpper(n1, n2, u int) float64 {
	maxU := n1 * n2
	// f[m][n] is a slice over k.
	f := make([][][]float64, n1+1)
	for m := range f {
		f[m] = make([][]float64, n2+1)
		for n := range f[m] {
			f[m][n] = make([]float64, m*n+1)
			if m == 0 || n == 0 {
				f[m][n][0] = 1
				continue
			}
			for k := 0; k <= m*n; k++ {
				var a, b float64
				if k-n >= 0 && k-n <= (m-1)*n {
					a = f[m-1][n][k-n]
				}
				if k <= m*(n-1) {
					b = f[m][n-1][k]
				}
				f[m][n][k] = a + b
			}
		}
	}
	var total, tail float64
	for k := 0; k <= maxU; k++ {
		total += f[n1][n2][k]
		if k >= u {
			tail += f[n1][n2][k]
		}
	}
	return tail / total
}
