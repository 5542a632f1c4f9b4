package steps

import (
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"

	"github.com/scenario-runner/runner/engine"
	"github.com/scenario-runner/runner/engine/eval"
)

// sampleObjects are objects of many shapes: every field the shipped plans'
// conditions read, with and without status, and fields nothing reads.
func sampleObjects() []map[string]any {
	full := func(name string) map[string]any {
		return map[string]any{
			"apiVersion": "v1", "kind": "Thing",
			"metadata": map[string]any{
				"name": name, "namespace": "default", "uid": "uid-" + name, "resourceVersion": "7",
				"labels":        map[string]any{"app": "web"},
				"annotations":   map[string]any{"big": strings.Repeat("x", 500)},
				"managedFields": []any{map[string]any{"manager": "kubectl"}},
			},
			"spec": map[string]any{
				"replicas": int64(3), "nodeName": "node-1", "unschedulable": false, "backingImage": "bi-test-1",
				"volumeName": "pvc-1", "numberOfReplicas": int64(3), "template": map[string]any{"junk": strings.Repeat("y", 500)},
			},
			"status": map[string]any{
				"phase": "Running", "state": "attached", "currentNodeID": "node-1", "robustness": "healthy",
				"readyReplicas": int64(3), "replicas": int64(3), "updatedReplicas": int64(3), "availableReplicas": int64(3),
				"conditions": []any{
					map[string]any{"type": "Ready", "status": "True"},
					map[string]any{"type": "Established", "status": "True"},
				},
			},
			"data": map[string]any{"index": "4", "revision": "2", "state": "v0"},
		}
	}
	var out []map[string]any
	a := full("a")
	out = append(out, a)
	b := full("b")
	delete(b, "status")
	out = append(out, b)
	c := full("c")
	c["status"] = map[string]any{"conditions": []any{}}
	out = append(out, c)
	d := full("d")
	d["status"].(map[string]any)["phase"] = "Pending"
	d["status"].(map[string]any)["conditions"] = []any{map[string]any{"type": "Ready", "status": "False"}}
	delete(d, "data")
	delete(d["spec"].(map[string]any), "replicas")
	out = append(out, d)
	return out
}

// sameAsWhole checks that a's condition, outputs and timeout message give
// the same results on projected objects as on whole ones; vals gives the
// names they read (nil where unknown).
func sameAsWhole(t *testing.T, label string, a *waitForAction, vals eval.Values) {
	t.Helper()
	var whole, projected []any
	var wholeHeld, projHeld []*heldObject
	for _, o := range sampleObjects() {
		w := runtime.DeepCopyJSON(o)
		if !a.proj.keepManagedFields {
			delete(w["metadata"].(map[string]any), "managedFields") // as before projections
		}
		wh, err := projection{whole: true, keepManagedFields: true}.transform(&unstructured.Unstructured{Object: w})
		if err != nil {
			t.Fatal(err)
		}
		p, err := a.proj.transform(&unstructured.Unstructured{Object: runtime.DeepCopyJSON(o)})
		if err != nil {
			t.Fatal(err)
		}
		h := p.(*heldObject)
		whole, projected = append(whole, w), append(projected, h.object())
		wholeHeld, projHeld = append(wholeHeld, wh.(*heldObject)), append(projHeld, h)
	}
	for _, name := range a.cond.Names() {
		if _, ok := vals[name]; !ok && name != "object" {
			vals = vals.With(name, nil)
		}
	}
	for i := range whole {
		v1, e1 := a.cond.Bool(vals.With("object", whole[i]))
		v2, e2 := a.cond.Bool(vals.With("object", projected[i]))
		if v1 != v2 || fmt.Sprint(e1) != fmt.Sprint(e2) {
			t.Errorf("%s: %q on object %d: whole %v, %v; projected %v, %v", label, a.cond.Source, i, v1, e1, v2, e2)
		}
	}
	for name, o := range a.outputs {
		ov := vals
		for _, n := range o.Names() {
			if _, ok := ov[n]; !ok {
				ov = ov.With(n, nil)
			}
		}
		v1, e1 := o.Run(ov.With("objects", whole))
		v2, e2 := o.Run(ov.With("objects", projected))
		if !reflect.DeepEqual(v1, v2) || fmt.Sprint(e1) != fmt.Sprint(e2) {
			t.Errorf("%s: output %s: whole %v, %v; projected %v, %v", label, name, v1, e1, v2, e2)
		}
	}
	msg := func(objs []*heldObject) string {
		m, err := newFakeCluster(t).Mapping(t.Context(), schema.GroupVersionKind{Version: "v1", Kind: "Pod"})
		if err != nil {
			t.Fatal(err)
		}
		rt := resolvedTarget{Mapping: m, GVR: m.Resource, Namespace: "default"}
		w := newWaiter(a.cond, a.paths, quantifier{kind: quantAll, min: 1}, 0, rt, vals)
		w.label, w.synced = "thing", true
		for _, o := range objs {
			w.upsert(o)
		}
		return w.timeoutError().Error()
	}
	if m1, m2 := msg(wholeHeld), msg(projHeld); m1 != m2 {
		t.Errorf("%s: timeout message of %q:\nwhole:     %s\nprojected: %s", label, a.cond.Source, m1, m2)
	}
}

