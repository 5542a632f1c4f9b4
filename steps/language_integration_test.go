package steps_test

import (
	"context"
	"strings"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"

	"github.com/scenario-runner/runner/engine"
	"github.com/scenario-runner/runner/result"
	"github.com/scenario-runner/runner/steps"
)

var nodes = schema.GroupVersionResource{Version: "v1", Resource: "nodes"}

// TestPatchRemoveLive: a JSON patch remove of one key of a map (as
// detaching a Longhorn volume removes one attachment ticket), checked with
// waitFor and assert, and the key put back by cleanup.
func TestPatchRemoveLive(t *testing.T) {
	c := liveCluster(t)
	ctx := context.Background()
	pre := &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "v1", "kind": "ConfigMap",
		"metadata": map[string]any{"name": "patch-live", "namespace": "default"},
		"data":     map[string]any{"ui": "attach", "csi": "attach"},
	}}
	if _, err := c.Dynamic().Resource(configMaps).Namespace("default").Create(ctx, pre, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		c.Dynamic().Resource(configMaps).Namespace("default").Delete(ctx, "patch-live", metav1.DeleteOptions{})
	})
	r := runLive(t, c, `name: patch-live
steps:
  - patch:
      apiVersion: v1
      kind: ConfigMap
      name: patch-live
      json:
        - {op: remove, path: /data/ui}
      outputs:
        keys: len(objects[0].data)
  - assert: [keys == 1]
  - waitFor:
      apiVersion: v1
      kind: ConfigMap
      name: patch-live
      condition: object.data?.ui == nil && object.data.csi == "attach"
`, nil)
	mustPass(t, r)
	if got := r.Steps[0].Detail.(*steps.PatchDetail); got.Patched != 1 {
		t.Errorf("patch detail %+v", got)
	}
	if len(r.Cleanup.Restored) != 1 {
		t.Errorf("cleanup %+v", r.Cleanup)
	}
	cm, err := c.Dynamic().Resource(configMaps).Namespace("default").Get(ctx, "patch-live", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if ui, _, _ := unstructured.NestedString(cm.Object, "data", "ui"); ui != "attach" {
		t.Errorf("data.ui after cleanup = %q, want it restored to attach", ui)
	}
}

// TestRestoreAfterFailedPlanLive: a plan taints a node and labels it, then
// fails; cleanup leaves the node exactly as it was (taints and labels).
func TestRestoreAfterFailedPlanLive(t *testing.T) {
	c := liveCluster(t)
	ctx := context.Background()
	list, err := c.Dynamic().Resource(nodes).List(ctx, metav1.ListOptions{})
	if err != nil || len(list.Items) == 0 {
		t.Fatalf("nodes: %v", err)
	}
	node := list.Items[0].GetName()
	before := list.Items[0]
	r := runLive(t, c, `name: taint-and-fail
vars: {node: x}
steps:
  - patch:
      apiVersion: v1
      kind: Node
      name: ${{ node }}
      merge:
        metadata: {labels: {runner-test: tainted}}
        spec:
          taints: [{key: runner-test, value: down, effect: NoExecute}]
  - assert: [node == "another-node"]
finally:
  - assert: [true]
`, nil, overrideVar("node", node))
	if r.Outcome != result.Failed || !strings.Contains(r.Error, `node == "another-node": node = "`+node+`"`) {
		t.Fatalf("outcome %s: %s", r.Outcome, r.Error)
	}
	if n := len(r.Steps); n != 3 || r.Steps[2].Outcome != result.Passed {
		t.Errorf("the finally step did not run after the failure: %d steps", n)
	}
	if len(r.Cleanup.Restored) != 1 || len(r.Cleanup.Errors) != 0 {
		t.Fatalf("cleanup %+v", r.Cleanup)
	}
	after, err := c.Dynamic().Resource(nodes).Get(ctx, node, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	bt, _, _ := unstructured.NestedSlice(before.Object, "spec", "taints")
	at, _, _ := unstructured.NestedSlice(after.Object, "spec", "taints")
	if len(at) != len(bt) || after.GetLabels()["runner-test"] != "" {
		t.Errorf("node not restored: taints %v (before %v), labels %v", at, bt, after.GetLabels())
	}
}

// TestExpectErrorLive: the API server refuses to delete the default
// namespace; a step that expects that passes, and names the reason.
func TestExpectErrorLive(t *testing.T) {
	c := liveCluster(t)
	r := runLive(t, c, `name: expect-refusal
steps:
  - delete: {apiVersion: v1, kind: Namespace, name: default}
    expectError: {reason: Forbidden, message: may not be deleted}
  - delete: {apiVersion: v1, kind: Namespace, name: kube-system}
    expectError: {reason: NotFound}
`, nil)
	if r.Outcome != result.Failed || r.Steps[0].Outcome != result.Passed {
		t.Fatalf("outcome %s: %s", r.Outcome, r.Error)
	}
	if want := "expected an error with reason NotFound, but the reason is Forbidden, not NotFound"; !strings.Contains(r.Error, want) {
		t.Errorf("error %q, want it to contain %q", r.Error, want)
	}
}

func overrideVar(name string, v any) engine.Override {
	return engine.Override{Name: name, Value: v, Origin: "test"}
}
