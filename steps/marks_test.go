package steps

import (
	"encoding/json"
	"testing"

	"github.com/rs/zerolog"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"

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
