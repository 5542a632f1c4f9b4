package report

import (
	"cmp"
	"fmt"
	"html/template"
	"io"
	"maps"
	"math"
	"slices"
	"strings"

	"github.com/scenario-runner/runner/result"
)

// TrendPoint is one report of a trend: where it sits on the x axis.
type TrendPoint struct {
	File  string `json:"file"`
	Label string `json:"label" doc:"Start time, cluster version and --meta pairs."`
}

// TrendSeries is one timing of one cell across the reports; nil where a
// report has no value (the cell did not run, or did not pass).
type TrendSeries struct {
	Name   string     `json:"name"`
	Values []*float64 `json:"valuesSeconds"`
}

// TrendChart is the series drawn together: a cell's duration, or the
// statistics of one of its steps.
type TrendChart struct {
	Cell   string        `json:"cell"`
	Title  string        `json:"title"`
	Series []TrendSeries `json:"series"`
}

// TrendData is runner report trend's model: reports in the order of their
// start times and, per cell, its charts and its outcome in each report.
type TrendData struct {
	Points   []TrendPoint                `json:"points"`
	Charts   []TrendChart                `json:"charts"`
	Outcomes map[string][]result.Outcome `json:"outcomes" doc:"Per cell, its outcome in each report (empty: it did not run)."`
}

// OutcomesOf is a cell's outcome in each report, for the page.
func (t *TrendData) OutcomesOf(cell string) []result.Outcome { return t.Outcomes[cell] }

// Trend lines up the timings of every cell over reports, ordered by their
// start times. Only cells that passed contribute a value: a failed run's
// timings say how it failed, not how fast things are.
func Trend(in []Input) *TrendData {
	in = slices.Clone(in)
	slices.SortStableFunc(in, func(a, b Input) int { return a.Report.Start.Compare(b.Report.Start) })
	t := &TrendData{Outcomes: map[string][]result.Outcome{}}
	charts := map[string]*TrendChart{}
	var order []string
	set := func(cell, title, series string, i int, v float64) {
		key := cell + "\x00" + title
		c := charts[key]
		if c == nil {
			c = &TrendChart{Cell: cell, Title: title}
			charts[key] = c
			order = append(order, key)
		}
		j := slices.IndexFunc(c.Series, func(s TrendSeries) bool { return s.Name == series })
		if j < 0 {
			c.Series = append(c.Series, TrendSeries{Name: series, Values: make([]*float64, len(in))})
			j = len(c.Series) - 1
		}
		c.Series[j].Values[i] = &v
	}
	for i, r := range in {
		t.Points = append(t.Points, TrendPoint{File: r.File, Label: pointLabel(r.Report)})
		for _, p := range r.Report.Plans {
			if t.Outcomes[p.ID] == nil {
				t.Outcomes[p.ID] = make([]result.Outcome, len(in))
			}
			t.Outcomes[p.ID][i] = p.Outcome
			if p.Outcome != result.Passed {
				continue
			}
			set(p.ID, "duration", "duration", i, p.DurationSeconds)
			walk(p.Steps, "", func(path string, s *Step) {
				stats, _ := sampled(s.Detail)
				for _, n := range statNames {
					if v, ok := stats[n]; ok {
						set(p.ID, path, n, i, v)
					}
				}
			})
		}
	}
	slices.SortStableFunc(order, func(a, b string) int {
		return cmp.Compare(strings.SplitN(a, "\x00", 2)[0], strings.SplitN(b, "\x00", 2)[0])
	})
	for _, k := range order {
		t.Charts = append(t.Charts, *charts[k])
	}
	return t
}

func pointLabel(r *Report) string {
	parts := []string{r.Start.UTC().Format("2006-01-02 15:04")}
	if r.Cluster.Version != "" {
		parts = append(parts, r.Cluster.Version)
	}
	for _, k := range slices.Sorted(maps.Keys(r.Meta)) {
		parts = append(parts, k+"="+r.Meta[k])
	}
	return strings.Join(parts, " ")
}

var seriesColors = []string{"#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b"}

