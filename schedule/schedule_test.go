package schedule

import (
	"context"
	"fmt"
	"math/rand/v2"
	"slices"
	"sync"
	"testing"
	"time"
)

type span struct{ start, end int64 }

// record runs jobs under Run and returns each job's span on a logical
// clock (a counter bumped at every start and end), the most that ran at
// once, and the jobs that never started.
func record(ctx context.Context, jobs []Job, n int, work func(i int)) ([]span, int, []int, []int) {
	var mu sync.Mutex
	var clock int64
	spans := make([]span, len(jobs))
	runs := make([]int, len(jobs))
	cur, peak := 0, 0
	ns := Run(ctx, jobs, n, func(ctx context.Context, i int) {
		mu.Lock()
		clock++
		spans[i].start = clock
		runs[i]++
		cur++
		peak = max(peak, cur)
		mu.Unlock()
		work(i)
		mu.Lock()
		clock++
		spans[i].end = clock
		cur--
		mu.Unlock()
	})
	return spans, peak, ns, runs
}

func overlap(a, b span) bool { return a.start < b.end && b.start < a.end }

func TestRunLocks(t *testing.T) {
	locks := []string{"longhorn-settings", "node-drain", "backup-target"}
	for seed := range uint64(20) {
		r := rand.New(rand.NewPCG(seed, 2))
		var jobs []Job
		for i := range 12 + r.IntN(12) {
			j := Job{ID: fmt.Sprint(i)}
			switch x := r.IntN(10); {
			case x == 0:
				j.Locks = []string{Exclusive}
			case x < 5:
				j.Locks = []string{locks[r.IntN(len(locks))]}
			case x < 6:
				j.Locks = []string{locks[0], locks[1]}
			}
			jobs = append(jobs, j)
		}
		n := 1 + r.IntN(5)
		work := make([]time.Duration, len(jobs))
		for i := range work {
			work[i] = time.Duration(1+r.IntN(3)) * time.Millisecond
		}
		spans, peak, ns, runs := record(context.Background(), jobs, n, func(i int) { time.Sleep(work[i]) })
		if len(ns) != 0 || peak > n {
			t.Errorf("seed %d: not started %v, peak %d > %d", seed, ns, peak, n)
		}
		for i := range jobs {
			if runs[i] != 1 {
				t.Errorf("seed %d: job %d ran %d times", seed, i, runs[i])
			}
			for k := i + 1; k < len(jobs); k++ {
				if !overlap(spans[i], spans[k]) {
					continue
				}
				a, b := jobs[i], jobs[k]
				if a.alone() || b.alone() {
					t.Errorf("seed %d: job %d (%v) overlaps job %d (%v), one holds cluster", seed, i, a.Locks, k, b.Locks)
				}
				for _, l := range a.Locks {
					if slices.Contains(b.Locks, l) {
						t.Errorf("seed %d: jobs %d and %d both hold %s and overlap", seed, i, k, l)
					}
				}
			}
		}
	}
}

// TestRunParallel checks that jobs without locks run side by side, and that
// a job waiting for the cluster is not passed by later ones.
func TestRunParallel(t *testing.T) {
	jobs := []Job{{ID: "a"}, {ID: "b"}, {ID: "c"}, {ID: "d"}}
	start := time.Now()
	_, peak, _, _ := record(context.Background(), jobs, 4, func(int) { time.Sleep(50 * time.Millisecond) })
	if peak != 4 || time.Since(start) > 150*time.Millisecond {
		t.Errorf("peak %d after %s, want 4 jobs side by side", peak, time.Since(start))
	}
	jobs = []Job{{ID: "a"}, {ID: "all", Locks: []string{Exclusive}}, {ID: "b"}}
	spans, _, _, _ := record(context.Background(), jobs, 4, func(int) { time.Sleep(5 * time.Millisecond) })
	if !(spans[0].end < spans[1].start && spans[1].end < spans[2].start) {
		t.Errorf("spans %v: want a, then all alone, then b", spans)
	}
}

func TestRunCancel(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	jobs := []Job{{ID: "a"}, {ID: "b"}, {ID: "c"}, {ID: "d"}}
	var mu sync.Mutex
	var sawCancel int
	ns := Run(ctx, jobs, 2, func(ctx context.Context, i int) {
		if i == 1 {
			cancel()
		}
		<-ctx.Done()
		mu.Lock()
		sawCancel++
		mu.Unlock()
	})
	if !slices.Equal(ns, []int{2, 3}) || sawCancel != 2 {
		t.Errorf("not started %v, %d jobs saw the cancel", ns, sawCancel)
	}
}
