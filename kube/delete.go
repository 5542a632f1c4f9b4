package kube

import (
	"context"
	"fmt"
	"sync"

	"golang.org/x/sync/errgroup"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/dynamic"

	"github.com/scenario-runner/runner/result"
)

// GVR is the group, version and resource of ref.
func GVR(ref result.ObjectRef) schema.GroupVersionResource {
	gv, _ := schema.ParseGroupVersion(ref.APIVersion)
	return gv.WithResource(ref.Resource)
}

// Ref names obj of the mapping's resource.
func Ref(gvr schema.GroupVersionResource, kind, namespace, name string) result.ObjectRef {
	return result.ObjectRef{APIVersion: gvr.GroupVersion().String(), Kind: kind, Resource: gvr.Resource, Namespace: namespace, Name: name}
}

// DefaultDeleteParallel bounds concurrent DELETE requests.
const DefaultDeleteParallel = 16

// DeleteOptions configures Delete.
type DeleteOptions struct {
	// Propagation chooses the propagation policy of each object; nil means
	// DefaultPropagation.
	Propagation func(result.ObjectRef) metav1.DeletionPropagation
	// Wait waits, watching, until every deleted object is gone.
	Wait bool
	// DryRun sends server-side dry-run deletes and does not wait.
	DryRun bool
	// Parallel bounds concurrent requests (default DefaultDeleteParallel).
	Parallel int
	// Deleted, when set, is called after each successful request.
	Deleted func(ref result.ObjectRef)
	// Retries counts the requests sent again after a transient error
	// (Transient, and what Retries.Allow adds); nil keeps no count. Each
	// DELETE is retried until ctx ends.
	Retries *Retries
}

// Deletion is what Delete did.
type Deletion struct {
	// Deleted existed and were deleted (and, with Wait, are gone).
	Deleted []result.ObjectRef
	// Absent did not exist when their delete was sent.
	Absent []result.ObjectRef
	// Left may still exist: their delete failed or the wait ended first.
	Left []result.ObjectRef
	// Errs says why, one error per failed request or wait.
	Errs []error
}

// foregroundKinds own dependents that must be gone before the owner counts
// as deleted: a workload's pods (and a StatefulSet's claims under a Delete
// retention policy). Everything else is deleted in the background, so that
// cleanup does not wait for the garbage collector where nothing depends on
// it.
var foregroundKinds = map[string]bool{
	"apps/StatefulSet": true, "apps/Deployment": true, "apps/ReplicaSet": true,
	"apps/DaemonSet": true, "batch/Job": true, "batch/CronJob": true,
}

// DefaultPropagation is foreground for workloads (their pods go first) and
// background for every other object.
func DefaultPropagation(ref result.ObjectRef) metav1.DeletionPropagation {
	gv, _ := schema.ParseGroupVersion(ref.APIVersion)
	if foregroundKinds[gv.Group+"/"+ref.Kind] {
		return metav1.DeletePropagationForeground
	}
	return metav1.DeletePropagationBackground
}

// Delete deletes refs, at most o.Parallel at a time, and with o.Wait waits
// until they are gone. NotFound is success, but counts as Absent, not
// Deleted. A transient failure (Transient) is retried with backoff until
// ctx ends. It is the one delete-and-wait
// of the runner: the delete step and cleanup both use it. It never stops at
// the first error: every object is tried and every error returned.
func Delete(ctx context.Context, dyn dynamic.Interface, refs []result.ObjectRef, o DeleteOptions) Deletion {
	if o.Parallel <= 0 {
		o.Parallel = DefaultDeleteParallel
	}
	if o.Propagation == nil {
		o.Propagation = DefaultPropagation
	}
	var (
		mu  sync.Mutex
		out Deletion
	)
	type group struct {
		gvr schema.GroupVersionResource
		ns  string
	}
	sent := map[group][]result.ObjectRef{}
	var g errgroup.Group
	g.SetLimit(o.Parallel)
	for _, ref := range refs {
		g.Go(func() error {
			policy := o.Propagation(ref)
			opts := metav1.DeleteOptions{PropagationPolicy: &policy}
			if o.DryRun {
				opts.DryRun = []string{metav1.DryRunAll}
			}
			err := Retry(ctx, o.Retries, func(ctx context.Context) error {
				return dyn.Resource(GVR(ref)).Namespace(ref.Namespace).Delete(ctx, ref.Name, opts)
			})
			mu.Lock()
			defer mu.Unlock()
			switch {
			case apierrors.IsNotFound(err):
				out.Absent = append(out.Absent, ref)
			case err != nil:
				out.Left = append(out.Left, ref)
				out.Errs = append(out.Errs, fmt.Errorf("deleting %s: %w", ref, err))
			default:
				if o.Deleted != nil {
					o.Deleted(ref)
				}
				gr := group{GVR(ref), ref.Namespace}
				sent[gr] = append(sent[gr], ref)
			}
			return nil
		})
	}
	_ = g.Wait() // the goroutines report through out, never through the group
	for gr, members := range sent {
		if !o.Wait || o.DryRun {
			out.Deleted = append(out.Deleted, members...)
			continue
		}
		names := make([]string, len(members))
		for i, m := range members {
			names[i] = m.Name
		}
		still, err := WaitGone(ctx, dyn, gr.gvr, gr.ns, names)
		for _, m := range members {
			if still[m.Name] {
				out.Left = append(out.Left, m)
			} else {
				out.Deleted = append(out.Deleted, m)
			}
		}
		if err != nil {
			out.Errs = append(out.Errs, fmt.Errorf("waiting for deletion: %w", err))
		}
	}
	return out
}
