package steps

import (
	"encoding/json"
	"slices"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	utiljson "k8s.io/apimachinery/pkg/util/json"

	"github.com/scenario-runner/runner/engine/eval"
)

// projection is what a wait keeps of each object it watches: the subtrees
// its condition, its outputs and its timeout message read (eval.Reads),
// plus the labels for the selector check. Waiting on 100,000 small
// ConfigMaps for one field then holds under 1 KB per object instead of ~4 KB
// (docs/benchmarks.md). When an expression reads the whole object (`object`
// alone, `object[key]`, outputs over whole `objects`), it keeps the object
// whole. Either way managedFields go unless an expression names them (as
// kubectl get hides them).
type projection struct {
	whole             bool
	paths             [][]string
	keepManagedFields bool
}

// alwaysKept are the paths of every projection: the labels, for the
// selector check of upsert (name, namespace and resourceVersion are fields
// of heldObject).
var alwaysKept = [][]string{{"metadata", "labels"}}

func newProjection(reads eval.Reads, keepManagedFields bool) projection {
	if reads.Whole {
		return projection{whole: true, keepManagedFields: keepManagedFields}
	}
	paths := minimalPaths(append(append([][]string{}, alwaysKept...), reads.Paths...))
	return projection{paths: paths, keepManagedFields: keepManagedFields}
}

// transform is the informer's transform (cache.TransformFunc): it runs on
// every object before the informer stores it or hands it to the handlers,
// and turns it into a *heldObject.
func (p projection) transform(obj any) (any, error) {
	u, ok := obj.(*unstructured.Unstructured)
	if !ok {
		return obj, nil
	}
	if !p.keepManagedFields {
		if md, ok := u.Object["metadata"].(map[string]any); ok {
			delete(md, "managedFields")
		}
	}
	h := &heldObject{ObjectMeta: noMeta, ns: u.GetNamespace(), name: u.GetName(), rv: u.GetResourceVersion()}
	kept := u.Object
	if !p.whole {
		kept = p.project(u.Object)
	}
	raw, err := json.Marshal(kept)
	if err != nil {
		return nil, err
	}
	h.raw = raw
	return h, nil
}

// heldObject is what the informer stores and hands to the handlers for one
// object: its key, and what the wait reads of it as JSON, a few hundred
// bytes where maps of the same fields take a few kilobytes (a map of up to
// eight entries takes ~300 bytes). The informer holds every object of the
// initial list before it calls a handler (client-go's watch-list keeps
// them in a temporary store, transformed), so what it holds is what the
// transform returns: the handlers, the outputs and the messages decode raw
// when they need the map (one small object at a time).
type heldObject struct {
	// ObjectMeta is a shared empty one: the informer's key function calls
	// only the getters below (cache.MetaNamespaceKeyFunc).
	*metav1.ObjectMeta
	ns, name, rv string
	raw          []byte
}

var noMeta = &metav1.ObjectMeta{}

// GetNamespace implements metav1.Object.
func (h *heldObject) GetNamespace() string { return h.ns }

// GetName implements metav1.Object.
func (h *heldObject) GetName() string { return h.name }

// GetResourceVersion implements metav1.Object.
func (h *heldObject) GetResourceVersion() string { return h.rv }

// object returns the projection as a map, as the API's JSON decodes
// (whole numbers as int64, as unstructured has them).
func (h *heldObject) object() map[string]any {
	var m map[string]any
	if err := utiljson.Unmarshal(h.raw, &m); err != nil {
		return map[string]any{} // raw is what json.Marshal wrote
	}
	return m
}

// project copies the subtrees of obj at p's paths. A map on the way to a
// path is copied (as a new map) whenever obj has it, even if the rest of
// the path is missing, so that `object.status.phase` on an object with a
// status but no phase reads nil in both, and errors only where the whole
// object has no status. A list or a scalar on the way is kept whole.
func (p projection) project(obj map[string]any) map[string]any {
	out := make(map[string]any, len(p.paths)+2)
	// kind tells a Secret, whose values messages mask (redact.IsSecret).
	for _, k := range []string{"apiVersion", "kind"} {
		if v, ok := obj[k]; ok {
			out[k] = v
		}
	}
	for _, path := range p.paths {
		keepPath(out, obj, path)
	}
	return out
}

func keepPath(dst, src map[string]any, path []string) {
	k := path[0]
	v, ok := src[k]
	if !ok {
		return
	}
	sub, isMap := v.(map[string]any)
	if len(path) == 1 || !isMap {
		dst[k] = v
		return
	}
	d, ok := dst[k].(map[string]any)
	if !ok {
		d = make(map[string]any, 1)
		dst[k] = d
	}
	keepPath(d, sub, path[1:]) // no shorter path kept sub whole: minimalPaths
}

// minimalPaths drops every path below (or equal to) another one: the
// shorter one keeps its subtree whole.
func minimalPaths(paths [][]string) [][]string {
	var out [][]string
	for i, p := range paths {
		covered := false
		for j, q := range paths {
			if i != j && len(q) <= len(p) && slices.Equal(q, p[:len(q)]) && (len(q) < len(p) || j < i) {
				covered = true
				break
			}
		}
		if !covered {
			out = append(out, p)
		}
	}
	return out
}
