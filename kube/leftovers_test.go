package kube

import (
	"fmt"
	"testing"

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
