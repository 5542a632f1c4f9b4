package steps

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/rs/zerolog"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	k8stesting "k8s.io/client-go/testing"

	"github.com/scenario-runner/runner/engine"
	"github.com/scenario-runner/runner/result"
)

// TestApplyListsBefore checks how an apply reads the objects it has not
// touched before it changes them: with one LIST per kind and namespace when
// there are many, else with a GET each, and that what it read serves the
// cleanup as a GET would.
func TestApplyListsBefore(t *testing.T) {
	t.Parallel()
	forEach := func(n int) string {
		return fmt.Sprintf("- apply:\n    forEach: 1..%d\n    as: i\n    manifest: |\n      apiVersion: v1\n      kind: ConfigMap\n      metadata: {name: 'cm-${{ i }}', labels: {set: 'yes'}}\n", n)
	}
	tests := []struct {
		name     string
		steps    string
		existing []string // config maps there before the plan
		listErr  error    // every LIST fails with it
		others   int      // unrelated config maps in the namespace
		lists    int      // LIST requests of the apply
		reads    int      // GETs before applying (the fake's apply GETs once more per object)
		created  int
	}{
		{name: "many new objects: one LIST, no GET", steps: forEach(20), lists: 1, created: 20},
		{name: "few objects: a GET each", steps: forEach(listAtLeast - 1), reads: listAtLeast - 1, created: listAtLeast - 1},
		{name: "some existed: listed as they were", steps: forEach(10), existing: []string{"cm-2", "cm-7"}, lists: 1, created: 8},
		{name: "a LIST that fails: a GET each", steps: forEach(10), listErr: apierrors.NewForbidden(configMaps.GroupResource(), "", fmt.Errorf("no list")), lists: 1, reads: 10, created: 10},
		{name: "a namespace with many others: a GET each", steps: forEach(10), others: listSpan*10 + 2*listPage, lists: 2, reads: 10, created: 10},
		{name: "objects the plan touched already: not read again", steps: forEach(10) + forEach(10), lists: 1, created: 10},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var objs []runtime.Object
			for _, n := range tt.existing {
				objs = append(objs, object(configMap(n, map[string]any{"set": "before"})))
			}
			for i := range tt.others {
				objs = append(objs, object(configMap("other-"+strconv.Itoa(i), nil)))
			}
			cl := newFakeCluster(t, objs...)
			lists := 0
			if tt.listErr != nil {
				cl.dyn.PrependReactor("list", "configmaps", func(k8stesting.Action) (bool, runtime.Object, error) {
					lists++
					return true, nil, tt.listErr
				})
			} else {
				cl.dyn.PrependReactor("list", "configmaps", pageReactor(cl, &lists))
			}
			p := loadYAML(t, "name: t\nsteps:\n"+tt.steps)
			res := engine.Run(t.Context(), p, engine.RunOptions{Cluster: cl, Log: zerolog.Nop(), Cleanup: result.CleanupNever})
			if res.Outcome != result.Passed {
				t.Fatalf("outcome %s: %s", res.Outcome, res.Error)
			}
			applies := 0
			for _, s := range res.Steps {
				d := s.Detail.(*ApplyDetail)
				applies += d.Objects
				if s == res.Steps[0] && d.Created != tt.created {
					t.Errorf("created %d, want %d (%s)", d.Created, tt.created, d.Summary())
				}
			}
			gets := cl.requests()["get"] - applies // the fake's apply reads first
			if lists != tt.lists || gets != tt.reads {
				t.Errorf("%d LISTs and %d GETs before applying, want %d and %d", lists, gets, tt.lists, tt.reads)
			}

			// What was read serves the cleanup: created ones go, the
			// existing ones get their label back.
			cl2 := newFakeCluster(t, objs...)
			res = engine.Run(t.Context(), p, engine.RunOptions{Cluster: cl2, Log: zerolog.Nop(), Cleanup: result.CleanupAlways})
			if res.Outcome != result.Passed || len(res.Cleanup.Errors) != 0 {
				t.Fatalf("outcome %s: %s; cleanup errors %v", res.Outcome, res.Error, res.Cleanup.Errors)
			}
			left, err := cl2.dyn.Resource(configMaps).Namespace("default").List(t.Context(), metav1.ListOptions{})
			if err != nil {
				t.Fatal(err)
			}
			var names []string
			for _, cm := range left.Items {
				if !slices.Contains(tt.existing, cm.GetName()) {
					if len(cm.GetLabels()) != 0 {
						t.Errorf("%s: labels %v after cleanup", cm.GetName(), cm.GetLabels())
					}
					continue
				}
				names = append(names, cm.GetName())
				if l := cm.GetLabels(); len(l) != 1 || l["set"] != "before" {
					t.Errorf("%s: labels %v after cleanup, want only set=before", cm.GetName(), l)
				}
			}
			if len(left.Items)-len(names) != tt.others || len(names) != len(tt.existing) {
				t.Errorf("after cleanup: %d config maps, want the %d existing and %d others", len(left.Items), len(tt.existing), tt.others)
			}
		})
	}
}

// pageReactor serves the fake client's LISTs of config maps page by page,
// honouring limit and continue (the tracker returns everything at once),
// and counts them.
func pageReactor(cl *fakeCluster, lists *int) k8stesting.ReactionFunc {
	return func(a k8stesting.Action) (bool, runtime.Object, error) {
		*lists++
		la := a.(k8stesting.ListActionImpl)
		obj, err := cl.dyn.Tracker().List(configMaps, configMaps.GroupVersion().WithKind("ConfigMap"), la.GetNamespace())
		if err != nil {
			return true, nil, err
		}
		all := obj.(*unstructured.UnstructuredList)
		slices.SortFunc(all.Items, func(a, b unstructured.Unstructured) int { return strings.Compare(a.GetName(), b.GetName()) })
		opts := la.ListOptions
		start := 0
		if opts.Continue != "" {
			start, _ = strconv.Atoi(opts.Continue)
		}
		end := len(all.Items)
		if opts.Limit > 0 && start+int(opts.Limit) < end {
			end = start + int(opts.Limit)
		}
		page := &unstructured.UnstructuredList{Object: all.Object, Items: all.Items[start:end]}
		if end < len(all.Items) {
			page.SetContinue(strconv.Itoa(end))
		}
		return true, page, nil
	}
}
