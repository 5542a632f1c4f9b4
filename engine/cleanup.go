package engine

import (
	"context"
	"sync"
	"time"

	"github.com/scenario-runner/runner/kube"
	"github.com/scenario-runner/runner/result"
)

// cleaner records what a run created or changed, in order, and deletes the
// created objects in reverse order at the end.
type cleaner struct {
	mu      sync.Mutex
	entries []cleanupEntry
	index   map[result.ObjectRef]int
	wave    int // the top-level step number, objects of one step go together
}

type cleanupEntry struct {
	ref     result.ObjectRef
	created bool
	wave    int
}

func newCleaner() *cleaner { return &cleaner{index: map[result.ObjectRef]int{}} }

func (c *cleaner) key(ref result.ObjectRef) result.ObjectRef {
	ref.APIVersion = ""
	ref.Kind = ""
	return ref
}

// Created implements Recorder.
func (c *cleaner) Created(ref result.ObjectRef) { c.record(ref, true) }

// Changed implements Recorder.
func (c *cleaner) Changed(ref result.ObjectRef) { c.record(ref, false) }

func (c *cleaner) record(ref result.ObjectRef, created bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	k := c.key(ref)
	if i, ok := c.index[k]; ok {
		// Created once stays created: the plan owns it. Changed first and
		// created later (deleted in between by the plan) is owned too.
		c.entries[i].created = c.entries[i].created || created
		return
	}
	c.index[k] = len(c.entries)
	c.entries = append(c.entries, cleanupEntry{ref: ref, created: created, wave: c.wave})
}

func (c *cleaner) setWave(w int) {
	c.mu.Lock()
	c.wave = w
	c.mu.Unlock()
}

// run deletes every created object, wave by wave in reverse order, each
// wave's objects together (kube.Delete: bounded concurrency, foreground
// only for workloads), and waits until they are gone. NotFound is success.
// Every error is kept.
func (c *cleaner) run(ctx context.Context, cl Cluster, res *result.Cleanup) {
	c.mu.Lock()
	entries := append([]cleanupEntry(nil), c.entries...)
	c.mu.Unlock()
	res.Ran = true
	for _, e := range entries {
		if !e.created {
			res.Changed = append(res.Changed, e.ref)
		}
	}
	for end := len(entries); end > 0; {
		start := end - 1
		for start > 0 && entries[start-1].wave == entries[end-1].wave {
			start--
		}
		var wave []result.ObjectRef
		for i := end - 1; i >= start; i-- {
			if entries[i].created {
				wave = append(wave, entries[i].ref)
			}
		}
		end = start
		if ctx.Err() != nil {
			res.Left = append(res.Left, wave...)
			continue
		}
		d := kube.Delete(ctx, cl.Dynamic(), wave, kube.DeleteOptions{Wait: true})
		res.Deleted = append(res.Deleted, append(d.Deleted, d.Absent...)...)
		res.Left = append(res.Left, d.Left...)
		for _, err := range d.Errs {
			res.Errors = append(res.Errors, err.Error())
		}
	}
}

// DefaultCleanupTimeout bounds the whole cleanup.
const DefaultCleanupTimeout = 5 * time.Minute
