package report

import (
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/scenario-runner/runner/result"
)

// A chart is an inline SVG drawing, built in Go and written out by the
// page template: shapes with classes that the page's stylesheet colours.
// Step bars are <rect class="bar" data-outcome="..."> and nothing else has
// the class "bar", so a reader (or a test) can count them.
type chart struct {
	W, H    float64
	Label   string // aria-label
	Rects   []shape
	Lines   []shape
	Polys   []shape
	Circles []shape
	Texts   []shape
}

// shape is one SVG element; which fields matter depends on its kind.
type shape struct {
	Class   string
	Outcome string // data-outcome, for bars and labels
	X, Y    float64
	W, H    float64 // rect size; for lines the end point (X2, Y2)
	Points  string  // polyline
	Text    string
	Anchor  string // text-anchor
	Title   string // tooltip
}

// Timeline layout, in SVG units (the SVG scales to the page width).
const (
	tlWidth  = 1100.0
	tlLabelW = 330.0
	tlRight  = 110.0
	tlTop    = 28.0
	tlRow    = 20.0
	maxLabel = 46
)

// timeline draws one row per step (nested steps indented under their
// timeProbe) on a time axis from the plan's start, and the cleanup.
func timeline(p *Plan) chart {
	start := p.Start
	end := p.End
	if c := p.Cleanup; c != nil && c.End.After(end) {
		end = c.End
	}
	span := end.Sub(start).Seconds()
	if span <= 0 {
		span = 1
	}
	x0, x1 := tlLabelW+10, tlWidth-tlRight
	xOf := func(t time.Time) float64 {
		return x0 + (t.Sub(start).Seconds()/span)*(x1-x0)
	}
	c := chart{W: tlWidth, Label: "timeline of plan " + p.Name}

	y := tlTop
	var row func(steps []Step, depth int)
	row = func(steps []Step, depth int) {
		for _, s := range steps {
			label := strings.Repeat("  ", depth) + s.Name
			c.Texts = append(c.Texts, shape{
				Class: "label", Outcome: string(s.Outcome), X: 6 + float64(depth)*14, Y: y + 14,
				Text: truncate(s.Name, maxLabel-2*depth), Title: label + " (" + s.Position + ")",
			})
			if s.Start == nil {
				c.Texts = append(c.Texts, shape{Class: "note", X: x0 + 2, Y: y + 14, Text: "skipped"})
			} else {
				bx := xOf(*s.Start)
				bw := math.Max(xOf(*s.End)-bx, 1.5)
				c.Rects = append(c.Rects, shape{
					Class: "bar", Outcome: string(s.Outcome), X: bx, Y: y + 4, W: bw, H: tlRow - 8,
					Title: fmt.Sprintf("%s: %s in %s", s.Name, s.Outcome, result.FormatSeconds(s.DurationSeconds)),
				})
				note := result.FormatSeconds(s.DurationSeconds)
				if s.Outcome != result.Passed {
					note += " ✗ " + string(s.Outcome)
				}
				c.Texts = append(c.Texts, shape{Class: "dur", Outcome: string(s.Outcome), X: bx + bw + 4, Y: y + 14, Text: note})
			}
			y += tlRow
			row(s.Steps, depth+1)
		}
	}
	row(p.Steps, 0)
	if cl := p.Cleanup; cl != nil && cl.Ran {
		c.Texts = append(c.Texts, shape{Class: "label cleanup", X: 6, Y: y + 14, Text: "cleanup (" + string(cl.Policy) + ")"})
		bx := xOf(cl.Start)
		bw := math.Max(xOf(cl.End)-bx, 1.5)
		c.Rects = append(c.Rects, shape{Class: "cleanup-bar", X: bx, Y: y + 4, W: bw, H: tlRow - 8,
			Title: fmt.Sprintf("cleanup: deleted %d in %s", len(cl.Deleted), result.FormatSeconds(cl.DurationSeconds))})
		c.Texts = append(c.Texts, shape{Class: "dur", X: bx + bw + 4, Y: y + 14, Text: result.FormatSeconds(cl.DurationSeconds)})
		y += tlRow
	}
	c.H = y + 8
	// time axis: ticks and grid lines across all rows
	step := niceTime(span / 8)
	for t := 0.0; t <= span+1e-9; t += step {
		x := x0 + t/span*(x1-x0)
		c.Lines = append(c.Lines, shape{Class: "grid", X: x, Y: tlTop - 4, W: x, H: y})
		c.Texts = append(c.Texts, shape{Class: "tick", X: x, Y: tlTop - 8, Text: axisTime(t), Anchor: "middle"})
	}
	return c
}

