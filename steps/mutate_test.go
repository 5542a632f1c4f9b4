package steps

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/rs/zerolog"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	k8stesting "k8s.io/client-go/testing"

	"github.com/scenario-runner/runner/engine"
	"github.com/scenario-runner/runner/result"
)

var configMaps = schema.GroupVersionResource{Version: "v1", Resource: "configmaps"}

func configMap(name string, labels map[string]any) map[string]any {
	return map[string]any{"apiVersion": "v1", "kind": "ConfigMap", "metadata": map[string]any{"name": name, "namespace": "default", "labels": labels}}
}

// TestMutatingKinds runs apply, delete and scale on the fake client, with
// cleanup, and checks what each step reports and what is left.
func TestMutatingKinds(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		steps   string
		summary []string // each step's detail summary
		left    []string // config maps after cleanup
		deleted int      // objects cleanup deleted
		changed []string // objects cleanup listed as changed and kept
		// restored are objects cleanup restored; check reads the cluster after.
		restored []string
		check    func(t *testing.T, cl *fakeCluster)
	}{
		{
			name:    "apply forEach creates, cleanup deletes",
			steps:   "- apply:\n    forEach: 1..3\n    as: i\n    manifest: |\n      apiVersion: v1\n      kind: ConfigMap\n      metadata: {name: 'cm-${{ i }}'}\n",
			summary: []string{"3/3 applied (3 created, 0 changed)"},
			left:    []string{"pre", "web-a", "web-b"}, deleted: 3,
		},
		{
			name:    "apply over an existing object changes it, cleanup restores it",
			steps:   "- apply:\n    manifest: |\n      apiVersion: v1\n      kind: ConfigMap\n      metadata: {name: pre, labels: {touched: 'yes'}}\n      data: {k: v}\n",
			summary: []string{"1/1 applied (0 created, 1 changed)"},
			left:    []string{"pre", "web-a", "web-b"}, restored: []string{"ConfigMap/default/pre"},
			check: func(t *testing.T, cl *fakeCluster) {
				pre, err := cl.dyn.Resource(configMaps).Namespace("default").Get(t.Context(), "pre", metav1.GetOptions{})
				if err != nil {
					t.Fatal(err)
				}
				if _, has, _ := unstructured.NestedString(pre.Object, "data", "k"); has || pre.GetLabels()["touched"] != "" {
					t.Errorf("pre not restored: %v", pre.Object)
				}
			},
		},
		{
			name:    "apply of an existing object by name only: cleanup removes the run's marks",
			steps:   "- apply:\n    manifest: |\n      apiVersion: v1\n      kind: ConfigMap\n      metadata: {name: pre}\n",
			summary: []string{"1/1 applied (0 created, 1 changed)"},
			left:    []string{"pre", "web-a", "web-b"}, restored: []string{"ConfigMap/default/pre"},
			check: func(t *testing.T, cl *fakeCluster) {
				pre, _ := cl.dyn.Resource(configMaps).Namespace("default").Get(t.Context(), "pre", metav1.GetOptions{})
				if len(pre.GetLabels()) != 0 || len(pre.GetAnnotations()) != 0 {
					t.Errorf("marks left on pre: labels %v, annotations %v", pre.GetLabels(), pre.GetAnnotations())
				}
			},
		},
		{
			name:    "apply with restore false keeps the change",
			steps:   "- apply:\n    restore: false\n    manifest: |\n      apiVersion: v1\n      kind: ConfigMap\n      metadata: {name: pre}\n      data: {k: v}\n",
			summary: []string{"1/1 applied (0 created, 1 changed)"},
			left:    []string{"pre", "web-a", "web-b"}, changed: []string{"ConfigMap/default/pre"},
		},
		{
			name:    "delete by label selector",
			steps:   "- delete: {apiVersion: v1, kind: ConfigMap, labelSelector: app=web}\n",
			summary: []string{"2 deleted"},
			left:    []string{"pre"},
		},
		{
			name:    "delete forEach",
			steps:   "- delete:\n    forEach: '[\"a\", \"b\"]'\n    as: x\n    apiVersion: v1\n    kind: ConfigMap\n    name: 'web-${{ x }}'\n",
			summary: []string{"2 deleted"},
			left:    []string{"pre"},
		},
		{
			name:    "delete of a missing object is done",
			steps:   "- delete: {apiVersion: v1, kind: ConfigMap, name: nobody}\n",
			summary: []string{"0 deleted"},
			left:    []string{"pre", "web-a", "web-b"},
		},
		{
			name:    "json patch removes a key, cleanup puts it back",
			steps:   "- patch: {apiVersion: v1, kind: ConfigMap, name: web-a, json: [{op: remove, path: /metadata/labels/app}]}\n- waitFor: {apiVersion: v1, kind: ConfigMap, labelSelector: app=web, condition: 'true', exactly: 1}\n",
			summary: []string{"1 patched", "1/1 satisfied, 1 matched"},
			left:    []string{"pre", "web-a", "web-b"}, restored: []string{"ConfigMap/default/web-a"},
			check: func(t *testing.T, cl *fakeCluster) {
				cm, err := cl.dyn.Resource(configMaps).Namespace("default").Get(t.Context(), "web-a", metav1.GetOptions{})
				if err != nil || cm.GetLabels()["app"] != "web" {
					t.Errorf("web-a's label not restored: %v %v", cm, err)
				}
			},
		},
		{
			name:    "merge patch forEach over a selector",
			steps:   "- patch:\n    forEach: '[\"x\", \"y\"]'\n    as: v\n    apiVersion: v1\n    kind: ConfigMap\n    labelSelector: app=web\n    merge: {data: {'${{ v }}': set}}\n",
			summary: []string{"4 patched"},
			left:    []string{"pre", "web-a", "web-b"}, restored: []string{"ConfigMap/default/web-b", "ConfigMap/default/web-a"},
			check: func(t *testing.T, cl *fakeCluster) {
				for _, n := range []string{"web-a", "web-b"} {
					cm, _ := cl.dyn.Resource(configMaps).Namespace("default").Get(t.Context(), n, metav1.GetOptions{})
					if d, _, _ := unstructured.NestedStringMap(cm.Object, "data"); len(d) != 0 {
						t.Errorf("%s data %v after restore", n, d)
					}
				}
			},
		},
		{
			name:    "scale records a change",
			steps:   "- scale: {apiVersion: apps/v1, kind: Deployment, name: web, replicas: 4}\n",
			summary: []string{""},
			left:    []string{"pre", "web-a", "web-b"}, restored: []string{"Deployment/default/web"},
			check: func(t *testing.T, cl *fakeCluster) {
				d, err := cl.dyn.Resource(schema.GroupVersionResource{Group: "apps", Version: "v1", Resource: "deployments"}).Namespace("default").Get(t.Context(), "web", metav1.GetOptions{})
				if err != nil {
					t.Fatal(err)
				}
				if n, _, _ := unstructured.NestedInt64(d.Object, "spec", "replicas"); n != 1 {
					t.Errorf("replicas %d after cleanup, want 1 (restored)", n)
				}
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			cl := newFakeCluster(t,
				object(configMap("pre", nil)),
				object(configMap("web-a", map[string]any{"app": "web"})),
				object(configMap("web-b", map[string]any{"app": "web"})),
				object(map[string]any{"apiVersion": "apps/v1", "kind": "Deployment", "metadata": map[string]any{"name": "web", "namespace": "default"}, "spec": map[string]any{"replicas": int64(1)}}),
			)
			p := loadYAML(t, "name: t\nsteps:\n"+tt.steps)
			res := engine.Run(t.Context(), p, engine.RunOptions{Cluster: cl, Log: zerolog.Nop(), Cleanup: result.CleanupAlways})
			if res.Outcome != result.Passed {
				t.Fatalf("outcome %s: %s", res.Outcome, res.Error)
			}
			for i, want := range tt.summary {
				got := ""
				if d := res.Steps[i].Detail; d != nil {
					got = d.Summary()
				}
				if got != want {
					t.Errorf("step %d summary %q, want %q", i, got, want)
				}
			}
			list, err := cl.dyn.Resource(configMaps).Namespace("default").List(t.Context(), metav1.ListOptions{})
			if err != nil {
				t.Fatal(err)
			}
			var names []string
			for _, item := range list.Items {
				names = append(names, item.GetName())
			}
			slices.Sort(names)
			if !slices.Equal(names, tt.left) {
				t.Errorf("config maps after cleanup %v, want %v", names, tt.left)
			}
			c := res.Cleanup
			refNames := func(refs []result.ObjectRef) []string {
				var out []string
				for _, r := range refs {
					out = append(out, r.String())
				}
				return out
			}
			if len(c.Deleted) != tt.deleted || len(c.Left) != 0 || len(c.Errors) != 0 || !slices.Equal(refNames(c.Changed), tt.changed) || !slices.Equal(refNames(c.Restored), tt.restored) {
				t.Errorf("cleanup deleted %v, left %v, errors %v, changed %v, restored %v (want %d deleted, changed %v, restored %v)", c.Deleted, c.Left, c.Errors, c.Changed, c.Restored, tt.deleted, tt.changed, tt.restored)
			}
			if tt.check != nil {
				tt.check(t, cl)
			}
		})
	}
}

