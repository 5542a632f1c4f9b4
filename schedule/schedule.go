// Package schedule runs jobs (the cells of a suite) concurrently under
// named locks: at most N at once, two jobs that hold a common lock never at
// the same time, and a job that holds the lock "cluster" alone. It is the
// one owner of that concurrency: it hands jobs to workers and holds the
// locks; the jobs share nothing through it. It knows nothing of plans,
// clusters or step kinds.
package schedule

import (
	"context"
	"slices"
	"sync"
)

// Exclusive is the lock that makes a job run alone.
const Exclusive = "cluster"

// Job is one unit of work and the locks it holds while it runs.
type Job struct {
	ID    string
	Locks []string
}

// alone reports whether j runs with nothing beside it.
func (j Job) alone() bool { return slices.Contains(j.Locks, Exclusive) }

// Run calls run(ctx, i) for each job, at most n at a time (n < 1: 1),
// starting them in order as far as their locks allow: a job whose locks are
// held is passed over for the next one that can start, but no job starts
// past a waiting job that holds Exclusive (so that it gets the cluster once
// the running ones end). Once ctx is done no job starts; Run waits for the
// running ones and returns the indexes of the jobs that never started, in
// order.
func Run(ctx context.Context, jobs []Job, n int, run func(ctx context.Context, i int)) (notStarted []int) {
	if n < 1 {
		n = 1
	}
	var (
		mu      sync.Mutex
		held    = map[string]bool{}
		running int
		alone   bool
		pending = make([]int, len(jobs))
		wake    = make(chan struct{}, 1)
		wg      sync.WaitGroup
	)
	for i := range pending {
		pending[i] = i
	}
	canStart := func(j Job) bool {
		if alone || running >= n {
			return false
		}
		if j.alone() {
			return running == 0
		}
		for _, l := range j.Locks {
			if held[l] {
				return false
			}
		}
		return true
	}
	// next picks the job to start now, or -1.
	next := func() int {
		for k, i := range pending {
			j := jobs[i]
			if canStart(j) {
				pending = slices.Delete(pending, k, k+1)
				return i
			}
			if j.alone() {
				return -1 // nothing passes a job waiting for the whole cluster
			}
		}
		return -1
	}
	for {
		mu.Lock()
		if ctx.Err() != nil || len(pending) == 0 {
			notStarted = slices.Clone(pending)
			mu.Unlock()
			break
		}
		i := next()
		if i < 0 {
			mu.Unlock()
			select {
			case <-wake:
			case <-ctx.Done():
			}
			continue
		}
		j := jobs[i]
		running++
		alone = j.alone()
		for _, l := range j.Locks {
			held[l] = true
		}
		mu.Unlock()
		wg.Add(1)
		go func() {
			defer wg.Done()
			run(ctx, i)
			mu.Lock()
			running--
			if j.alone() {
				alone = false
			}
			for _, l := range j.Locks {
				delete(held, l)
			}
			mu.Unlock()
			select {
			case wake <- struct{}{}:
			default:
			}
		}()
	}
	wg.Wait()
	return notStarted
}
