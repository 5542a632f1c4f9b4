package suite

import (
	"slices"
	"time"

	"github.com/scenario-runner/runner/report"
	"github.com/scenario-runner/runner/result"
)

// DefaultEstimate is a cell's estimate when no report timed it and its
// plan has no timeout.
const DefaultEstimate = 5 * time.Minute

// Timings are the durations earlier reports recorded per cell id, in
// seconds.
type Timings map[string][]float64

// TimingsFrom collects the durations of every cell of reps that ran to an
// end (passed, failed or timed out; not interrupted, skipped or dry runs).
func TimingsFrom(reps []*report.Report) Timings {
	t := Timings{}
	for _, r := range reps {
		for _, p := range r.Plans {
			if p.DryRun || p.Outcome == result.Interrupted || p.Outcome == result.Skipped {
				continue
			}
			t[p.ID] = append(t[p.ID], p.DurationSeconds)
		}
	}
	return t
}

// Estimate is how long c is expected to take, in seconds, and where the
// figure comes from: the median of its timings ("timings"), else its plan's
// timeout ("timeout"), else DefaultEstimate ("default").
func (t Timings) Estimate(c Cell) (float64, string) {
	if d := t[c.ID]; len(d) > 0 {
		return median(d), "timings"
	}
	if c.Timeout > 0 {
		return c.Timeout.Seconds(), "timeout"
	}
	return DefaultEstimate.Seconds(), "default"
}

// Seconds is Estimate without its source, for Partition.
func (t Timings) Seconds(c Cell) float64 {
	s, _ := t.Estimate(c)
	return s
}

func median(xs []float64) float64 {
	s := slices.Clone(xs)
	slices.Sort(s)
	n := len(s)
	if n%2 == 1 {
		return s[n/2]
	}
	return (s[n/2-1] + s[n/2]) / 2
}

// Unfinished returns the ids of the cells of r that failed, timed out or
// were interrupted: what --rerun-failed runs again.
func Unfinished(r *report.Report) map[string]bool {
	ids := map[string]bool{}
	for _, p := range r.Plans {
		switch p.Outcome {
		case result.Failed, result.TimedOut, result.Interrupted:
			ids[p.ID] = true
		}
	}
	return ids
}
