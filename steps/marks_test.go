package steps

import (
	"encoding/json"
	"reflect"
	"strings"
	"testing"

	"github.com/rs/zerolog"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	k8stesting "k8s.io/client-go/testing"

	"github.com/scenario-runner/runner/engine"
	"github.com/scenario-runner/runner/kube"
	"github.com/scenario-runner/runner/result"
)

// A SIGKILLed run left everything and no way to find it: what an apply
// creates carries the run's labels and creation order, and what it changes
// (an object that existed) carries the merge patch that undoes the change
// instead, never the run label that would have `runner cleanup` delete it.
func TestApplyMarksCreatedAndChangedObjects(t *testing.T) {
	pre := object(map[string]any{
		"apiVersion": "v1", "kind": "ConfigMap",
		"metadata": map[string]any{"name": "pre", "namespace": "default", "labels": map[string]any{"team": "qa"}},
		"data":     map[string]any{"k": "original"},
	})
	cl := newFakeCluster(t, pre)
	p := loadYAML(t, `name: marks-plan
steps:
  - apply:
      manifest: |
        apiVersion: v1
        kind: ConfigMap
        metadata: {name: new-1}
        ---
        apiVersion: v1
        kind: ConfigMap
        metadata: {name: new-2}
        ---
        apiVersion: v1
        kind: ConfigMap
        metadata: {name: pre, labels: {team: perf}}
        data: {k: changed}
`)
	res := engine.Run(t.Context(), p, engine.RunOptions{Cluster: cl, Log: zerolog.Nop(), Cleanup: result.CleanupNever, RunID: "20261201-000000-abcdef"})
	if res.Outcome != result.Passed || res.RunID != "20261201-000000-abcdef" {
		t.Fatalf("outcome %s (%s), run id %q", res.Outcome, res.Error, res.RunID)
	}
	cms := cl.dyn.Resource(schema.GroupVersionResource{Version: "v1", Resource: "configmaps"}).Namespace("default")
	for i, name := range []string{"new-1", "new-2"} {
		u, err := cms.Get(t.Context(), name, metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		l, a := u.GetLabels(), u.GetAnnotations()
		if l[kube.RunLabel] != res.RunID || l[kube.PlanLabel] != "marks-plan" || a[kube.SeqAnnotation] != []string{"1", "2"}[i] {
			t.Errorf("%s: labels %v, annotations %v; want the run, the plan and seq %d", name, l, a, i+1)
		}
	}
	u, err := cms.Get(t.Context(), "pre", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := u.GetLabels()[kube.RunLabel]; ok {
		t.Errorf("the changed object carries %s: runner cleanup would delete it", kube.RunLabel)
	}
	if u.GetLabels()[kube.ChangedByLabel] != res.RunID {
		t.Errorf("labels %v, want %s=%s", u.GetLabels(), kube.ChangedByLabel, res.RunID)
	}
	var patch map[string]any
	if err := json.Unmarshal([]byte(u.GetAnnotations()[kube.RestoreAnnotation(res.RunID)]), &patch); err != nil {
		t.Fatalf("restore record: %v", err)
	}
	md := patch["metadata"].(map[string]any)
	labels := md["labels"].(map[string]any)
	// pre had no annotations: the record removes the whole map it added.
	annotations, hasAnnotations := md["annotations"]
	if patch["data"].(map[string]any)["k"] != "original" || labels["team"] != "qa" ||
		labels[kube.ChangedByLabel] != nil || !hasAnnotations || annotations != nil {
		t.Errorf("restore record %v: want data.k original, team qa, and the marks removed (null)", patch)
	}
	if _, has := labels[kube.ChangedByLabel]; !has {
		t.Errorf("restore record %v does not remove %s", patch, kube.ChangedByLabel)
	}
}

// A SIGKILLed run left what patch and scale changed as changed: only
// apply wrote a restore record. Now every change of an object the plan did
// not create writes its record before its own request, and applying the
// record (what `runner cleanup --run ID` does) gives back the object as it
// was, marks removed.
func TestEveryChangeRecordsItsRestoreBeforeTheRequest(t *testing.T) {
	t.Parallel()
	node := map[string]any{"apiVersion": "v1", "kind": "Node", "metadata": map[string]any{"name": "n1", "labels": map[string]any{"zone": "a"}}}
	sts := map[string]any{"apiVersion": "apps/v1", "kind": "StatefulSet", "metadata": map[string]any{"name": "db", "namespace": "default"}, "spec": map[string]any{"replicas": int64(2)}}
	cm := map[string]any{"apiVersion": "v1", "kind": "ConfigMap", "metadata": map[string]any{"name": "pre", "namespace": "default", "annotations": map[string]any{"a": "b"}}, "data": map[string]any{"k": "original"}}
	tests := []struct {
		name    string
		steps   string
		ref     result.ObjectRef
		orig    map[string]any
		records int // requests writing a record: not again when unchanged
	}{
		{"merge patch of a node", "- patch: {apiVersion: v1, kind: Node, name: n1, merge: {metadata: {labels: {zone: b, drained: 'yes'}}, spec: {taints: [{key: k, effect: NoSchedule}]}}}\n",
			result.ObjectRef{APIVersion: "v1", Kind: "Node", Resource: "nodes", Name: "n1"}, node, 1},
		{"json patch of a node", "- patch: {apiVersion: v1, kind: Node, name: n1, json: [{op: add, path: /spec, value: {unschedulable: true}}, {op: remove, path: /metadata/labels/zone}]}\n",
			result.ObjectRef{APIVersion: "v1", Kind: "Node", Resource: "nodes", Name: "n1"}, node, 1},
		{"scale of a statefulset, twice", "- scale: {apiVersion: apps/v1, kind: StatefulSet, name: db, replicas: 5}\n- scale: {apiVersion: apps/v1, kind: StatefulSet, name: db, replicas: 0}\n",
			result.ObjectRef{APIVersion: "apps/v1", Kind: "StatefulSet", Resource: "statefulsets", Namespace: "default", Name: "db"}, sts, 1},
		{"apply over a config map, then a patch of it", "- apply:\n    manifest: |\n      apiVersion: v1\n      kind: ConfigMap\n      metadata: {name: pre}\n      data: {k: changed, added: x}\n- patch: {apiVersion: v1, kind: ConfigMap, name: pre, merge: {data: {more: v}}}\n",
			result.ObjectRef{APIVersion: "v1", Kind: "ConfigMap", Resource: "configmaps", Namespace: "default", Name: "pre"}, cm, 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			cl := newFakeCluster(t, object(deepCopy(node)), object(deepCopy(sts)), object(deepCopy(cm)))
			p := loadYAML(t, "name: record-plan\nsteps:\n"+tt.steps)
			const id = "20261201-000000-abcdef"
			// CleanupNever: as if killed at the end, before the cleanup.
			res := engine.Run(t.Context(), p, engine.RunOptions{Cluster: cl, Log: zerolog.Nop(), Cleanup: result.CleanupNever, RunID: id})
			if res.Outcome != result.Passed {
				t.Fatalf("outcome %s: %s", res.Outcome, res.Error)
			}
			// Each change's request comes after a request writing the record.
			marked, records := false, 0
			for _, a := range cl.dyn.Actions() {
				if a.GetVerb() != "patch" && a.GetVerb() != "update" {
					continue
				}
				body := ""
				if pa, ok := a.(k8stesting.PatchAction); ok {
					body = string(pa.GetPatch())
				}
				if strings.Contains(body, kube.RestoreAnnotation(id)) {
					marked = true
					records++
				} else if !marked {
					t.Errorf("%s %s sent before any restore record", a.GetVerb(), body)
				}
			}
			if records != tt.records {
				t.Errorf("%d requests wrote a record, want %d", records, tt.records)
			}
			ri := cl.dyn.Resource(kube.GVR(tt.ref)).Namespace(tt.ref.Namespace)
			u, err := ri.Get(t.Context(), tt.ref.Name, metav1.GetOptions{})
			if err != nil {
				t.Fatal(err)
			}
			record := u.GetAnnotations()[kube.RestoreAnnotation(id)]
			if record == "" || u.GetLabels()[kube.ChangedByLabel] != id || u.GetLabels()[kube.ChangedPlanLabel] != "record-plan" {
				t.Fatalf("no restore record: labels %v, annotations %v", u.GetLabels(), u.GetAnnotations())
			}
			if _, err := ri.Patch(t.Context(), tt.ref.Name, types.MergePatchType, []byte(record), metav1.PatchOptions{}); err != nil {
				t.Fatal(err)
			}
			u, _ = ri.Get(t.Context(), tt.ref.Name, metav1.GetOptions{})
			got := u.DeepCopy().Object
			unstructured.RemoveNestedField(got, "metadata", "resourceVersion")
			if !reflect.DeepEqual(got, tt.orig) {
				t.Errorf("after the record:\n%v\nwant\n%v", got, tt.orig)
			}
		})
	}
}

func deepCopy(m map[string]any) map[string]any { return runtime.DeepCopyJSON(m) }