// Small chart layout.
const (
	chW, chH                  = 520.0, 210.0
	chLeft, chRight, chT, chB = 56.0, 16.0, 30.0, 32.0
)

// progressChart draws a step's progress samples: done (satisfied, applied,
// ...) against seconds since the step started, the total needed, and for
// waits how many objects matched.
func progressChart(s *Step) chart {
	c := chart{W: chW, H: chH, Label: "progress of " + s.Name}
	start := *s.Start
	span := math.Max(s.DurationSeconds, s.Progress[len(s.Progress)-1].T.Sub(start).Seconds())
	if span <= 0 {
		span = 1
	}
	top := 1
	matched := false
	for _, p := range s.Progress {
		top = max(top, p.Done, p.Total, p.Matched)
		matched = matched || p.Matched > 0
	}
	yStep := niceCount(float64(top) / 4)
	yMax := math.Ceil(float64(top)/yStep) * yStep
	px0, px1, py0, py1 := chLeft, chW-chRight, chH-chB, chT
	xOf := func(t time.Time) float64 { return px0 + t.Sub(start).Seconds()/span*(px1-px0) }
	yOf := func(v int) float64 { return py0 - float64(v)/yMax*(py0-py1) }

	axes(&c, px0, px1, py0, py1)
	for v := 0.0; v <= yMax+1e-9; v += yStep {
		yy := py0 - v/yMax*(py0-py1)
		c.Lines = append(c.Lines, shape{Class: "grid", X: px0, Y: yy, W: px1, H: yy})
		c.Texts = append(c.Texts, shape{Class: "tick", X: px0 - 6, Y: yy + 4, Text: strconv.Itoa(int(v)), Anchor: "end"})
	}
	tStep := niceTime(span / 5)
	for t := 0.0; t <= span+1e-9; t += tStep {
		x := px0 + t/span*(px1-px0)
		c.Texts = append(c.Texts, shape{Class: "tick", X: x, Y: py0 + 16, Text: axisTime(t), Anchor: "middle"})
	}

	var done, total, match []string
	end := xOf(start.Add(time.Duration(span * float64(time.Second))))
	for i, p := range s.Progress {
		x := xOf(p.T)
		if i > 0 { // hold the previous value until this sample
			prev := s.Progress[i-1]
			done = append(done, pt(x, yOf(prev.Done)))
			total = append(total, pt(x, yOf(prev.Total)))
			match = append(match, pt(x, yOf(prev.Matched)))
		}
		done = append(done, pt(x, yOf(p.Done)))
		total = append(total, pt(x, yOf(p.Total)))
		match = append(match, pt(x, yOf(p.Matched)))
		if len(s.Progress) <= 40 {
			c.Circles = append(c.Circles, shape{Class: "pt", X: x, Y: yOf(p.Done), Title: fmt.Sprintf("%s: %d/%d %s", axisTime(p.T.Sub(start).Seconds()), p.Done, p.Total, p.Unit)})
		}
	}
	last := s.Progress[len(s.Progress)-1]
	done = append(done, pt(end, yOf(last.Done)))
	total = append(total, pt(end, yOf(last.Total)))
	match = append(match, pt(end, yOf(last.Matched)))
	unit := last.Unit
	if unit == "" {
		unit = "done"
	}
	c.Polys = append(c.Polys, shape{Class: "need", Points: strings.Join(total, " ")})
	if matched {
		c.Polys = append(c.Polys, shape{Class: "matched", Points: strings.Join(match, " ")})
	}
	c.Polys = append(c.Polys, shape{Class: "done", Outcome: string(s.Outcome), Points: strings.Join(done, " ")})

	legend := []shape{{Class: "legend done", Text: "— " + unit}, {Class: "legend need", Text: "- - total needed"}}
	if matched {
		legend = append(legend, shape{Class: "legend matched", Text: "··· matched"})
	}
	lx := px0
	for _, l := range legend {
		l.X, l.Y = lx, 16
		c.Texts = append(c.Texts, l)
		lx += 130
	}
	return c
}

