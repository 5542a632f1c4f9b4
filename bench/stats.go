package bench

import (
	"math"
	"slices"
)

// Summary describes a sample: its size, extremes, median, p90 and p99
// (nearest rank), and its spread.
type Summary struct {
	N    int     `json:"n"`
	Min  float64 `json:"min"`
	P50  float64 `json:"p50"`
	P90  float64 `json:"p90"`
	P99  float64 `json:"p99"`
	Max  float64 `json:"max"`
	Mean float64 `json:"mean"`
}

// Summarize computes the Summary of xs (which it does not modify). The
// zero Summary for an empty sample.
func Summarize(xs []float64) Summary {
	if len(xs) == 0 {
		return Summary{}
	}
	s := slices.Clone(xs)
	slices.Sort(s)
	sum := 0.0
	for _, x := range s {
		sum += x
	}
	return Summary{
		N: len(s), Min: s[0], Max: s[len(s)-1], Mean: sum / float64(len(s)),
		P50: Percentile(s, 50), P90: Percentile(s, 90), P99: Percentile(s, 99),
	}
}

// Percentile returns the p-th percentile of sorted by nearest rank: the
// smallest value with at least p% of the sample at or below it. For the
// median of an even-sized sample it averages the two middle values. With 20
// values, p99 is the maximum: say so where it is reported.
func Percentile(sorted []float64, p float64) float64 {
	n := len(sorted)
	if n == 0 {
		return math.NaN()
	}
	if p == 50 && n%2 == 0 {
		return (sorted[n/2-1] + sorted[n/2]) / 2
	}
	rank := int(math.Ceil(p / 100 * float64(n)))
	return sorted[min(max(rank, 1), n)-1]
}

// Spread is (max − min) / median: how far apart the rounds were, relative
// to the median. 0 for fewer than two values.
func (s Summary) Spread() float64 {
	if s.N < 2 || s.P50 == 0 {
		return 0
	}
	return (s.Max - s.Min) / s.P50
}
