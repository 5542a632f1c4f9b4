package engine

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"

	"github.com/scenario-runner/runner/engine/kube"
)

// cleaner records what a run created or changed, in order, and deletes the
// created objects in reverse order at the end.
type cleaner struct {
	mu      sync.Mutex
	entries []cleanupEntry
	index   map[ObjectRef]int
	wave    int // the top-level step number, objects of one step go together
}

type cleanupEntry struct {
	ref     ObjectRef
	created bool
	wave    int
}

func newCleaner() *cleaner { return &cleaner{index: map[ObjectRef]int{}} }

func (c *cleaner) key(ref ObjectRef) ObjectRef {
	ref.APIVersion = ""
	ref.Kind = ""
	return ref
}

// Created implements Recorder.
func (c *cleaner) Created(ref ObjectRef) { c.record(ref, true) }

// Changed implements Recorder.
func (c *cleaner) Changed(ref ObjectRef) { c.record(ref, false) }

func (c *cleaner) record(ref ObjectRef, created bool) {
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

// cleanupParallel bounds concurrent deletes within one wave.
const cleanupParallel = 16

// run deletes every created object, wave by wave in reverse order, each
// wave's objects together, and waits until they are gone. NotFound is
// success. Every error is kept.
func (c *cleaner) run(ctx context.Context, cl Cluster, res *CleanupResult) {
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
		var wave []ObjectRef
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
		deleted, left, errs := deleteWave(ctx, cl, wave)
		res.Deleted = append(res.Deleted, deleted...)
		res.Left = append(res.Left, left...)
		res.Errors = append(res.Errors, errs...)
	}
}

func deleteWave(ctx context.Context, cl Cluster, refs []ObjectRef) (deleted, left []ObjectRef, errs []string) {
	var mu sync.Mutex
	var wg sync.WaitGroup
	sem := make(chan struct{}, cleanupParallel)
	type group struct {
		gvr schema.GroupVersionResource
		ns  string
	}
	gone := map[group][]ObjectRef{}
	// Foreground: an object is gone only once its dependents are (a
	// StatefulSet's pods, and its claims under a Delete retention policy),
	// so waiting for it waits for them too.
	policy := metav1.DeletePropagationForeground
	for _, ref := range refs {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			err := retryRefused(ctx, func() error {
				return cl.Dynamic().Resource(ref.GVR).Namespace(ref.Namespace).Delete(ctx, ref.Name, metav1.DeleteOptions{PropagationPolicy: &policy})
			})
			mu.Lock()
			defer mu.Unlock()
			switch {
			case err == nil || apierrors.IsNotFound(err):
				g := group{ref.GVR, ref.Namespace}
				gone[g] = append(gone[g], ref)
			default:
				left = append(left, ref)
				errs = append(errs, fmt.Sprintf("deleting %s: %v", ref, err))
			}
		}()
	}
	wg.Wait()
	for g, members := range gone {
		names := make([]string, len(members))
		for i, m := range members {
			names[i] = m.Name
		}
		if err := kube.WaitGone(ctx, cl.Dynamic(), g.gvr, g.ns, names); err != nil {
			left = append(left, members...)
			errs = append(errs, fmt.Sprintf("waiting for deletion: %v", err))
			continue
		}
		deleted = append(deleted, members...)
	}
	return deleted, left, errs
}

// refusedRetry bounds how long cleanup retries a delete that an admission
// webhook refuses: such refusals are often transient, e.g. Longhorn refuses
// to delete a backing image while replicas of volumes that are themselves
// being deleted still use it.
const refusedRetry = time.Minute

// retryRefused calls del until it is not refused by an admission webhook,
// backing off from 250ms to 2s, for at most refusedRetry; it returns the
// last error.
func retryRefused(ctx context.Context, del func() error) error {
	deadline := time.Now().Add(refusedRetry)
	for wait := 250 * time.Millisecond; ; wait = min(2*wait, 2*time.Second) {
		err := del()
		if err == nil || !strings.Contains(err.Error(), "admission webhook") || !(apierrors.IsInvalid(err) || apierrors.IsForbidden(err)) || time.Now().After(deadline) {
			return err
		}
		select {
		case <-ctx.Done():
			return err
		case <-time.After(wait):
		}
	}
}

// DefaultCleanupTimeout bounds the whole cleanup.
const DefaultCleanupTimeout = 5 * time.Minute
