package kube

import (
	"context"
	"fmt"
	"math"
	"sort"
	"strings"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/dynamic"
)

// WaitGone waits until none of names exists in namespace ns (empty for
// cluster-scoped or all namespaces), watching rather than polling: one LIST,
// then a WATCH from its resourceVersion, re-listing if the watch ends. A
// failed LIST or WATCH is retried with capped exponential backoff (100 ms
// doubling to 5 s) until ctx ends, so an unreachable API server does not
// make it spin. It returns the names still present when it gave up (nil
// when all are gone), and then an error naming them and the last failure.
func WaitGone(ctx context.Context, dyn dynamic.Interface, gvr schema.GroupVersionResource, ns string, names []string) (map[string]bool, error) {
	if len(names) == 0 {
		return nil, nil
	}
	remaining := make(map[string]bool, len(names))
	for _, n := range names {
		remaining[n] = true
	}
	ri := dyn.Resource(gvr).Namespace(ns)
	opts := metav1.ListOptions{}
	if len(names) == 1 {
		opts.FieldSelector = fields.OneTermEqualSelector("metadata.name", names[0]).String()
	}
	backoff := wait.Backoff{Duration: 100 * time.Millisecond, Factor: 2, Jitter: 0.1, Steps: math.MaxInt32, Cap: 5 * time.Second}
	var lastErr error
	pause := func(err error) bool {
		lastErr = err
		t := time.NewTimer(backoff.Step())
		defer t.Stop()
		select {
		case <-ctx.Done():
			return false
		case <-t.C:
			return true
		}
	}
	for {
		list, err := ri.List(ctx, opts)
		if err != nil {
			if ctx.Err() != nil || !pause(fmt.Errorf("listing %s: %w", gvr.Resource, err)) {
				return remaining, stillThere(ctx, gvr, remaining, lastErr)
			}
			continue
		}
		present := map[string]bool{}
		for _, item := range list.Items {
			if remaining[item.GetName()] {
				present[item.GetName()] = true
			}
		}
		remaining = present
		if len(remaining) == 0 {
			return nil, nil
		}
		wopts := opts
		wopts.ResourceVersion = list.GetResourceVersion()
		wopts.AllowWatchBookmarks = true
		w, err := ri.Watch(ctx, wopts)
		if err != nil {
			if ctx.Err() != nil || !pause(fmt.Errorf("watching %s: %w", gvr.Resource, err)) {
				return remaining, stillThere(ctx, gvr, remaining, lastErr)
			}
			continue
		}
		for done := false; !done; {
			select {
			case <-ctx.Done():
				w.Stop()
				return remaining, stillThere(ctx, gvr, remaining, lastErr)
			case ev, ok := <-w.ResultChan():
				if !ok || ev.Type == watch.Error {
					done = true // re-list
					break
				}
				backoff.Steps, backoff.Duration = math.MaxInt32, 100*time.Millisecond
				if ev.Type != watch.Deleted {
					continue
				}
				if m, ok := ev.Object.(metav1.Object); ok && remaining[m.GetName()] {
					delete(remaining, m.GetName())
					if len(remaining) == 0 {
						w.Stop()
						return nil, nil
					}
				}
			}
		}
		w.Stop()
	}
}

func stillThere(ctx context.Context, gvr schema.GroupVersionResource, remaining map[string]bool, last error) error {
	names := make([]string, 0, len(remaining))
	for n := range remaining {
		names = append(names, n)
	}
	sort.Strings(names)
	more := ""
	if len(names) > 10 {
		more = fmt.Sprintf(" and %d more", len(names)-10)
		names = names[:10]
	}
	why := fmt.Sprint(context.Cause(ctx))
	if last != nil {
		why += "; last error: " + last.Error()
	}
	// wraps ctx.Err(): a caller stopped on purpose can tell this apart
	return fmt.Errorf("%s still present: %s%s (%s)%w", gvr.Resource, strings.Join(names, ", "), more, why, quiet{ctx.Err()})
}

// quiet wraps an error for errors.Is without adding to the message.
type quiet struct{ err error }

func (q quiet) Error() string { return "" }
func (q quiet) Unwrap() error { return q.err }
