package longhornsim

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
)

// lifecycle runs a volume on a backing image through attach by a
// longhorn-ui ticket and returns the objects as stored, by CRD name.
func (e *env) lifecycle(prefix string) map[string][]*unstructured.Unstructured {
	e.t.Helper()
	bi, vol := prefix+"-bi", prefix+"-vol"
	e.createLH(backingImageGVR, backingImageObj(bi))
	e.waitFor(condTimeout, bi+" ready", func() (bool, string) { return backingImageReady(e.getLH(backingImageGVR, bi)) })
	e.createLH(volumeGVR, volumeObj(vol, bi))
	e.waitFor(condTimeout, "VolumeAttachment of "+vol, func() (bool, string) { return e.getLH(lhvaGVR, vol) != nil, "missing" })
	e.patchLH(lhvaGVR, vol, map[string]any{"spec": map[string]any{"attachmentTickets": map[string]any{
		"longhorn-ui": map[string]any{"id": "longhorn-ui", "type": "longhorn-api", "nodeID": "node-1",
			"parameters": map[string]any{"disableFrontend": "false", "lastAttachedBy": ""}, "generation": 0}}}})
	e.waitFor(condTimeout, vol+" attached with the ticket satisfied", func() (bool, string) {
		v, va := e.getLH(volumeGVR, vol), e.getLH(lhvaGVR, vol)
		sat := str(va, "status", "attachmentTicketStatuses", "longhorn-ui", "satisfied")
		return str(v, "status", "state") == "attached" && str(v, "status", "robustness") == "healthy" && sat == "true",
			fmt.Sprintf("state=%s robustness=%s satisfied=%s", str(v, "status", "state"), str(v, "status", "robustness"), sat)
	})
	out := map[string][]*unstructured.Unstructured{
		"backingimages.longhorn.io":     {e.getLH(backingImageGVR, bi)},
		"volumes.longhorn.io":           {e.getLH(volumeGVR, vol)},
		"engines.longhorn.io":           {e.getLH(engineGVR, engineName(vol))},
		"volumeattachments.longhorn.io": {e.getLH(lhvaGVR, vol)},
	}
	reps, err := e.dyn.Resource(replicaGVR).Namespace(Namespace).List(e.ctx, metav1.ListOptions{LabelSelector: "longhornvolume=" + vol})
	if err != nil {
		e.t.Fatal(err)
	}
	for i := range reps.Items {
		out["replicas.longhorn.io"] = append(out["replicas.longhorn.io"], &reps.Items[i])
	}
	return out
}

// TestIntegrationWrittenFieldsSurviveLonghornSchemas: every field of the
// objects the simulator and its webhook write in a volume's life (backing
// image, volume, replicas, engine, VolumeAttachment, statuses included)
// exists in Longhorn 1.9, 1.10 and 1.12's schemas, so that with Longhorn's
// own CRDs (--longhorn-crds=keep) pruning drops none of them.
func TestIntegrationWrittenFieldsSurviveLonghornSchemas(t *testing.T) {
	e := newEnv(t, Options{DownloadTime: time.Second})
	e.waitWebhook()
	objs := e.lifecycle("it-prune")
	for _, tag := range longhornTags {
		facts := readFacts(t, tag)
		for crd, list := range objs {
			for _, o := range list {
				if o == nil {
					t.Fatalf("%s: object missing", crd)
				}
				if missing := missingInLonghorn(facts[crd], o.Object); len(missing) > 0 {
					t.Errorf("Longhorn %s would prune from %s %s: %s", tag, crd, o.GetName(), strings.Join(missing, ", "))
				}
			}
		}
	}
}

// crdFromFacts builds a structural CRD for crd with exactly Longhorn's
// field facts of one release: the same pruning and enum validation.
func crdFromFacts(t *testing.T, ours *unstructured.Unstructured, facts map[string]schemaNode) *unstructured.Unstructured {
	t.Helper()
	root := map[string]any{"type": "object", "properties": map[string]any{
		"apiVersion": map[string]any{"type": "string"}, "kind": map[string]any{"type": "string"}, "metadata": map[string]any{"type": "object"},
	}}
	paths := make([]string, 0, len(facts))
	for p := range facts {
		paths = append(paths, p)
	}
	sort.Strings(paths) // parents before children
	nodes := map[string]map[string]any{}
	for _, p := range paths {
		n := facts[p]
		node := map[string]any{"type": n.typ}
		if n.preserve {
			node["x-kubernetes-preserve-unknown-fields"] = true
		}
		if len(n.enum) > 0 {
			enum := make([]any, len(n.enum))
			for i, v := range n.enum {
				enum[i] = v
			}
			node["enum"] = enum
		}
		if n.typ == "array" || n.typ == "object" {
			node["nullable"] = true
		}
		nodes[p] = node
		parent, key, kind := splitFactPath(p)
		var into map[string]any
		if parent == "" {
			into = root
		} else if into = nodes[parent]; into == nil {
			t.Fatalf("fact %s without parent %s", p, parent)
		}
		switch kind {
		case "prop":
			props, _ := into["properties"].(map[string]any)
			if props == nil {
				props = map[string]any{}
				into["properties"] = props
			}
			props[key] = node
		case "map":
			into["additionalProperties"] = node
		case "items":
			into["items"] = node
		}
	}
	crd := ours.DeepCopy()
	versions, _, _ := unstructured.NestedSlice(crd.Object, "spec", "versions")
	v := versions[0].(map[string]any)
	v["schema"] = map[string]any{"openAPIV3Schema": root}
	versions[0] = v
	if err := unstructured.SetNestedSlice(crd.Object, versions, "spec", "versions"); err != nil {
		t.Fatal(err)
	}
	return crd
}

