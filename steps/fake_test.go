package steps

import (
	"context"
	"testing"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/dynamic/fake"
	k8stesting "k8s.io/client-go/testing"

	"github.com/scenario-runner/runner/engine"
	"github.com/scenario-runner/runner/kube"
)

// fakeCluster is an engine.Cluster over the dynamic fake client, knowing a
// few built-in kinds.
type fakeCluster struct {
	dyn    *fake.FakeDynamicClient
	mapper *meta.DefaultRESTMapper
}

var _ engine.Cluster = (*fakeCluster)(nil)

// fakeKinds are the kinds fakeCluster serves, with their resources.
var fakeKinds = []struct {
	gvk        schema.GroupVersionKind
	resource   string
	namespaced bool
}{
	{schema.GroupVersionKind{Version: "v1", Kind: "Pod"}, "pods", true},
	{schema.GroupVersionKind{Version: "v1", Kind: "ConfigMap"}, "configmaps", true},
	{schema.GroupVersionKind{Version: "v1", Kind: "Secret"}, "secrets", true},
	{schema.GroupVersionKind{Version: "v1", Kind: "Service"}, "services", true},
	{schema.GroupVersionKind{Version: "v1", Kind: "Namespace"}, "namespaces", false},
	{schema.GroupVersionKind{Version: "v1", Kind: "Node"}, "nodes", false},
	{schema.GroupVersionKind{Version: "v1", Kind: "Event"}, "events", true},
	{schema.GroupVersionKind{Group: "apps", Version: "v1", Kind: "Deployment"}, "deployments", true},
	{schema.GroupVersionKind{Group: "apps", Version: "v1", Kind: "StatefulSet"}, "statefulsets", true},
}

// newFakeCluster returns a fake cluster holding objects.
func newFakeCluster(t testing.TB, objects ...runtime.Object) *fakeCluster {
	t.Helper()
	mapper := meta.NewDefaultRESTMapper(nil)
	lists := map[schema.GroupVersionResource]string{}
	for _, k := range fakeKinds {
		scope := meta.RESTScopeRoot
		if k.namespaced {
			scope = meta.RESTScopeNamespace
		}
		mapper.AddSpecific(k.gvk, k.gvk.GroupVersion().WithResource(k.resource), k.gvk.GroupVersion().WithResource(k.resource[:len(k.resource)-1]), scope)
		lists[k.gvk.GroupVersion().WithResource(k.resource)] = k.gvk.Kind + "List"
	}
	return &fakeCluster{dyn: fake.NewSimpleDynamicClientWithCustomListKinds(runtime.NewScheme(), lists, objects...), mapper: mapper}
}

func (c *fakeCluster) Dynamic() dynamic.Interface { return c.dyn }

func (c *fakeCluster) Mapping(_ context.Context, gvk schema.GroupVersionKind) (*meta.RESTMapping, error) {
	return c.mapper.RESTMapping(gvk.GroupKind(), gvk.Version)
}

func (c *fakeCluster) ResourceMapping(_ context.Context, resource string) (*meta.RESTMapping, error) {
	return kube.ResourceMapping(c.mapper, resource)
}

// watches returns a channel that receives once for each watch the fake
// client has started (after it is registered, so no event can be missed).
func (c *fakeCluster) watches() <-chan schema.GroupVersionResource {
	ch := make(chan schema.GroupVersionResource, 16)
	c.dyn.PrependWatchReactor("*", func(action k8stesting.Action) (bool, watch.Interface, error) {
		var opts metav1.ListOptions
		if wa, ok := action.(k8stesting.WatchActionImpl); ok {
			opts = wa.ListOptions
		}
		w, err := c.dyn.Tracker().Watch(action.GetResource(), action.GetNamespace(), opts)
		if err != nil {
			return false, nil, err
		}
		select {
		case ch <- action.GetResource():
		default:
		}
		return true, w, nil
	})
	return ch
}

// requests counts the fake client's requests by verb.
func (c *fakeCluster) requests() map[string]int {
	out := map[string]int{}
	for _, a := range c.dyn.Actions() {
		out[a.GetVerb()]++
	}
	return out
}

// object builds an unstructured object from its content.
func object(content map[string]any) *unstructured.Unstructured {
	return &unstructured.Unstructured{Object: content}
}

// Apply implements applier with what the fake tracker can do (it has no
// server-side apply): create when absent, else update; the request carries
// the apply's dry-run option, and the result says whether it created.
func (c *fakeCluster) Apply(ctx context.Context, m *meta.RESTMapping, obj *unstructured.Unstructured, opts metav1.ApplyOptions) (*unstructured.Unstructured, bool, error) {
	ri := c.dyn.Resource(m.Resource).Namespace(obj.GetNamespace())
	cur, err := ri.Get(ctx, obj.GetName(), metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		out, err := ri.Create(ctx, obj, metav1.CreateOptions{DryRun: opts.DryRun, FieldManager: opts.FieldManager})
		return out, true, err
	}
	if err != nil {
		return nil, false, err
	}
	obj = obj.DeepCopy()
	obj.SetResourceVersion(cur.GetResourceVersion())
	// Labels and annotations the apply does not send survive it, as under
	// server-side apply when another manager owns them (the restore
	// record's marks, a merge patch of their own).
	obj.SetLabels(keepMarks(obj.GetLabels(), cur.GetLabels()))
	obj.SetAnnotations(keepMarks(obj.GetAnnotations(), cur.GetAnnotations()))
	out, err := ri.Update(ctx, obj, metav1.UpdateOptions{DryRun: opts.DryRun, FieldManager: opts.FieldManager})
	return out, false, err
}

// keepMarks adds to applied the keys of cur it lacks.
func keepMarks(applied, cur map[string]string) map[string]string {
	for k, v := range cur {
		if _, ok := applied[k]; !ok {
			if applied == nil {
				applied = map[string]string{}
			}
			applied[k] = v
		}
	}
	return applied
}
