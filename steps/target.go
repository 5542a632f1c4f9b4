package steps

import (
	"context"
	"fmt"
	"strings"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime/schema"

	"github.com/scenario-runner/runner/engine"
	"github.com/scenario-runner/runner/engine/eval"
	"github.com/scenario-runner/runner/kube"
)

// Target names objects: by apiVersion and kind (or resource), in a namespace
// (or all), by name, label selector or field selector.
type Target struct {
	APIVersion    engine.Text `yaml:"apiVersion" doc:"API version of the objects, e.g. v1, apps/v1, longhorn.io/v1beta2."`
	Kind          engine.Text `yaml:"kind" doc:"Kind of the objects, e.g. Pod."`
	Resource      engine.Text `yaml:"resource" doc:"Resource instead of apiVersion+kind, e.g. pods or backingimages.longhorn.io."`
	Namespace     engine.Text `yaml:"namespace" doc:"Namespace (default: defaults.namespace) for namespaced kinds."`
	AllNamespaces bool        `yaml:"allNamespaces" doc:"Match objects in every namespace."`
	Name          engine.Text `yaml:"name" doc:"One object by name."`
	LabelSelector engine.Text `yaml:"labelSelector" doc:"Objects by label selector, e.g. app=nginx."`
	FieldSelector engine.Text `yaml:"fieldSelector" doc:"Objects by field selector, e.g. status.phase=Running."`
}

// boundTarget is a compiled Target.
type boundTarget struct {
	apiVersion, kind, resource, namespace, name, labels, fields *eval.Template
	allNamespaces                                               bool
	defaultNS                                                   string
}

// build checks and compiles t; needOne says the target must name one object.
func (t *Target) build(b *engine.Builder, scope *eval.Scope, needOne bool) *boundTarget {
	switch {
	case t.Resource.IsSet() && (t.APIVersion.IsSet() || t.Kind.IsSet()):
		b.Errorf(t.Resource.Pos, "give either resource or apiVersion and kind, not both")
	case !t.Resource.IsSet() && !t.APIVersion.IsSet() && !t.Kind.IsSet():
		b.Errorf(b.Here(), "missing the kind of object: set apiVersion and kind (e.g. apiVersion: v1, kind: Pod) or resource (e.g. pods)")
	case !t.Resource.IsSet() && !t.Kind.IsSet():
		b.Errorf(t.APIVersion.Pos, "missing kind beside apiVersion")
	case !t.Resource.IsSet() && !t.APIVersion.IsSet():
		b.Errorf(t.Kind.Pos, "missing apiVersion beside kind %q", t.Kind.Value)
	}
	if t.AllNamespaces && t.Namespace.IsSet() {
		b.Errorf(t.Namespace.Pos, "give either namespace or allNamespaces, not both")
	}
	if t.Name.IsSet() && (t.LabelSelector.IsSet() || t.FieldSelector.IsSet()) {
		b.Errorf(t.Name.Pos, "give either name or selectors, not both")
	}
	if needOne && !t.Name.IsSet() {
		b.Errorf(b.Here(), "missing name: this step acts on one object")
	}
	if t.LabelSelector.IsSet() && !eval.HasTemplate(t.LabelSelector.Value) {
		if _, err := labels.Parse(t.LabelSelector.Value); err != nil {
			b.Errorf(t.LabelSelector.Pos, "invalid label selector %q: %v", t.LabelSelector.Value, err)
		}
	}
	return &boundTarget{
		apiVersion: b.Template(t.APIVersion, scope), kind: b.Template(t.Kind, scope), resource: b.Template(t.Resource, scope),
		namespace: b.Template(t.Namespace, scope), name: b.Template(t.Name, scope),
		labels: b.Template(t.LabelSelector, scope), fields: b.Template(t.FieldSelector, scope),
		allNamespaces: t.AllNamespaces, defaultNS: b.Defaults.Namespace,
	}
}

// describe is a short human name for the target, e.g. "Pod app=nginx".
func (t *Target) describe() string {
	what := t.Kind.Value
	if what == "" {
		what = t.Resource.Value
	}
	switch {
	case t.Name.IsSet():
		return what + " " + t.Name.Value
	case t.LabelSelector.IsSet():
		return what + " " + t.LabelSelector.Value
	case t.FieldSelector.IsSet():
		return what + " " + t.FieldSelector.Value
	}
	return what
}

