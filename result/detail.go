package result

import (
	"math"
	"strings"
	"time"
)

// Detail is what a step kind adds to its step's result. It is encoded into
// report.json as the step's "detail" (its own JSON shape, which the kind
// documents with struct tags), and rendered by the console summary and the
// reports through these methods, so that neither knows the kind.
type Detail interface {
	// Summary is the step's detail on its console summary line, e.g.
	// "242/250 satisfied, 250 matched"; empty for none.
	Summary() string
	// Properties are name/value pairs: JUnit testcase properties and the
	// facts shown beside the step in the HTML report.
	Properties() []Property
}

// Sectioned is a Detail that adds a section to the HTML report: a chart
// of samples against limits, facts and checks (a timeProbe's).
type Sectioned interface {
	Section() *Section
}

// SuiteProperties is a Detail that adds properties to its plan's JUnit
// testsuite, e.g. probe.<name>.p90, so CI can chart them across runs.
type SuiteProperties interface {
	SuiteProperties() []Property
}

// Property is one named value, as text.
type Property struct {
	Name  string `json:"name"`
	Value string `json:"value"`
}

// Section is a step's section of the HTML report.
type Section struct {
	// Group is the heading the section is listed under (e.g. "Time probes").
	Group string
	// Note is one line under the step's name, e.g. "5 run(s) in 3.2s".
	Note string
	// Facts are shown as a table, in order.
	Facts []Property
	// Checks are the step's assertions with the values they read.
	Checks []Check
	// Chart, when set, is drawn as bars against dashed limits.
	Chart *BarChart
	// Plots are drawn under the chart, one line per series against time
	// (a timeProbe's measured metrics).
	Plots []*LineChart
}

// LineChart is values against seconds since a start, one line per series.
type LineChart struct {
	Title string
	// Note is shown under the title, e.g. the query.
	Note  string
	Lines []Line
	// Empty says why there are no lines, e.g. "absent: no pod reported
	// longhorn_engine_state"; the chart then shows it instead.
	Empty string
	// Marks are vertical lines at moments of interest (a run's end).
	Marks []Mark
}

// Line is one series.
type Line struct {
	Label  string
	Points []Point
}

// Point is a value V at T seconds.
type Point struct {
	T, V float64
}

// Mark is a labelled moment, T seconds after the chart's start.
type Mark struct {
	Label string
	T     float64
}

// Check is one assertion and the values it read.
type Check struct {
	Expr   string            `json:"expr"`
	Passed bool              `json:"passed"`
	Values map[string]string `json:"values"`
}

// BarChart is a bar per sample and a dashed line per limit, all in one unit.
type BarChart struct {
	Label  string
	Legend string
	// Seconds is true when values are seconds (drawn as durations).
	Seconds bool
	Bars    []Bar
	Limits  []Limit
}

// Bar is one sample.
type Bar struct {
	Label string
	Value float64
}

// Limit is one budget an assertion sets, e.g. "p90 < 30s (attachBudget)".
type Limit struct {
	Label string  `json:"label"`
	Value float64 `json:"value"`
}

// FormatDuration is the one way durations are written for people: three
// significant digits below a minute (1.23s, 47.2s, 812ms, 5.04µs), whole
// seconds from a minute on (2m5s), without zero units (1h, 2m, not 1h0m0s).
func FormatDuration(d time.Duration) string {
	return trimZeroUnits(RoundDuration(d).String())
}

// RoundDuration rounds d as FormatDuration writes it.
func RoundDuration(d time.Duration) time.Duration {
	if d >= time.Minute || d <= -time.Minute {
		return d.Round(time.Second)
	}
	unit := time.Duration(1)
	for x := d; x >= 1000 || x <= -1000; x /= 10 {
		unit *= 10
	}
	return d.Round(unit)
}

// FormatSeconds is FormatDuration of s seconds.
func FormatSeconds(s float64) string {
	return FormatDuration(time.Duration(math.Round(s * float64(time.Second))))
}

func trimZeroUnits(s string) string {
	if strings.HasSuffix(s, "m0s") {
		s = strings.TrimSuffix(s, "0s")
	}
	if strings.HasSuffix(s, "h0m") {
		s = strings.TrimSuffix(s, "0m")
	}
	return s
}