// splitFactPath splits "a.b" into ("a", "b", "prop"), "a.*" into ("a", "",
// "map") and "a[]" into ("a", "", "items"); a top-level path has parent "".
func splitFactPath(p string) (parent, key, kind string) {
	if strings.HasSuffix(p, "[]") {
		return strings.TrimSuffix(p, "[]"), "", "items"
	}
	if strings.HasSuffix(p, ".*") {
		return strings.TrimSuffix(p, ".*"), "", "map"
	}
	i := strings.LastIndex(p, ".")
	if i < 0 {
		return "", p, "prop"
	}
	return p[:i], p[i+1:], "prop"
}

// TestIntegrationKeepLonghornCRDs replaces the simulator's CRDs with ones
// built from Longhorn 1.12.1's field facts (what `kubectl apply` of
// Longhorn's CRDs would install, for pruning and enums), runs the
// simulator with CRDsKeep, which must leave them alone, and takes a volume
// through attach. It restores the simulator's CRDs at the end.
func TestIntegrationKeepLonghornCRDs(t *testing.T) {
	e := connect(t)
	if err := installCRDs(e.ctx, e.dyn, CRDsInstall); err != nil {
		t.Fatal(err)
	}
	manifests, err := Manifests()
	if err != nil {
		t.Fatal(err)
	}
	facts := readFacts(t, "v1.12.1")
	crdRes := e.dyn.Resource(crdGVR)
	put := func(obj *unstructured.Unstructured) {
		t.Helper()
		cur, err := crdRes.Get(e.ctx, obj.GetName(), metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		obj = obj.DeepCopy()
		obj.SetResourceVersion(cur.GetResourceVersion())
		if _, err := crdRes.Update(e.ctx, obj, metav1.UpdateOptions{FieldManager: "it-keep"}); err != nil {
			t.Fatalf("update CRD %s: %v", obj.GetName(), err)
		}
	}
	generations := map[string]int64{}
	for _, m := range manifests {
		if m.GetKind() != "CustomResourceDefinition" {
			continue
		}
		ours := m
		if _, known := facts[ours.GetName()]; !known {
			continue // no facts written down for it (nodes, settings, instance managers): keep the simulator's
		}
		put(crdFromFacts(t, ours, facts[ours.GetName()]))
		t.Cleanup(func() {
			// Back to the simulator's own CRDs for the tests that follow.
			ctx := context.Background() // t.Context() has ended
			cur, err := crdRes.Get(ctx, ours.GetName(), metav1.GetOptions{})
			if err != nil {
				t.Error(err)
				return
			}
			restored := ours.DeepCopy()
			restored.SetResourceVersion(cur.GetResourceVersion())
			if _, err := crdRes.Update(ctx, restored, metav1.UpdateOptions{FieldManager: fieldManager}); err != nil {
				t.Errorf("restore CRD %s: %v", ours.GetName(), err)
			}
		})
		got, err := crdRes.Get(e.ctx, ours.GetName(), metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		generations[ours.GetName()] = got.GetGeneration()
		if ours.GetName() == "volumes.longhorn.io" {
			// Ours has status.pendingNodeID, which Longhorn 1.12 dropped.
			vs, _, _ := unstructured.NestedSlice(got.Object, "spec", "versions")
			if _, found, _ := unstructured.NestedMap(vs[0].(map[string]any), "schema", "openAPIV3Schema", "properties", "status", "properties", "pendingNodeID"); found {
				t.Fatal("the installed volume CRD still has the simulator's schema")
			}
		}
	}
	e.startSim(Options{CRDs: CRDsKeep, DownloadTime: time.Second})
	e.waitWebhook()
	for name, gen := range generations {
		got, err := crdRes.Get(e.ctx, name, metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if got.GetGeneration() != gen {
			t.Errorf("CRD %s changed (generation %d -> %d): keep must leave installed CRDs alone", name, gen, got.GetGeneration())
		}
	}
	objs := e.lifecycle("it-keep")
	// What the simulator read back under Longhorn's schema carries its
	// statuses: nothing it relies on was pruned.
	checks := []struct {
		crd  string
		path []string
		want string
	}{
		{"volumes.longhorn.io", []string{"status", "currentNodeID"}, "node-1"},
		{"volumes.longhorn.io", []string{"spec", "image"}, longhornEngineImage},
		{"engines.longhorn.io", []string{"status", "currentState"}, "running"},
		{"backingimages.longhorn.io", []string{"spec", "minNumberOfCopies"}, "3"},
		{"volumeattachments.longhorn.io", []string{"status", "attachmentTicketStatuses", "longhorn-ui", "generation"}, "0"},
	}
	for _, c := range checks {
		if got := str(objs[c.crd][0], c.path...); got != c.want {
			t.Errorf("%s %v = %s, want %s", c.crd, c.path, got, c.want)
		}
	}
}