// TestApplyConflictSaysForce: a field conflict tells how to take the
// fields over, unless the step already forces.
func TestApplyConflictSaysForce(t *testing.T) {
	t.Parallel()
	for _, force := range []bool{false, true} {
		cl := newFakeCluster(t)
		conflict := apierrors.NewConflict(configMaps.GroupResource(), "cm", errors.New(`Apply failed with 1 conflict: conflict with "kubectl": .data.k`))
		cl.dyn.PrependReactor("create", "configmaps", func(k8stesting.Action) (bool, runtime.Object, error) { return true, nil, conflict })
		p := loadYAML(t, fmt.Sprintf("name: t\nsteps:\n- apply:\n    force: %v\n    manifest: |\n      apiVersion: v1\n      kind: ConfigMap\n      metadata: {name: cm}\n      data: {k: v}\n", force))
		res := engine.Run(t.Context(), p, engine.RunOptions{Cluster: cl, Log: zerolog.Nop(), Cleanup: result.CleanupNever})
		if res.Outcome == result.Passed {
			t.Fatalf("force %v: passed despite the conflict", force)
		}
		if hint := strings.Contains(res.Error, "add force: true"); hint == force || !strings.Contains(res.Error, `conflict with "kubectl"`) {
			t.Errorf("force %v: error %q", force, res.Error)
		}
	}
}
