package steps_test

import (
	"context"
	"strings"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/scenario-runner/runner/result"
	"github.com/scenario-runner/runner/steps"
)

// TestApplyLive: forEach + parallel applies, a cluster-scoped object, a
// manifest file, outputs; everything created is gone after cleanup, and an
// object that existed before is changed, listed, and kept.
func TestApplyLive(t *testing.T) {
	c := liveCluster(t)
	ctx := context.Background()
	// A config map that exists before the plan: it must survive cleanup,
	// with what the plan set on it put back.
	pre := &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "v1", "kind": "ConfigMap",
		"metadata": map[string]any{"name": "pre-existing", "namespace": "default"},
		"data":     map[string]any{"owner": "someone else"},
	}}
	if _, err := c.Dynamic().Resource(configMaps).Namespace("default").Create(ctx, pre, metav1.CreateOptions{FieldManager: "kubectl"}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		c.Dynamic().Resource(configMaps).Namespace("default").Delete(ctx, "pre-existing", metav1.DeleteOptions{})
	})

	plan := `
name: apply-live
vars: {n: 40}
steps:
  - apply:
      manifest: |
        apiVersion: v1
        kind: Namespace
        metadata: {name: apply-live}
  - apply:
      forEach: 1..n
      as: i
      parallel: 8
      manifest: |
        apiVersion: v1
        kind: ConfigMap
        metadata:
          name: "cm-${{ i }}"
          namespace: apply-live
          labels: {suite: apply-live}
        data: {index: "${{ i }}"}
      outputs:
        last: objects[len(objects)-1].metadata.name
        uid: objects[0].metadata.uid
  - apply: {file: "manifests/*.yaml"}
  - waitFor:
      apiVersion: v1
      kind: ConfigMap
      namespace: apply-live
      labelSelector: suite=apply-live
      condition: object.data?.index != nil
      count: n
  - waitFor:
      apiVersion: v1
      kind: ConfigMap
      name: "${{ last }}"
      namespace: apply-live
      condition: object.data.index == string(n) && uid != ""
  # Ten objects, one of which exists: read with one LIST (not a GET each),
  # the existing one kept for the restore.
  - apply:
      forEach: 0..9
      as: i
      manifest: |
        apiVersion: v1
        kind: ConfigMap
        metadata: {name: '${{ i == 0 ? "pre-existing" : "extra-" + string(i) }}', namespace: default}
        data: {touched: "yes"}
`
	files := map[string]string{"manifests/a.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: from-file, namespace: apply-live}\n---\napiVersion: v1\nkind: ConfigMap\nmetadata: {name: from-file-2}\n"}
	r := runLive(t, c, plan, files)
	mustPass(t, r)
	if got := r.Steps[1].Detail.(*steps.ApplyDetail); got == nil || got.Created != 40 || got.Changed != 0 {
		t.Errorf("forEach apply: %+v, want 40 created", got)
	}
	if got := r.Steps[5].Detail.(*steps.ApplyDetail); got == nil || got.Changed != 1 || got.Created != 9 {
		t.Errorf("apply over a pre-existing object: %+v, want 1 changed, 9 created", got)
	}
	if len(r.Cleanup.Restored) != 1 || r.Cleanup.Restored[0].Name != "pre-existing" || len(r.Cleanup.Changed) != 0 {
		t.Errorf("cleanup restored %v, changed %v; want pre-existing restored", r.Cleanup.Restored, r.Cleanup.Changed)
	}
	// 1 namespace + 40 + 2 from the file (one in default, by defaults.namespace) + 9 extra.
	if len(r.Cleanup.Deleted) != 52 {
		t.Errorf("cleanup deleted %d objects, want 52: %v", len(r.Cleanup.Deleted), r.Cleanup.Deleted)
	}
	if n := count(t, c, configMaps, "apply-live", ""); n > 1 { // kube-root-ca.crt may linger while the namespace terminates
		t.Errorf("%d config maps left in apply-live", n)
	}
	if _, err := c.Dynamic().Resource(configMaps).Namespace("default").Get(ctx, "from-file-2", metav1.GetOptions{}); err == nil {
		t.Error("from-file-2 (default namespace) survived cleanup")
	}
	got, err := c.Dynamic().Resource(configMaps).Namespace("default").Get(ctx, "pre-existing", metav1.GetOptions{})
	if err != nil {
		t.Fatalf("pre-existing object was deleted by cleanup: %v", err)
	}
	data := got.Object["data"].(map[string]any)
	if _, touched := data["touched"]; touched || data["owner"] != "someone else" {
		t.Errorf("pre-existing object not restored: data %v", data)
	}
}

