package kube

import (
	"context"
	"fmt"
	"sync/atomic"
	"syscall"
	"testing"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	dynfake "k8s.io/client-go/dynamic/fake"
	k8stesting "k8s.io/client-go/testing"

	"github.com/scenario-runner/runner/result"
)

// Absent objects that cleanup "deleted" (NotFound) were counted as
// deleted; a refused connection made the delete fail at once. Now an
// absent object is Absent, and a transient failure is retried and counted.
func TestDeleteAbsentIsNotDeletedAndTransientIsRetried(t *testing.T) {
	cm := &unstructured.Unstructured{}
	cm.SetAPIVersion("v1")
	cm.SetKind("ConfigMap")
	cm.SetNamespace("default")
	cm.SetName("there")
	gvr := schema.GroupVersionResource{Version: "v1", Resource: "configmaps"}
	dyn := dynfake.NewSimpleDynamicClientWithCustomListKinds(runtime.NewScheme(), map[schema.GroupVersionResource]string{gvr: "ConfigMapList"}, cm)
	var refused atomic.Int32
	dyn.PrependReactor("delete", "configmaps", func(a k8stesting.Action) (bool, runtime.Object, error) {
		if a.(k8stesting.DeleteAction).GetName() == "there" && refused.Add(1) <= 2 {
			return true, nil, fmt.Errorf("dial tcp 127.0.0.1:6443: connect: %w", syscall.ECONNREFUSED)
		}
		return false, nil, nil
	})
	ref := func(name string) result.ObjectRef {
		return result.ObjectRef{APIVersion: "v1", Kind: "ConfigMap", Resource: "configmaps", Namespace: "default", Name: name}
	}
	var retries Retries
	d := Delete(context.Background(), dyn, []result.ObjectRef{ref("there"), ref("never-created")}, DeleteOptions{Retries: &retries})
	if len(d.Deleted) != 1 || d.Deleted[0].Name != "there" {
		t.Errorf("deleted %v, want only there", d.Deleted)
	}
	if len(d.Absent) != 1 || d.Absent[0].Name != "never-created" {
		t.Errorf("absent %v, want never-created", d.Absent)
	}
	if len(d.Left) != 0 || len(d.Errs) != 0 {
		t.Errorf("left %v, errors %v", d.Left, d.Errs)
	}
	if n, last := retries.Count(); n != 2 || last == "" {
		t.Errorf("retried %d (%q), want 2", n, last)
	}
}
