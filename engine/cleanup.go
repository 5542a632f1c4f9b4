package engine

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/rs/zerolog"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/runtime/schema"
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
	seq     int // the last place in the order of creation given out
}

type cleanupEntry struct {
	ref     result.ObjectRef
	created bool
	seq     int // place in the order of creation, once created
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
	e := c.entry(ref)
	e.created = true
	if e.seq == 0 {
		c.seq++
		e.seq = c.seq
	}
}

// Restoring implements Recorder.
func (c *cleaner) Restoring(ref result.ObjectRef, before map[string]any, paths [][]string) map[string]any {
	c.mu.Lock()
	defer c.mu.Unlock()
	all := paths
	if e, ok := c.index[c.key(ref)]; ok {
		if e.before != nil {
			before = e.before
		}
		all = append(slices.Clone(e.paths), paths...)
	}
	return RestorePatch(before, all)
}

// Owned implements Recorder.
func (c *cleaner) Owned(ref result.ObjectRef) (int, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if ref.Name == "" {
		c.seq++
		return c.seq, true
	}
	e, ok := c.index[c.key(ref)]
	if !ok || !e.created {
		return 0, false
	}
	return e.seq, true
}

// Changed implements Recorder.
func (c *cleaner) Changed(ref result.ObjectRef, before map[string]any, paths [][]string) {
	c.change(ref, before, func(e *cleanupEntry) { e.paths = append(e.paths, paths...) })
}

// Keep implements Recorder.
func (c *cleaner) Keep(ref result.ObjectRef, before map[string]any, paths [][]string) {
	c.change(ref, before, func(e *cleanupEntry) { e.kept = append(e.kept, paths...) })
}

// change records a change to ref, which the plan did not create: the first
// before counts, and add records the paths.
func (c *cleaner) change(ref result.ObjectRef, before map[string]any, add func(*cleanupEntry)) {
	c.mu.Lock()
	defer c.mu.Unlock()
	e := c.entry(ref)
	if e.created {
		return
	}
	if e.before == nil {
		e.before = before
	}
	add(e)
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
// success, counted as absent rather than deleted. Transient errors
// (kube.Transient: the API server down or overloaded) and a webhook's
// refusal are retried with backoff until ctx ends; res says how many and
// the last. Every other error is kept. When ctx ends first (a second
// Ctrl-C, the cleanup budget), a last check lists what is really left.
func (c *cleaner) run(ctx context.Context, cl Cluster, res *result.Cleanup, log zerolog.Logger) {
	c.mu.Lock()
	entries := make([]cleanupEntry, len(c.entries))
	for i, e := range c.entries {
		entries[i] = *e
	}
	c.mu.Unlock()
	res.Ran = true
	retries := &kube.Retries{
		Allow: kube.WebhookDenied,
		Log: func(err error, d time.Duration) {
			log.Debug().Err(err).Stringer("in", d).Msg("cleanup: retrying")
		},
	}
	// A restore is a merge patch: a webhook refusing it will refuse it
	// again, so only transient errors are retried.
	restores := &kube.Retries{Log: retries.Log}
	defer func() {
		res.Retried, res.LastRetried = retries.Count()
		if n, last := restores.Count(); n > 0 {
			res.Retried, res.LastRetried = res.Retried+n, last
		}
	}()
	var stopped int // requests that ended with the context
	keep := func(err error) {
		if ctx.Err() != nil && (errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded)) {
			stopped++
			return
		}
		res.Errors = append(res.Errors, err.Error())
	}
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
				did, err := restore(ctx, cl, e.ref, e.before, paths, restores)
				if err != nil {
					res.Changed = append(res.Changed, e.ref)
					keep(fmt.Errorf("restoring %s: %w", e.ref, err))
					break
				}
				if did {
					res.Restored = append(res.Restored, e.ref)
				}
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
		d := kube.Delete(ctx, cl.Dynamic(), wave, kube.DeleteOptions{Wait: true, Retries: retries})
		res.Deleted = append(res.Deleted, d.Deleted...)
		res.Absent += len(d.Absent)
		res.Left = append(res.Left, d.Left...)
		for _, err := range d.Errs {
			keep(err)
		}
	}
	if ctx.Err() != nil {
		if stopped > 0 {
			res.Errors = append(res.Errors, fmt.Sprintf("cleanup stopped (%v) with %d request(s) unanswered", context.Cause(ctx), stopped))
		}
		if len(res.Left) > 0 {
			verifyLeft(cl, res)
		}
	}
}

// verifyCheckTimeout bounds the last check of what a stopped cleanup left.
const verifyCheckTimeout = 2 * time.Second

// verifyLeft lists, once per resource and namespace, the objects a stopped
// cleanup counts as left, and keeps only those that still exist: a second
// Ctrl-C in the middle of a wave must not report the objects deleted in
// it, nor those never created, as left. Gone objects count as absent
// (whether this cleanup's DELETE or nothing removed them). When a list
// fails the objects stay listed and res.LeftUnverified says so.
func verifyLeft(cl Cluster, res *result.Cleanup) {
	if cl == nil {
		res.LeftUnverified = true
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), verifyCheckTimeout)
	defer cancel()
	type group struct {
		gvr schema.GroupVersionResource
		ns  string
	}
	groups := map[group][]result.ObjectRef{}
	var order []group
	for _, ref := range res.Left {
		g := group{kube.GVR(ref), ref.Namespace}
		if _, ok := groups[g]; !ok {
			order = append(order, g)
		}
		groups[g] = append(groups[g], ref)
	}
	var left []result.ObjectRef
	for _, g := range order {
		refs := groups[g]
		opts := metav1.ListOptions{}
		if len(refs) == 1 {
			opts.FieldSelector = fields.OneTermEqualSelector("metadata.name", refs[0].Name).String()
		}
		list, err := cl.Dynamic().Resource(g.gvr).Namespace(g.ns).List(ctx, opts)
		if err != nil {
			res.LeftUnverified = true
			left = append(left, refs...)
			continue
		}
		present := map[string]bool{}
		for _, item := range list.Items {
			present[item.GetName()] = true
		}
		for _, ref := range refs {
			if present[ref.Name] {
				left = append(left, ref)
			} else {
				res.Absent++
			}
		}
	}
	res.Left = left
}

// restore sends a merge patch that sets every field the plan changed back
// to its value before the first change (removing it where it was absent),
// retrying transient errors. An object deleted since needs nothing.
// It reports whether it put anything back: nothing to put back (the plan
// set only server-owned fields, e.g. applied a namespace by name) or an
// object gone since is not a restore.
func restore(ctx context.Context, cl Cluster, ref result.ObjectRef, before map[string]any, paths [][]string, retries *kube.Retries) (bool, error) {
	patch := RestorePatch(before, paths)
	if len(patch) == 0 {
		return false, nil
	}
	body, err := json.Marshal(patch)
	if err != nil {
		return false, err
	}
	err = kube.Retry(ctx, retries, func(ctx context.Context) error {
		_, err := cl.Dynamic().Resource(kube.GVR(ref)).Namespace(ref.Namespace).Patch(ctx, ref.Name, types.MergePatchType, body, metav1.PatchOptions{FieldManager: "runner"})
		return err
	})
	if apierrors.IsNotFound(err) {
		return false, nil
	}
	return err == nil, err
}

// DefaultCleanupTimeout bounds the whole cleanup.
const DefaultCleanupTimeout = 5 * time.Minute
