package steps

import (
	"context"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"

	"github.com/scenario-runner/runner/engine"
	"github.com/scenario-runner/runner/kube"
	"github.com/scenario-runner/runner/result"
)

// An apply reads each object the plan has not touched yet before it
// changes it (readBefore): to record an absent one as being created, and to
// keep an existing one for the restore. For many objects of one kind in one
// namespace, one paged LIST does that instead of a GET per object, which
// halves the requests of an apply that creates them.
const (
	// listAtLeast is the fewest untouched objects of one kind in one
	// namespace that are read with a LIST.
	listAtLeast = 8
	// listPage is the LIST's page size.
	listPage = 500
	// listSpan bounds the LIST: when the namespace holds more than listSpan
	// times the objects the step applies (plus a page), the step stops
	// listing and reads each object, which is then cheaper.
	listSpan = 4
)

// listedBefore is what an apply listed: for each untouched object of a
// listed kind and namespace, the object as it was, or nil when absent. An
// object not in it is read with a GET.
type listedBefore map[result.ObjectRef]map[string]any

// listBefore lists, kind by kind and namespace by namespace, the untouched
// objects objs would change. A LIST that fails or would read too much is
// given up quietly: those objects are read one by one, and their GETs
// report what is wrong.
func listBefore(ctx context.Context, env *engine.Env, objs []rendered, retries *kube.Retries) listedBefore {
	type group struct {
		gvr   schema.GroupVersionResource
		ns    string
		names map[string]result.ObjectRef
	}
	groups := map[[2]string]*group{}
	var order []*group
	for _, r := range objs {
		obj := r.obj
		if obj.GetName() == "" {
			continue // generateName: created, never read
		}
		m, err := env.Cluster.Mapping(ctx, obj.GroupVersionKind())
		if err != nil || placeNamespace(obj, m, env.Defaults.Namespace) != nil {
			continue // applyOne reports it
		}
		ref := kube.Ref(m.Resource, obj.GetKind(), obj.GetNamespace(), obj.GetName())
		if env.Recorder.Known(ref) {
			continue
		}
		k := [2]string{m.Resource.String(), obj.GetNamespace()}
		g := groups[k]
		if g == nil {
			g = &group{gvr: m.Resource, ns: obj.GetNamespace(), names: map[string]result.ObjectRef{}}
			groups[k] = g
			order = append(order, g)
		}
		g.names[obj.GetName()] = ref
	}
	out := listedBefore{}
	for _, g := range order {
		if len(g.names) < listAtLeast {
			continue
		}
		found, ok := listGroup(ctx, env, g.gvr, g.ns, g.names, retries)
		if !ok {
			continue
		}
		for name, ref := range g.names {
			out[ref] = found[name] // nil: absent
		}
	}
	return out
}

// listGroup lists gvr in ns page by page and returns the objects named in
// names; false when the LIST failed or the namespace holds too many others.
func listGroup(ctx context.Context, env *engine.Env, gvr schema.GroupVersionResource, ns string, names map[string]result.ObjectRef, retries *kube.Retries) (map[string]map[string]any, bool) {
	res := env.Cluster.Dynamic().Resource(gvr).Namespace(ns)
	found := map[string]map[string]any{}
	budget := listSpan*len(names) + listPage
	seen := 0
	opts := metav1.ListOptions{Limit: listPage}
	for {
		var page *unstructured.UnstructuredList
		err := kube.Retry(ctx, retries, func(ctx context.Context) error {
			var err error
			page, err = res.List(ctx, opts)
			return err
		})
		if err != nil {
			env.Log.Debug().Err(err).Str("resource", gvr.String()).Str("namespace", ns).Msg("listing before apply failed; reading objects one by one")
			return nil, false
		}
		for i := range page.Items {
			if _, ok := names[page.Items[i].GetName()]; ok {
				found[page.Items[i].GetName()] = page.Items[i].Object
			}
		}
		seen += len(page.Items)
		if page.GetContinue() == "" {
			return found, true
		}
		if seen > budget {
			return nil, false
		}
		opts.Continue = page.GetContinue()
	}
}