// barChart draws a kind's bar chart: one bar per sample and each limit
// (a timeProbe's budgets) as a dashed line.
func barChart(bc *result.BarChart) chart {
	c := chart{W: chW, H: chH, Label: bc.Label}
	text := func(v float64) string {
		if bc.Seconds {
			return result.FormatSeconds(v)
		}
		return strconv.FormatFloat(v, 'g', 3, 64)
	}
	top := 0.0
	for _, b := range bc.Bars {
		top = math.Max(top, b.Value)
	}
	for _, l := range bc.Limits {
		top = math.Max(top, l.Value)
	}
	if top <= 0 {
		top = 1
	}
	yStep := nice125(top * 1.1 / 4)
	if bc.Seconds {
		yStep = niceTime(top * 1.1 / 4)
	}
	yMax := math.Ceil(top*1.1/yStep) * yStep
	px0, px1, py0, py1 := chLeft, chW-chRight, chH-chB, chT
	yOf := func(v float64) float64 { return py0 - v/yMax*(py0-py1) }
	axes(&c, px0, px1, py0, py1)
	for v := 0.0; v <= yMax+1e-9; v += yStep {
		tick := axisTime(v)
		if !bc.Seconds {
			tick = text(v)
		}
		c.Lines = append(c.Lines, shape{Class: "grid", X: px0, Y: yOf(v), W: px1, H: yOf(v)})
		c.Texts = append(c.Texts, shape{Class: "tick", X: px0 - 6, Y: yOf(v) + 4, Text: tick, Anchor: "end"})
	}
	n := len(bc.Bars)
	slot := (px1 - px0) / float64(max(n, 1))
	bw := math.Min(slot*0.7, 48)
	labelEvery := max(1, n/10)
	for i, b := range bc.Bars {
		x := px0 + slot*float64(i) + (slot-bw)/2
		c.Rects = append(c.Rects, shape{Class: "sample", X: x, Y: yOf(b.Value), W: bw, H: py0 - yOf(b.Value),
			Title: fmt.Sprintf("run %s: %s", b.Label, text(b.Value))})
		if n <= 12 {
			c.Texts = append(c.Texts, shape{Class: "value", X: x + bw/2, Y: yOf(b.Value) - 4, Text: text(b.Value), Anchor: "middle"})
		}
		if i%labelEvery == 0 || i == n-1 {
			c.Texts = append(c.Texts, shape{Class: "tick", X: x + bw/2, Y: py0 + 16, Text: b.Label, Anchor: "middle"})
		}
	}
	if n == 0 {
		c.Texts = append(c.Texts, shape{Class: "note", X: (px0 + px1) / 2, Y: (py0 + py1) / 2, Text: "no samples", Anchor: "middle"})
	}
	for _, l := range bc.Limits {
		y := yOf(l.Value)
		c.Lines = append(c.Lines, shape{Class: "budget", X: px0, Y: y, W: px1, H: y})
		c.Texts = append(c.Texts, shape{Class: "budget-label", X: px1 - 4, Y: y - 5, Text: l.Label, Anchor: "end"})
	}
	c.Texts = append(c.Texts, shape{Class: "legend", X: px0, Y: 16, Text: bc.Legend})
	return c
}

func axes(c *chart, x0, x1, y0, y1 float64) {
	c.Lines = append(c.Lines,
		shape{Class: "axis", X: x0, Y: y0, W: x1, H: y0},
		shape{Class: "axis", X: x0, Y: y0, W: x0, H: y1})
}

func pt(x, y float64) string {
	return strconv.FormatFloat(x, 'f', 1, 64) + "," + strconv.FormatFloat(y, 'f', 1, 64)
}

// niceTime picks a tick step in seconds at least raw: 1-2-5 steps below
// ten seconds, then 15s, 30s, 1m, 2m, 5m, 10m, 15m, 30m, 1h, 2h, ...
func niceTime(raw float64) float64 {
	if raw <= 10 {
		return nice125(raw)
	}
	for _, s := range []float64{15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 10800, 21600, 43200, 86400} {
		if s >= raw {
			return s
		}
	}
	return math.Ceil(raw/86400) * 86400
}

// niceCount picks a whole tick step at least raw: 1, 2, 5, 10, 20, ...
func niceCount(raw float64) float64 { return math.Max(1, nice125(raw)) }

func nice125(raw float64) float64 {
	if raw <= 0 {
		return 1
	}
	mag := math.Pow(10, math.Floor(math.Log10(raw)))
	for _, m := range []float64{1, 2, 5, 10} {
		if m*mag >= raw*(1-1e-9) {
			return m * mag
		}
	}
	return 10 * mag
}

// axisTime labels a tick: 0, 250ms, 1.5s, 45s, 2m, 2m30s, 1h, 1h30m.
func axisTime(s float64) string {
	if s == 0 {
		return "0"
	}
	d := time.Duration(math.Round(s*1000)) * time.Millisecond
	if d < time.Minute {
		return d.String()
	}
	d = d.Round(time.Second)
	h, m, sec := int(d/time.Hour), int(d/time.Minute)%60, int(d/time.Second)%60
	var b strings.Builder
	if h > 0 {
		fmt.Fprintf(&b, "%dh", h)
	}
	if m > 0 {
		fmt.Fprintf(&b, "%dm", m)
	}
	if sec > 0 {
		fmt.Fprintf(&b, "%ds", sec)
	}
	return b.String()
}

