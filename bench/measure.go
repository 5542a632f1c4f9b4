package bench

import (
	"fmt"
	"slices"
	"strings"
)

// MeasureSuite is the cost of a measure block: the same timeProbe run with
// and without one sampling Longhorn's managers every second.
type MeasureSuite struct {
	Managers     int          `json:"managers"`
	Series       int          `json:"series"`
	EverySeconds float64      `json:"everySeconds"`
	Repeat       int          `json:"repeat"`
	Runs         []MeasureRun `json:"runs"`
}

// MeasureRun is one run of the probe plan.
type MeasureRun struct {
	Measured bool    `json:"measured"`
	Round    int     `json:"round"`
	Outcome  string  `json:"outcome"`
	P50      float64 `json:"p50Seconds"`
	P90      float64 `json:"p90Seconds"`
	Seconds  float64 `json:"seconds"`
	CPU      float64 `json:"cpuSeconds"`
	Reads    int     `json:"reads,omitempty"`
	Series   int     `json:"series,omitempty"`
}

// medians of p50, CPU and wall over the runs with or without the measure.
func (s *MeasureSuite) medians(measured bool) (p50, cpu, wall float64, n int) {
	var ps, cs, ws []float64
	for _, r := range s.Runs {
		if r.Measured == measured && r.Outcome == "passed" {
			ps, cs, ws = append(ps, r.P50), append(cs, r.CPU), append(ws, r.Seconds)
		}
	}
	return median(ps), median(cs), median(ws), len(ps)
}

// spread is the range (max - min) of the p50s of the passed runs with or
// without the measure.
func (s *MeasureSuite) spread(measured bool) float64 {
	lo, hi, n := 0.0, 0.0, 0
	for _, r := range s.Runs {
		if r.Measured != measured || r.Outcome != "passed" {
			continue
		}
		if n == 0 || r.P50 < lo {
			lo = r.P50
		}
		if n == 0 || r.P50 > hi {
			hi = r.P50
		}
		n++
	}
	return hi - lo
}

func median(v []float64) float64 {
	if len(v) == 0 {
		return 0
	}
	s := slices.Clone(v)
	slices.Sort(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

func measureSection(b *strings.Builder, r *Results) {
	s := r.Measure
	if s == nil || len(s.Runs) == 0 {
		return
	}
	p := func(format string, a ...any) { fmt.Fprintf(b, format, a...) }
	p("### The cost of measure\n\n")
	p("A timeProbe of %d ConfigMap create-and-delete runs, with and without a `measure` block that reads %d series from %d longhorn-manager pods (the simulator's, through the API server's pod proxy) every %gs; rounds alternate. Goal: the probe's p50 moves by less than 2%%.\n\n",
		s.Repeat, s.Series, s.Managers, s.EverySeconds)
	p0, c0, w0, n0 := s.medians(false)
	p1, c1, w1, n1 := s.medians(true)
	p("| | runs | probe p50 (median) | runner CPU s (median) | wall s (median) |\n|---|---|---|---|---|\n")
	p("| without measure | %d | %s | %.2f | %.1f |\n", n0, fmtMS(p0), c0, w0)
	p("| with measure | %d | %s | %.2f | %.1f |\n", n1, fmtMS(p1), c1, w1)
	if p0 > 0 && c0 > 0 {
		verdict := "met"
		if d := 100 * (p1 - p0) / p0; d >= 2 || d <= -2 {
			verdict = "missed"
		}
		p("\nThe probe's p50 moved by %+.1f%% (goal < 2%%: %s); runner's CPU by %+.2f s (%+.0f%%). Without measure, the p50s of the runs spread over %.0f%% of their median: a smaller move is noise on this machine.\n\n",
			100*(p1-p0)/p0, verdict, c1-c0, 100*(c1-c0)/c0, 100*s.spread(false)/p0)
	}
	p("| round | measure | outcome | p50 | p90 | runner CPU s | reads |\n|---|---|---|---|---|---|---|\n")
	for _, r := range s.Runs {
		p("| %d | %v | %s | %s | %s | %.2f | %d |\n", r.Round, r.Measured, r.Outcome, fmtMS(r.P50), fmtMS(r.P90), r.CPU, r.Reads)
	}
	p("\n")
}

func fmtMS(s float64) string { return fmt.Sprintf("%.1f ms", s*1000) }
