package kube

import (
	"errors"
	"fmt"
	"testing"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/discovery/cached/memory"
	fakediscovery "k8s.io/client-go/discovery/fake"
	dynamicfake "k8s.io/client-go/dynamic/fake"
	k8stesting "k8s.io/client-go/testing"

	"github.com/scenario-runner/runner/result"
)

func TestSortForDeletionAndBatches(t *testing.T) {
	cm := func(run string, seq int, name string) Marked {
		return Marked{Ref: result.ObjectRef{APIVersion: "v1", Kind: "ConfigMap", Resource: "configmaps", Namespace: "ns", Name: name}, RunID: run, Seq: seq}
	}
	ns := Marked{Ref: result.ObjectRef{APIVersion: "v1", Kind: "Namespace", Resource: "namespaces", Name: "ns"}, RunID: "20261201-100000-aaaaaa", Seq: 1}
	dep := Marked{Ref: result.ObjectRef{APIVersion: "apps/v1", Kind: "Deployment", Resource: "deployments", Namespace: "ns", Name: "d"}, RunID: "20261201-100000-aaaaaa", Seq: 4}
	older := cm("20261130-100000-bbbbbb", 9, "old")
	ms := []Marked{older, ns, cm("20261201-100000-aaaaaa", 2, "a"), dep, cm("20261201-100000-aaaaaa", 3, "b")}
	SortForDeletion(ms)
	var got []string
	for _, m := range ms {
		got = append(got, m.Ref.String())
	}
	want := []string{"Deployment/ns/d", "ConfigMap/ns/b", "ConfigMap/ns/a", "Namespace/ns", "ConfigMap/ns/old"}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("order %v, want %v", got, want)
	}
	b := DeletionBatches(ms)
	if len(b) != 4 || len(b[1]) != 2 {
		t.Errorf("batches %v, want 4 with the two ConfigMaps together", b)
	}
}

// runner cleanup skipped the kinds it could not list without a word: each
// comes back as a *ListError naming the kind, beside what the other kinds
// held.
func TestFindMarkedNamesKindsItCannotList(t *testing.T) {
	resources := []*metav1.APIResourceList{
		{GroupVersion: "v1", APIResources: []metav1.APIResource{
			{Name: "configmaps", Kind: "ConfigMap", Namespaced: true, Verbs: []string{"list", "delete"}},
			{Name: "nodes", Kind: "Node", Verbs: []string{"list", "delete"}},
		}},
	}
	disc := &fakediscovery.FakeDiscovery{Fake: &k8stesting.Fake{Resources: resources}}
	cm := &unstructured.Unstructured{Object: map[string]any{"apiVersion": "v1", "kind": "ConfigMap",
		"metadata": map[string]any{"name": "a", "namespace": "ns", "labels": map[string]any{RunLabel: "r1"}}}}
	dyn := dynamicfake.NewSimpleDynamicClientWithCustomListKinds(runtime.NewScheme(), map[schema.GroupVersionResource]string{
		{Version: "v1", Resource: "configmaps"}: "ConfigMapList", {Version: "v1", Resource: "nodes"}: "NodeList",
	}, cm)
	dyn.PrependReactor("list", "nodes", func(k8stesting.Action) (bool, runtime.Object, error) {
		return true, nil, apierrors.NewForbidden(schema.GroupResource{Resource: "nodes"}, "", errors.New("RBAC: no"))
	})
	c := &Client{dyn: dyn, disc: memory.NewMemCacheClient(disc)}
	found, errs := c.FindMarked(t.Context(), RunLabel+"=r1")
	if len(found) != 1 || found[0].Ref.Name != "a" {
		t.Errorf("found %v, want the ConfigMap", found)
	}
	var le *ListError
	if len(errs) != 1 || !errors.As(errs[0], &le) || le.Resource.String() != "nodes" || !apierrors.IsForbidden(errs[0]) {
		t.Errorf("errors %v, want one forbidden *ListError for nodes", errs)
	}
}
