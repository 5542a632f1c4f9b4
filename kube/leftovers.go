package kube

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"golang.org/x/sync/errgroup"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/discovery"

	"github.com/scenario-runner/runner/result"
)

// Marked is an object found by its run's labels.
type Marked struct {
	Ref   result.ObjectRef
	RunID string
	Seq   int // kube.SeqAnnotation; 0 when absent
	// Restore is, on an object a run changed but did not create, the
	// merge patch that undoes the change (kube.RestoreAnnotation).
	Restore string
}

// ListError is a kind FindMarked could not list: its objects were not
// checked.
type ListError struct {
	Resource schema.GroupResource
	Err      error
}

func (e *ListError) Error() string {
	return fmt.Sprintf("listing %s (skipped): %v", e.Resource, e.Err)
}

func (e *ListError) Unwrap() error { return e.Err }

// FindMarked lists, in every resource kind the server can list and delete,
// the objects matching selector (e.g. "runner.io/run=ID"), across all
// namespaces, in the order to delete them: newest run first, then highest
// kube.SeqAnnotation first, namespaces after what is in them. Kinds whose
// discovery or list fails are skipped and named in the errors, one
// *ListError per kind that could not be listed (forbidden, ...).
func (c *Client) FindMarked(ctx context.Context, selector string) ([]Marked, []error) {
	lists, err := c.disc.ServerPreferredResources()
	var errs []error
	if err != nil {
		var gd *discovery.ErrGroupDiscoveryFailed
		if !errors.As(err, &gd) || len(lists) == 0 {
			return nil, []error{fmt.Errorf("discovery: %w", err)}
		}
		errs = append(errs, fmt.Errorf("discovery (those groups are skipped): %w", err))
	}
	type kind struct {
		gvr  schema.GroupVersionResource
		kind string
	}
	var kinds []kind
	for _, l := range lists {
		gv, err := schema.ParseGroupVersion(l.GroupVersion)
		if err != nil {
			continue
		}
		for _, r := range l.APIResources {
			if strings.Contains(r.Name, "/") || !slices.Contains(r.Verbs, "list") || !slices.Contains(r.Verbs, "delete") {
				continue
			}
			kinds = append(kinds, kind{gv.WithResource(r.Name), r.Kind})
		}
	}
	found := make([][]Marked, len(kinds))
	listErrs := make([]error, len(kinds))
	var g errgroup.Group
	g.SetLimit(8)
	for i, k := range kinds {
		g.Go(func() error {
			var cont string
			for {
				list, err := c.dyn.Resource(k.gvr).List(ctx, metav1.ListOptions{LabelSelector: selector, Limit: 500, Continue: cont})
				if err != nil {
					listErrs[i] = &ListError{Resource: k.gvr.GroupResource(), Err: err}
					return nil
				}
				for _, item := range list.Items {
					seq, _ := strconv.Atoi(item.GetAnnotations()[SeqAnnotation])
					run := item.GetLabels()[RunLabel]
					if run == "" {
						run = item.GetLabels()[ChangedByLabel]
					}
					found[i] = append(found[i], Marked{
						Ref:   Ref(k.gvr, k.kind, item.GetNamespace(), item.GetName()),
						RunID: run, Seq: seq, Restore: item.GetAnnotations()[RestoreAnnotation(run)],
					})
				}
				if cont = list.GetContinue(); cont == "" {
					return nil
				}
			}
		})
	}
	_ = g.Wait()
	var out []Marked
	for i := range kinds {
		out = append(out, found[i]...)
		if listErrs[i] != nil {
			errs = append(errs, listErrs[i])
		}
	}
	SortForDeletion(out)
	return out, errs
}

// SortForDeletion orders marked objects for deletion: newest run first
// (run ids sort by time), highest seq first within a run, namespaces after
// everything else of their run, then by kind and name for a stable order.
func SortForDeletion(ms []Marked) {
	slices.SortStableFunc(ms, func(a, b Marked) int {
		if c := strings.Compare(b.RunID, a.RunID); c != 0 {
			return c
		}
		if an, bn := a.Ref.Kind == "Namespace" && a.Ref.APIVersion == "v1", b.Ref.Kind == "Namespace" && b.Ref.APIVersion == "v1"; an != bn {
			if an {
				return 1
			}
			return -1
		}
		if a.Seq != b.Seq {
			return b.Seq - a.Seq
		}
		return strings.Compare(a.Ref.String(), b.Ref.String())
	})
}

// DeletionBatches cuts ordered objects into runs of one resource: each
// batch is deleted and waited for before the next, so that what was created
// later is gone before what it may depend on, while 300 ConfigMaps of one
// step go in one batch.
func DeletionBatches(ms []Marked) [][]result.ObjectRef {
	var out [][]result.ObjectRef
	var last schema.GroupVersionResource
	for i, m := range ms {
		gvr := GVR(m.Ref)
		if i == 0 || gvr != last {
			out = append(out, nil)
			last = gvr
		}
		out[len(out)-1] = append(out[len(out)-1], m.Ref)
	}
	return out
}
