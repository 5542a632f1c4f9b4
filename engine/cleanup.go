package engine

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"sync"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	"github.com/scenario-runner/runner/kube"
	"github.com/scenario-runner/runner/result"
)

// cleaner records what a run created or changed, in order, and at the end
// deletes the created objects and restores the changed ones, in reverse
// order.
type cleaner struct {
	mu      sync.Mutex
	entries []*cleanupEntry
	index   map[result.ObjectRef]*cleanupEntry
	wave    int // the top-level step number, objects of one step go together
}

type cleanupEntry struct {
	ref     result.ObjectRef
	created bool
	wave    int
	// before is the object before the plan's first change; nil when the
	// plan created it or a step said restore: false.
	before map[string]any
	// paths are the fields the plan's changes set; kept those that a step
	// with restore: false set, which are not put back.
	paths, kept [][]string
}

func newCleaner() *cleaner { return &cleaner{index: map[result.ObjectRef]*cleanupEntry{}} }

func (c *cleaner) key(ref result.ObjectRef) result.ObjectRef {
	ref.APIVersion = ""
	ref.Kind = ""
	return ref
}

// entry returns ref's entry, adding one in the current wave.
func (c *cleaner) entry(ref result.ObjectRef) *cleanupEntry {
	k := c.key(ref)
	if e, ok := c.index[k]; ok {
		return e
	}
	e := &cleanupEntry{ref: ref, wave: c.wave}
	c.index[k] = e
	c.entries = append(c.entries, e)
	return e
}

// Known implements Recorder.
func (c *cleaner) Known(ref result.ObjectRef) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	_, ok := c.index[c.key(ref)]
	return ok
}

// Creating implements Recorder: the plan owns what it may have created.
func (c *cleaner) Creating(ref result.ObjectRef) { c.Created(ref) }

// Created implements Recorder. Created once stays created: the plan owns
// it. Changed first and created later (deleted in between by the plan) is
// owned too.
func (c *cleaner) Created(ref result.ObjectRef) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.entry(ref).created = true
}

// Changed implements Recorder.
func (c *cleaner) Changed(ref result.ObjectRef, before map[string]any, paths [][]string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	e := c.entry(ref)
	if e.created {
		return
	}
	if e.before == nil {
		e.before = before
	}
	e.paths = append(e.paths, paths...)
}

// Keep implements Recorder.
func (c *cleaner) Keep(ref result.ObjectRef, before map[string]any, paths [][]string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	e := c.entry(ref)
	if e.created {
		return
	}
	if e.before == nil {
		e.before = before
	}
	e.kept = append(e.kept, paths...)
}

// restorePaths are the changed paths not kept by a restore: false step.
func (e cleanupEntry) restorePaths() [][]string {
	var out [][]string
	for _, p := range e.paths {
		if !slices.ContainsFunc(e.kept, func(k []string) bool { return hasPrefix(p, k) || hasPrefix(k, p) }) {
			out = append(out, p)
		}
	}
	return out
}

func (c *cleaner) setWave(w int) {
	c.mu.Lock()
	c.wave = w
	c.mu.Unlock()
}

// kept lists, without touching the cluster, what a cleanup that does not
// run leaves: created objects as left, changed ones as changed.
func (c *cleaner) kept(res *result.Cleanup) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, e := range c.entries {
		if e.created {
			res.Left = append(res.Left, e.ref)
		} else {
			res.Changed = append(res.Changed, e.ref)
		}
	}
}

// run undoes the plan wave by wave in reverse order: in each wave it puts
// back the fields the plan changed on objects it did not create, then
// deletes the objects it created (kube.Delete: bounded concurrency,
// foreground only for workloads) and waits until they are gone. NotFound is
// success. Every error is kept.
func (c *cleaner) run(ctx context.Context, cl Cluster, res *result.Cleanup) {
	c.mu.Lock()
	entries := make([]cleanupEntry, len(c.entries))
	for i, e := range c.entries {
		entries[i] = *e
	}
	c.mu.Unlock()
	res.Ran = true
	for end := len(entries); end > 0; {
		start := end - 1
		for start > 0 && entries[start-1].wave == entries[end-1].wave {
			start--
		}
		var wave []result.ObjectRef
		for i := end - 1; i >= start; i-- {
			e := entries[i]
			paths := e.restorePaths()
			switch {
			case e.created:
				wave = append(wave, e.ref)
			case len(paths) == 0 || e.before == nil || ctx.Err() != nil:
				res.Changed = append(res.Changed, e.ref)
			default:
				if err := restore(ctx, cl, e.ref, e.before, paths); err != nil {
					res.Changed = append(res.Changed, e.ref)
					res.Errors = append(res.Errors, fmt.Sprintf("restoring %s: %v", e.ref, err))
					break
				}
				res.Restored = append(res.Restored, e.ref)
				if len(e.kept) > 0 {
					res.Changed = append(res.Changed, e.ref) // partly kept
				}
			}
		}
		end = start
		if ctx.Err() != nil {
			res.Left = append(res.Left, wave...)
			continue
		}
		d := kube.Delete(ctx, cl.Dynamic(), wave, kube.DeleteOptions{Wait: true})
		res.Deleted = append(res.Deleted, d.Deleted...)
		res.Left = append(res.Left, d.Left...)
		for _, err := range d.Errs {
			res.Errors = append(res.Errors, err.Error())
		}
	}
}

// restore sends a merge patch that sets every field the plan changed back
// to its value before the first change (removing it where it was absent).
// An object deleted since needs nothing.
func restore(ctx context.Context, cl Cluster, ref result.ObjectRef, before map[string]any, paths [][]string) error {
	patch := RestorePatch(before, paths)
	if len(patch) == 0 {
		return nil
	}
	body, err := json.Marshal(patch)
	if err != nil {
		return err
	}
	_, err = cl.Dynamic().Resource(kube.GVR(ref)).Namespace(ref.Namespace).Patch(ctx, ref.Name, types.MergePatchType, body, metav1.PatchOptions{FieldManager: "runner"})
	if apierrors.IsNotFound(err) {
		return nil
	}
	return err
}

// DefaultCleanupTimeout bounds the whole cleanup.
const DefaultCleanupTimeout = 5 * time.Minute
