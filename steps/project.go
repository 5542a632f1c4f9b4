package steps

import (
	"slices"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/scenario-runner/runner/engine/eval"
)

// projection is what a wait keeps of each object it watches: the subtrees
// its condition, its outputs and its timeout message read (eval.Reads),
// plus what the wait itself needs (name, namespace, labels for the
// selector, resourceVersion). Waiting on 100,000 small ConfigMaps for one
// field then holds a few hundred bytes per object instead of the whole
// object (docs/benchmarks.md). When an expression reads the whole object
// (`object` alone, `object[key]`, outputs over whole `objects`), it keeps
// the object whole. Either way managedFields go unless an expression names
// them (as kubectl get hides them).
type projection struct {
	whole             bool
	paths             [][]string
	keepManagedFields bool
}

// alwaysKept are the paths of every projection.
var alwaysKept = [][]string{
	{"apiVersion"}, {"kind"},
	{"metadata", "name"}, {"metadata", "namespace"}, {"metadata", "labels"}, {"metadata", "resourceVersion"},
}

func newProjection(reads eval.Reads, keepManagedFields bool) projection {
	if reads.Whole {
		return projection{whole: true, keepManagedFields: keepManagedFields}
	}
	paths := minimalPaths(append(append([][]string{}, alwaysKept...), reads.Paths...))
	return projection{paths: paths, keepManagedFields: keepManagedFields}
}

// transform is the informer's transform (cache.TransformFunc): it runs on
// every object before the informer stores it or hands it to the handlers.
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
	if p.whole {
		return u, nil
	}
	return &unstructured.Unstructured{Object: p.project(u.Object)}, nil
}

// project copies the subtrees of obj at p's paths. A map on the way to a
// path is copied (as a new map) whenever obj has it, even if the rest of
// the path is missing, so that `object.status.phase` on an object with a
// status but no phase reads nil in both, and errors only where the whole
// object has no status. A list or a scalar on the way is kept whole.
func (p projection) project(obj map[string]any) map[string]any {
	out := make(map[string]any, len(p.paths))
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
