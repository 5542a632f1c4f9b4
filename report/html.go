package report

import (
	_ "embed"
	"fmt"
	"html/template"
	"io"
	"strings"
	"time"

	"github.com/scenario-runner/runner/result"
)

//go:embed report.html.tmpl
var pageTemplate string

var page = template.Must(template.New("report").Funcs(template.FuncMap{
	"f1":      func(v float64) string { return fmt.Sprintf("%.1f", v) },
	"dur":     result.FormatSeconds,
	"when":    func(t time.Time) string { return t.Local().Format("2006-01-02 15:04:05 MST") },
	"mark":    func(o result.Outcome) string { return outcomeMark[o] },
	"varText": varText,
}).Parse(pageTemplate))

var outcomeMark = map[result.Outcome]string{
	result.Passed: "passed", result.Failed: "FAILED", result.TimedOut: "TIMED OUT",
	result.Interrupted: "INTERRUPTED", result.Skipped: "skipped",
}

// minChartSeconds is how long a step must run to get a progress chart: the
// chart of a 20ms apply says nothing the timeline does not.
const minChartSeconds = 1.0

// htmlPage is what the page template reads.
type htmlPage struct {
	*Report
	Plans []htmlPlan
	Env   []kv
}

type htmlPlan struct {
	*Plan
	Index    int
	Timeline chart
	Failures []failure
	Progress []titled
	Sections []htmlGroup
	Vars     []kv
	Outputs  []kv
}

// htmlGroup is the sections that step kinds added under one heading.
type htmlGroup struct {
	Heading  string
	Sections []htmlSection
}

type titled struct {
	Title, Note string
	Outcome     result.Outcome
	Chart       chart
}

type htmlSection struct {
	titled
	Facts  []result.Property
	Checks []result.Check
	Plots  []titled
}

type failure struct {
	Step        string
	Position    string
	Outcome     result.Outcome
	Error       string
	Diagnostics []Diagnostic
}

type kv struct{ K, V string }

// WriteHTML writes r as one self-contained HTML page: styles inline, charts
// as inline SVG, no scripts, no fonts or images fetched from anywhere.
//
// Per plan it shows a timeline (one bar per step that ran, nested steps
// indented, failed ones red), the failures with their messages, progress
// charts of the steps that ran for a second or more and reported progress
// at least twice (done against time, with the total needed and, for waits,
// the objects matched), one
// section per step whose kind adds one (a timeProbe: a bar per sample and
// a dashed line per budget its assertions set, its statistics and
// assertions, and a line chart per metric it measured), the cleanup and the
// vars; then the environment.
func (r *Report) WriteHTML(w io.Writer) error {
	pg := htmlPage{Report: r}
	for i := range r.Plans {
		p := &r.Plans[i]
		hp := htmlPlan{Plan: p, Index: i + 1, Timeline: timeline(p)}
		for _, k := range sortedKeys(p.Vars) {
			hp.Vars = append(hp.Vars, kv{k, varText(p.Vars[k])})
		}
		for _, k := range sortedKeys(p.Outputs) {
			hp.Outputs = append(hp.Outputs, kv{k, varText(p.Outputs[k])})
		}
		walk(p.Steps, "", func(path string, s *Step) {
			if s.Error != "" {
				f := failure{Step: path, Position: s.Position, Outcome: s.Outcome, Error: s.Error}
				for _, d := range p.Diagnostics {
					if d.Step == path {
						f.Diagnostics = append(f.Diagnostics, d)
					}
				}
				hp.Failures = append(hp.Failures, f)
			}
			if s.Start == nil {
				return
			}
			if sd, ok := s.detail.(result.Sectioned); ok {
				if sec := sd.Section(); sec != nil {
					hp.addSection(path, s, sec)
					return
				}
			}
			if len(s.Progress) >= 2 && s.DurationSeconds >= minChartSeconds {
				last := s.Progress[len(s.Progress)-1]
				hp.Progress = append(hp.Progress, titled{
					Title: path, Outcome: s.Outcome, Chart: progressChart(s),
					Note: fmt.Sprintf("%d/%d %s after %s", last.Done, last.Total, last.Unit, result.FormatSeconds(s.DurationSeconds)),
				})
			}
		})
		pg.Plans = append(pg.Plans, hp)
	}
	pg.Env = []kv{
		{"runner", r.Runner.Version},
		{"Go", r.Runner.GoVersion + " " + r.Runner.OS + "/" + r.Runner.Arch},
		{"cluster", r.Cluster.Host},
		{"context", r.Cluster.Context},
		{"server version", r.Cluster.Version},
		{"command", strings.Join(append([]string{"runner"}, r.Runner.Args...), " ")},
		{"started", r.Start.Local().Format(time.RFC3339)},
		{"report written", r.Generated.Local().Format(time.RFC3339)},
	}
	return page.Execute(w, pg)
}

// addSection adds a step kind's section under its group's heading.
func (hp *htmlPlan) addSection(path string, s *Step, sec *result.Section) {
	hs := htmlSection{
		titled: titled{Title: path, Outcome: s.Outcome, Note: sec.Note + " in " + result.FormatSeconds(s.DurationSeconds)},
		Facts:  sec.Facts, Checks: sec.Checks,
	}
	if sec.Chart != nil {
		hs.Chart = barChart(sec.Chart)
	}
	for _, lc := range sec.Plots {
		hs.Plots = append(hs.Plots, titled{Title: lc.Title, Note: lc.Note, Outcome: s.Outcome, Chart: lineChart(lc)})
	}
	for i := range hp.Sections {
		if hp.Sections[i].Heading == sec.Group {
			hp.Sections[i].Sections = append(hp.Sections[i].Sections, hs)
			return
		}
	}
	hp.Sections = append(hp.Sections, htmlGroup{Heading: sec.Group, Sections: []htmlSection{hs}})
}

// walk visits steps depth first; path names nested ones "probe / step".
func walk(steps []Step, prefix string, f func(path string, s *Step)) {
	for i := range steps {
		s := &steps[i]
		path := prefix + s.Name
		f(path, s)
		walk(s.Steps, path+" / ", f)
	}
}