// trendSVG draws one chart: a polyline per series, a dot per value with
// its point's label and value as a tooltip, the y axis from 0.
func trendSVG(c TrendChart, points []TrendPoint) template.HTML {
	const w, h, left, bottom, top = 720.0, 180.0, 60.0, 24.0, 10.0
	var maxV float64
	for _, s := range c.Series {
		for _, v := range s.Values {
			if v != nil {
				maxV = math.Max(maxV, *v)
			}
		}
	}
	if maxV == 0 {
		maxV = 1
	}
	n := len(points)
	x := func(i int) float64 {
		if n == 1 {
			return left + (w-left)/2
		}
		return left + float64(i)*(w-left-10)/float64(n-1)
	}
	y := func(v float64) float64 { return top + (h-top-bottom)*(1-v/maxV) }
	var b strings.Builder
	fmt.Fprintf(&b, `<svg xmlns="http://www.w3.org/2000/svg" width="%g" height="%g" role="img">`, w, h)
	for _, f := range []float64{0, 0.5, 1} {
		fmt.Fprintf(&b, `<line x1="%g" x2="%g" y1="%.1f" y2="%.1f" stroke="#ddd"/><text x="%g" y="%.1f" font-size="11" text-anchor="end">%s</text>`,
			left, w, y(f*maxV), y(f*maxV), left-4, y(f*maxV)+4, template.HTMLEscapeString(result.FormatSeconds(f*maxV)))
	}
	for i := range points {
		fmt.Fprintf(&b, `<text x="%.1f" y="%g" font-size="10" text-anchor="middle">%d</text>`, x(i), h-8, i+1)
	}
	for si, s := range c.Series {
		color := seriesColors[si%len(seriesColors)]
		var pts []string
		for i, v := range s.Values {
			if v == nil {
				continue
			}
			pts = append(pts, fmt.Sprintf("%.1f,%.1f", x(i), y(*v)))
		}
		fmt.Fprintf(&b, `<polyline fill="none" stroke="%s" stroke-width="1.5" points="%s"/>`, color, strings.Join(pts, " "))
		for i, v := range s.Values {
			if v == nil {
				continue
			}
			fmt.Fprintf(&b, `<circle cx="%.1f" cy="%.1f" r="3" fill="%s"><title>%s: %s (%s)</title></circle>`, x(i), y(*v), color,
				template.HTMLEscapeString(s.Name), template.HTMLEscapeString(result.FormatSeconds(*v)), template.HTMLEscapeString(points[i].Label))
		}
	}
	b.WriteString(`</svg>`)
	return template.HTML(b.String())
}

var trendPage = template.Must(template.New("trend").Funcs(template.FuncMap{
	"svg": trendSVG,
	"inc": func(i int) int { return i + 1 },
	"color": func(i int) template.CSS {
		return template.CSS(seriesColors[i%len(seriesColors)])
	},
	"last": func(s TrendSeries) string {
		for i := len(s.Values) - 1; i >= 0; i-- {
			if s.Values[i] != nil {
				return result.FormatSeconds(*s.Values[i])
			}
		}
		return ""
	},
}).Parse(`<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>runner report trend</title>
<style>
body{font:14px/1.4 system-ui,sans-serif;margin:2em;color:#222}
table{border-collapse:collapse}td,th{border:1px solid #ccc;padding:2px 8px;text-align:left}
h2{margin-top:1.5em}h3{margin:.8em 0 .2em;font-size:14px}.key span{margin-right:1em}
.runs span{padding:1px 6px;border-radius:3px;background:#eee;margin-right:4px}.runs .failed,.runs .timed-out,.runs .interrupted{background:#fdd;color:#900}
</style></head><body>
<h1>Trend over {{len .T.Points}} report(s)</h1>
<table><tr><th>#</th><th>run</th><th>report</th></tr>
{{range $i, $p := .T.Points}}<tr><td>{{inc $i}}</td><td>{{$p.Label}}</td><td>{{$p.File}}</td></tr>
{{end}}</table>
{{$pts := .T.Points}}{{$cell := ""}}
{{$t := .T}}{{range .T.Charts}}{{if ne .Cell $cell}}{{$cell = .Cell}}<h2><code>{{.Cell}}</code></h2>
<p class="runs">{{range $i, $o := $t.OutcomesOf .Cell}}<span class="{{$o}}">{{inc $i}}: {{if $o}}{{$o}}{{else}}did not run{{end}}</span> {{end}}</p>{{end}}
<h3>{{.Title}}</h3>
<div class="key">{{range $i, $s := .Series}}<span style="color:{{color $i}}">■ {{$s.Name}} (last {{last $s}})</span>{{end}}</div>
{{svg . $pts}}
{{end}}
<footer>Written by runner report trend. Only runs that passed give values; the line under each cell says how each run ended. Self-contained: no scripts, nothing fetched.</footer>
</body></html>
`))

// WriteHTML writes the trend as one self-contained page.
func (t *TrendData) WriteHTML(w io.Writer) error {
	return trendPage.Execute(w, struct{ T *TrendData }{t})
}
