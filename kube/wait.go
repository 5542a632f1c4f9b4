package kube

import (
	"context"
	"fmt"
	"sort"
	"strings"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/dynamic"
)

// WaitGone waits until none of names exists in namespace ns (empty for
// cluster-scoped or all namespaces), watching rather than polling: one LIST,
// then a WATCH from its resourceVersion, re-listing if the watch ends.
// On ctx's end it says which objects were still there.
func WaitGone(ctx context.Context, dyn dynamic.Interface, gvr schema.GroupVersionResource, ns string, names []string) error {
	if len(names) == 0 {
		return nil
	}
	want := make(map[string]bool, len(names))
	for _, n := range names {
		want[n] = true
	}
	ri := dyn.Resource(gvr).Namespace(ns)
	opts := metav1.ListOptions{}
	if len(names) == 1 {
		opts.FieldSelector = fields.OneTermEqualSelector("metadata.name", names[0]).String()
	}
	remaining := map[string]bool{}
	for {
		list, err := ri.List(ctx, opts)
		if err != nil {
			if ctx.Err() != nil {
				return stillThere(ctx, gvr, want)
			}
			return fmt.Errorf("listing %s: %w", gvr.Resource, err)
		}
		clear(remaining)
		for _, item := range list.Items {
			if want[item.GetName()] {
				remaining[item.GetName()] = true
			}
		}
		if len(remaining) == 0 {
			return nil
		}
		wopts := opts
		wopts.ResourceVersion = list.GetResourceVersion()
		wopts.AllowWatchBookmarks = true
		w, err := ri.Watch(ctx, wopts)
		if err != nil {
			if ctx.Err() != nil {
				return stillThere(ctx, gvr, remaining)
			}
			continue
		}
		for done := false; !done; {
			select {
			case <-ctx.Done():
				w.Stop()
				return stillThere(ctx, gvr, remaining)
			case ev, ok := <-w.ResultChan():
				if !ok || ev.Type == watch.Error {
					done = true // re-list
					break
				}
				if ev.Type != watch.Deleted {
					continue
				}
				if m, ok := ev.Object.(metav1.Object); ok && remaining[m.GetName()] {
					delete(remaining, m.GetName())
					if len(remaining) == 0 {
						w.Stop()
						return nil
					}
				}
			}
		}
		w.Stop()
	}
}

func stillThere(ctx context.Context, gvr schema.GroupVersionResource, remaining map[string]bool) error {
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
	return fmt.Errorf("%s still present: %s%s (%v)", gvr.Resource, strings.Join(names, ", "), more, context.Cause(ctx))
}