func TestProjectionSameAsWhole(t *testing.T) {
	tests := []struct {
		condition string
		outputs   string
		whole     bool // the projection keeps whole objects
	}{
		{condition: `object.status?.phase == "Running"`},
		{condition: `object.status.phase == "Running"`}, // an error where there is no status
		{condition: `object.status.conditions[0].status == "True"`},
		{condition: `object.status?.conditions?.[1]?.type == "Established"`},
		{condition: `any(object.status?.conditions ?? [], .type == "Ready" && .status == "True")`},
		{condition: `len(object.status?.conditions ?? []) == 2 && len(object.spec) > 3`},
		{condition: `object.metadata.name in names`},
		{condition: `object.status != nil && object.status.phase == "Running"`},
		{condition: `object.spec?.replicas == object.status?.readyReplicas`},
		{condition: `(object.spec?.backingImage ?? "") startsWith "bi-test"`},
		{condition: `int(object.data.index) % 4 == 0`},
		{condition: `object.data["revision"] == "2"`},
		{condition: `object.spec[field] == 3`},
		{condition: `"app" in object.metadata.labels`},
		{condition: `object.metadata.annotations == nil`},
		{condition: `object.status?.phase == "Running"`, outputs: `{ids: 'map(objects, .metadata.name)', first: 'objects[0].spec.nodeName', n: len(objects)}`},
		{condition: `object.status?.phase == "Running"`, outputs: `{ids: 'map(objects, .metadata.uid + " " + .spec.volumeName)'}`},
		{condition: `len(object) > 3`, whole: true},
		{condition: `toJSON(object) contains "Running"`, whole: true},
		{condition: `object[field] != nil`, whole: true},
		{condition: `object.status?.phase == "Running"`, outputs: `{all: objects}`, whole: true},
		{condition: `object.status?.phase == "Running"`, outputs: `{first: 'objects[0]'}`, whole: true},
		{condition: `object.status?.phase == "Running"`, outputs: `{f: 'filter(objects, .spec.replicas == 3)'}`, whole: true},
		{condition: `len(object.metadata.managedFields) == 1`},
	}
	vals := eval.Values{"names": []any{"a", "c"}, "field": "replicas"}
	for _, tt := range tests {
		outputs := ""
		if tt.outputs != "" {
			outputs = "\n    outputs: " + tt.outputs
		}
		plan := fmt.Sprintf(`name: t
vars: {names: [a, c], field: replicas}
steps:
- waitFor:
    apiVersion: v1
    kind: Thing
    condition: %q%s
`, tt.condition, outputs)
		a := loadYAML(t, plan).Steps[0].Action.(*waitForAction)
		if a.proj.whole != tt.whole {
			t.Errorf("%s %s: projection whole = %v, want %v", tt.condition, tt.outputs, a.proj.whole, tt.whole)
		}
		sameAsWhole(t, tt.condition, a, vals)
	}
}

// TestProjectionShippedPlans: every waitFor of the shipped plans keeps only
// part of its objects, and gives the same results on them as on the whole.
func TestProjectionShippedPlans(t *testing.T) {
	files, _ := filepath.Glob("../scenarios/*.yaml")
	more, _ := filepath.Glob("../scenarios/examples/*.yaml")
	files = append(files, more...)
	if len(files) < 5 {
		t.Fatalf("found only %v", files)
	}
	n := 0
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		p, err := engine.LoadBytes(f, data, engine.LoadOptions{Registry: Kinds()})
		if err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		for _, a := range waitFors(append(p.Steps, p.Finally...)) {
			n++
			label := fmt.Sprintf("%s: %s", filepath.Base(f), a.cond.Source)
			if a.proj.whole {
				t.Errorf("%s: keeps whole objects", label)
			}
			sameAsWhole(t, label, a, p.Vars)
		}
	}
	if n < 10 {
		t.Errorf("only %d waitFor steps found", n)
	}
}

func waitFors(steps []*engine.Step) []*waitForAction {
	var out []*waitForAction
	for _, s := range steps {
		switch a := s.Action.(type) {
		case *waitForAction:
			out = append(out, a)
		case *timeProbeAction:
			out = append(out, waitFors(a.steps)...)
		}
	}
	return out
}

func TestProject(t *testing.T) {
	obj := sampleObjects()[0]
	tests := []struct {
		paths [][]string
		want  string
	}{
		// apiVersion and kind are always kept: kind tells a Secret apart.
		{[][]string{{"status", "phase"}}, `map[apiVersion:v1 kind:Thing status:map[phase:Running]]`},
		{[][]string{{"status", "nothing"}}, `map[apiVersion:v1 kind:Thing status:map[]]`},
		{[][]string{{"nothing", "phase"}}, `map[apiVersion:v1 kind:Thing]`},
		{[][]string{{"status", "conditions", "0", "type"}, {"spec", "replicas"}}, `map[apiVersion:v1 kind:Thing spec:map[replicas:3] status:map[conditions:[map[status:True type:Ready] map[status:True type:Established]]]]`},
		{[][]string{{"metadata", "name", "x"}}, `map[apiVersion:v1 kind:Thing metadata:map[name:a]]`},
		{[][]string{{"data", "index"}, {"data"}}, `map[apiVersion:v1 data:map[index:4 revision:2 state:v0] kind:Thing]`},
	}
	for _, tt := range tests {
		p := projection{paths: minimalPaths(tt.paths)}
		if got := fmt.Sprint(p.project(obj)); got != tt.want {
			t.Errorf("project(%v) = %s, want %s", tt.paths, got, tt.want)
		}
	}
}