// TestApplyCRDThenCustomObject: a CRD created by one step is used by the next.
func TestApplyCRDThenCustomObject(t *testing.T) {
	c := liveCluster(t)
	plan := `
name: crd-then-cr
steps:
  - apply:
      manifest: |
        apiVersion: apiextensions.k8s.io/v1
        kind: CustomResourceDefinition
        metadata: {name: widgets.test.runner.dev}
        spec:
          group: test.runner.dev
          scope: Namespaced
          names: {plural: widgets, singular: widget, kind: Widget}
          versions:
            - name: v1
              served: true
              storage: true
              subresources:
                scale: {specReplicasPath: .spec.replicas, statusReplicasPath: .status.replicas}
              schema:
                openAPIV3Schema:
                  type: object
                  properties:
                    spec: {type: object, properties: {size: {type: integer}, replicas: {type: integer}}}
                    status: {type: object, properties: {replicas: {type: integer}}}
  - waitFor:
      resource: customresourcedefinitions.apiextensions.k8s.io
      name: widgets.test.runner.dev
      condition: (object.status?.conditions ?? []) | any(.type == "Established" && .status == "True")
  - apply:
      forEach: 1..3
      as: i
      manifest: |
        apiVersion: test.runner.dev/v1
        kind: Widget
        metadata: {name: "w-${{ i }}"}
        spec:
          size: ${{ i * 10 }}
          replicas: 1
  - scale: {apiVersion: test.runner.dev/v1, kind: Widget, name: w-2, replicas: 7}
  - waitFor:
      resource: widgets.test.runner.dev
      condition: object.spec.size >= 10
      count: 3
  - waitFor:
      apiVersion: test.runner.dev/v1
      kind: Widget
      name: w-2
      condition: object.spec.replicas == 7
  - delete: {apiVersion: test.runner.dev/v1, kind: Widget, name: w-3}
`
	r := runLive(t, c, plan, nil)
	mustPass(t, r)
	if _, err := c.Dynamic().Resource(crds).Get(context.Background(), "widgets.test.runner.dev", metav1.GetOptions{}); err == nil {
		t.Error("the CRD survived cleanup")
	}
}

// TestDeleteBySelectorLive deletes by label and waits until they are gone.
func TestDeleteBySelectorLive(t *testing.T) {
	c := liveCluster(t)
	plan := `
name: delete-live
steps:
  - apply:
      forEach: 1..20
      as: i
      manifest: |
        apiVersion: v1
        kind: ConfigMap
        metadata: {name: "del-${{ i }}", labels: {suite: delete-live}}
  - delete: {apiVersion: v1, kind: ConfigMap, labelSelector: suite=delete-live}
  - waitFor:
      apiVersion: v1
      kind: ConfigMap
      labelSelector: suite=delete-live
      condition: "true"
      exactly: 0
`
	r := runLive(t, c, plan, nil)
	mustPass(t, r)
	if got := r.Steps[1].Detail.(*steps.DeleteDetail); got == nil || got.Deleted != 20 {
		t.Errorf("delete: %+v, want 20 deleted", got)
	}
}

// TestScaleErrorsLive: scaling what has no scale subresource, or nothing.
func TestScaleErrorsLive(t *testing.T) {
	c := liveCluster(t)
	for _, tc := range []struct{ plan, want string }{
		{`
name: scale-no-subresource
steps:
  - apply:
      manifest: |
        apiVersion: v1
        kind: ConfigMap
        metadata: {name: not-scalable}
  - scale: {apiVersion: v1, kind: ConfigMap, name: not-scalable, replicas: 2}
`, "ConfigMap in default named not-scalable has no scale subresource"},
		{`
name: scale-missing
steps:
  - scale: {apiVersion: apps/v1, kind: StatefulSet, name: nope, replicas: 2}
`, "StatefulSet in default named nope: not found"},
		{`
name: unknown-kind
steps:
  - scale: {apiVersion: example.com/v1, kind: Nothing, name: nope, replicas: 2}
`, "kind Nothing of example.com/v1 is not served by the cluster"},
	} {
		r := runLive(t, c, tc.plan, nil)
		if r.Outcome != result.Failed || !strings.Contains(r.Error, tc.want) {
			t.Errorf("%s: outcome %s, error %q; want failed with %q", r.Name, r.Outcome, r.Error, tc.want)
		}
	}
}

// TestApplyErrorKeepsServerMessage: a rejected apply says why, in the
// server's words, and names the object and where its manifest is.
// Regression: the message was "the server rejected our request due to an
// error in our request".
func TestApplyErrorKeepsServerMessage(t *testing.T) {
	c := liveCluster(t)
	r := runLive(t, c, `
name: bad-apply
steps:
  - apply:
      manifest: |
        apiVersion: v1
        kind: ConfigMap
        metadata: {name: "Bad_Name"}
`, nil)
	if r.Outcome != result.Failed {
		t.Fatalf("outcome %s, want failed", r.Outcome)
	}
	for _, want := range []string{"ConfigMap/default/Bad_Name", "plan.yaml:6:9", `metadata.name: Invalid value: "Bad_Name"`} {
		if !strings.Contains(r.Error, want) {
			t.Errorf("error %q does not contain %q", r.Error, want)
		}
	}
}