// resolvedTarget is a target with its expressions evaluated and its kind
// mapped to a resource.
type resolvedTarget struct {
	Mapping       *meta.RESTMapping
	GVR           schema.GroupVersionResource
	Namespace     string // "" for cluster-scoped kinds or all namespaces
	Name          string
	LabelSelector string
	FieldSelector string
}

func (r resolvedTarget) String() string { return r.selection().String() }

func str(t *eval.Template, vals eval.Values) (string, error) {
	if t == nil {
		return "", nil
	}
	return t.String(vals)
}

// resolve evaluates the target with the run's values and maps its kind.
func (bt *boundTarget) resolve(ctx context.Context, env *engine.Env) (resolvedTarget, error) {
	return bt.resolveWith(ctx, env, env.Values())
}

// resolveWith evaluates the target with vals (a forEach element bound) and
// maps its kind.
func (bt *boundTarget) resolveWith(ctx context.Context, env *engine.Env, vals eval.Values) (resolvedTarget, error) {
	var r resolvedTarget
	parts := map[string]*eval.Template{"apiVersion": bt.apiVersion, "kind": bt.kind, "resource": bt.resource, "namespace": bt.namespace, "name": bt.name, "labelSelector": bt.labels, "fieldSelector": bt.fields}
	out := map[string]string{}
	for k, t := range parts {
		s, err := str(t, vals)
		if err != nil {
			return r, fmt.Errorf("%s: %w", k, err)
		}
		out[k] = s
	}
	var err error
	if out["resource"] != "" {
		r.Mapping, err = env.Cluster.ResourceMapping(ctx, out["resource"])
	} else {
		gv, perr := schema.ParseGroupVersion(out["apiVersion"])
		if perr != nil {
			return r, fmt.Errorf("apiVersion %q: %w", out["apiVersion"], perr)
		}
		r.Mapping, err = env.Cluster.Mapping(ctx, gv.WithKind(out["kind"]))
	}
	if err != nil {
		return r, err
	}
	r.GVR = r.Mapping.Resource
	r.Name, r.LabelSelector, r.FieldSelector = out["name"], out["labelSelector"], out["fieldSelector"]
	namespaced := r.Mapping.Scope.Name() == meta.RESTScopeNameNamespace
	switch {
	case !namespaced && out["namespace"] != "":
		return r, fmt.Errorf("%s is cluster-scoped: remove namespace %q", r.Mapping.GroupVersionKind.Kind, out["namespace"])
	case !namespaced, bt.allNamespaces:
	case out["namespace"] != "":
		r.Namespace = out["namespace"]
	default:
		r.Namespace = bt.defaultNS
	}
	if _, err := labels.Parse(r.LabelSelector); err != nil {
		return r, fmt.Errorf("labelSelector %q: %w", r.LabelSelector, err)
	}
	r.LabelSelector = strings.TrimSpace(r.LabelSelector)
	return r, nil
}

// objects lists the objects a resolved target names: the one named, or
// those its selectors match now.
func (r resolvedTarget) objects(ctx context.Context, env *engine.Env) ([]*unstructured.Unstructured, error) {
	ri := env.Cluster.Dynamic().Resource(r.GVR).Namespace(r.Namespace)
	if r.Name != "" {
		obj, err := ri.Get(ctx, r.Name, metav1.GetOptions{})
		if err != nil {
			return nil, fmt.Errorf("%s: %w", r, err)
		}
		return []*unstructured.Unstructured{obj}, nil
	}
	list, err := ri.List(ctx, metav1.ListOptions{LabelSelector: r.LabelSelector, FieldSelector: r.FieldSelector})
	if err != nil {
		return nil, fmt.Errorf("listing %s: %w", r, err)
	}
	out := make([]*unstructured.Unstructured, len(list.Items))
	for i := range list.Items {
		out[i] = &list.Items[i]
	}
	return out, nil
}

// selection is the target as a kube.Selection, for diagnostics.
func (r resolvedTarget) selection() kube.Selection {
	return kube.Selection{GVR: r.GVR, Kind: r.Mapping.GroupVersionKind.Kind, Namespace: r.Namespace, Name: r.Name, LabelSelector: r.LabelSelector, FieldSelector: r.FieldSelector}
}
