package bench

import (
	"math"
	"testing"
)

func TestSummarize(t *testing.T) {
	for _, tc := range []struct {
		name string
		xs   []float64
		want Summary
	}{
		{"empty", nil, Summary{}},
		{"one", []float64{3}, Summary{N: 1, Min: 3, P50: 3, P90: 3, P99: 3, Max: 3, Mean: 3}},
		{"even median averages", []float64{4, 1, 3, 2}, Summary{N: 4, Min: 1, P50: 2.5, P90: 4, P99: 4, Max: 4, Mean: 2.5}},
		{"odd", []float64{5, 1, 3}, Summary{N: 3, Min: 1, P50: 3, P90: 5, P99: 5, Max: 5, Mean: 3}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := Summarize(tc.xs); got != tc.want {
				t.Errorf("Summarize(%v) = %+v, want %+v", tc.xs, got, tc.want)
			}
		})
	}
}

func TestPercentileNearestRank(t *testing.T) {
	xs := make([]float64, 100)
	for i := range xs {
		xs[i] = float64(i + 1)
	}
	for p, want := range map[float64]float64{90: 90, 99: 99, 100: 100, 1: 1} {
		if got := Percentile(xs, p); got != want {
			t.Errorf("p%v of 1..100 = %v, want %v", p, got, want)
		}
	}
	// 20 trials: p99 is the largest value.
	if got := Percentile(xs[:20], 99); got != 20 {
		t.Errorf("p99 of 1..20 = %v, want 20", got)
	}
	if !math.IsNaN(Percentile(nil, 50)) {
		t.Error("percentile of nothing should be NaN")
	}
}

func TestSpread(t *testing.T) {
	if got := Summarize([]float64{9, 10, 12}).Spread(); got != 0.3 {
		t.Errorf("spread = %v, want 0.3", got)
	}
	if got := Summarize([]float64{9}).Spread(); got != 0 {
		t.Errorf("spread of one value = %v, want 0", got)
	}
}