func truncate(s string, n int) string {
	if r := []rune(s); len(r) > n {
		return string(r[:n-1]) + "…"
	}
	return s
}

// maxLines is how many series a line chart draws; the rest are counted in
// its legend.
const maxLines = 8

// lineChart draws a kind's values over time: one polyline per series (its
// points as dots when there are few), the series' labels as a legend, and
// a note instead of lines when there are none (an absent metric).
func lineChart(lc *result.LineChart) chart {
	c := chart{W: chW, H: chH + 20, Label: lc.Title}
	px0, px1, py0, py1 := chLeft, chW-chRight, chH+20-chB, chT+20
	axes(&c, px0, px1, py0, py1)
	span, lo, hi := 0.0, math.Inf(1), math.Inf(-1)
	for _, l := range lc.Lines {
		for _, p := range l.Points {
			span = math.Max(span, p.T)
			lo, hi = math.Min(lo, p.V), math.Max(hi, p.V)
		}
	}
	for _, m := range lc.Marks {
		span = math.Max(span, m.T)
	}
	if len(lc.Lines) == 0 || math.IsInf(lo, 1) {
		text := lc.Empty
		if text == "" {
			text = "no values"
		}
		c.Texts = append(c.Texts, shape{Class: "note absent", X: (px0 + px1) / 2, Y: (py0 + py1) / 2, Text: text, Anchor: "middle"})
		return c
	}
	if span <= 0 {
		span = 1
	}
	lo = math.Min(lo, 0)
	if hi <= lo {
		hi = lo + 1
	}
	yStep := nice125((hi - lo) * 1.1 / 4)
	yMin := math.Floor(lo/yStep) * yStep
	yMax := math.Ceil(hi*1.05/yStep) * yStep
	if yMax <= yMin {
		yMax = yMin + yStep
	}
	xOf := func(t float64) float64 { return px0 + t/span*(px1-px0) }
	yOf := func(v float64) float64 { return py0 - (v-yMin)/(yMax-yMin)*(py0-py1) }
	for v := yMin; v <= yMax+yStep/1e6; v += yStep {
		c.Lines = append(c.Lines, shape{Class: "grid", X: px0, Y: yOf(v), W: px1, H: yOf(v)})
		c.Texts = append(c.Texts, shape{Class: "tick", X: px0 - 6, Y: yOf(v) + 4, Text: strconv.FormatFloat(v, 'g', 4, 64), Anchor: "end"})
	}
	tStep := niceTime(span / 5)
	for t := 0.0; t <= span+1e-9; t += tStep {
		c.Texts = append(c.Texts, shape{Class: "tick", X: xOf(t), Y: py0 + 16, Text: axisTime(t), Anchor: "middle"})
	}
	for _, m := range lc.Marks {
		c.Lines = append(c.Lines, shape{Class: "mark", X: xOf(m.T), Y: py1, W: xOf(m.T), H: py0})
		c.Texts = append(c.Texts, shape{Class: "tick", X: xOf(m.T) + 2, Y: py1 + 8, Text: m.Label})
	}
	lx := px0
	for i, l := range lc.Lines {
		if i == maxLines {
			c.Texts = append(c.Texts, shape{Class: "legend", X: lx, Y: 32, Text: fmt.Sprintf("+%d more", len(lc.Lines)-maxLines)})
			break
		}
		class := fmt.Sprintf("series s%d", i)
		pts := make([]string, len(l.Points))
		for j, p := range l.Points {
			pts[j] = pt(xOf(p.T), yOf(p.V))
			if len(l.Points) <= 60 {
				c.Circles = append(c.Circles, shape{Class: class, X: xOf(p.T), Y: yOf(p.V),
					Title: fmt.Sprintf("%s at %s: %s", l.Label, axisTime(p.T), strconv.FormatFloat(p.V, 'g', 6, 64))})
			}
		}
		c.Polys = append(c.Polys, shape{Class: class, Points: strings.Join(pts, " ")})
		label := truncate(l.Label, 34)
		c.Texts = append(c.Texts, shape{Class: "legend " + class, X: lx, Y: 32, Text: "— " + label, Title: l.Label})
		lx += 12 + 6*float64(len([]rune(label)))
		if lx > px1-80 {
			lx = px0
		}
	}
	return c
}
