package steps

import (
	"context"
	"fmt"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"

	"github.com/scenario-runner/runner/engine"
	"github.com/scenario-runner/runner/kube"
	"github.com/scenario-runner/runner/engine/manifest"
)

// DeleteSpec deletes objects named by a target or by a manifest.
type DeleteSpec struct {
	Target      `yaml:",inline"`
	Manifest    engine.Text `yaml:"manifest" doc:"Delete the objects of this inline manifest instead of a target."`
	File        engine.Text `yaml:"file" doc:"Delete the objects of this manifest file (or glob) instead of a target."`
	Wait        *bool       `yaml:"wait" doc:"Wait until the objects are gone (default true), watching."`
	Propagation string      `yaml:"propagation" enum:"Background,Foreground,Orphan" doc:"Propagation policy for dependents (default Background)."`
}

// Describe implements engine.Describer.
func (s *DeleteSpec) Describe() string {
	if s.Manifest.IsSet() || s.File.IsSet() {
		return "delete manifest"
	}
	return "delete " + s.Target.describe()
}

type deleteAction struct {
	target *boundTarget
	docs   []*manifest.Doc
	wait   bool
	policy metav1.DeletionPropagation
}

// Build implements engine.Spec.
func (s *DeleteSpec) Build(b *engine.Builder) (engine.Action, error) {
	a := &deleteAction{wait: s.Wait == nil || *s.Wait, policy: metav1.DeletePropagationBackground}
	if s.Propagation != "" {
		a.policy = metav1.DeletionPropagation(s.Propagation)
	}
	byManifest := s.Manifest.IsSet() || s.File.IsSet()
	byTarget := s.APIVersion.IsSet() || s.Kind.IsSet() || s.Resource.IsSet()
	switch {
	case byManifest && byTarget:
		b.Errorf(b.Here(), "delete takes either a target (apiVersion, kind, ...) or a manifest, not both")
	case byManifest:
		a.docs = loadManifests(b, s.Manifest, s.File, b.Scope())
	default:
		if !s.Name.IsSet() && !s.LabelSelector.IsSet() && !s.FieldSelector.IsSet() {
			b.Errorf(b.Here(), "delete needs name, labelSelector or fieldSelector: deleting every object of a kind is refused")
		}
		a.target = s.Target.build(b, b.Scope(), false)
	}
	return a, nil
}

type deletion struct {
	gvr       schema.GroupVersionResource
	namespace string
	name      string
	kind      string
}

// Run implements engine.Action.
func (a *deleteAction) Run(ctx context.Context, env *engine.Env) error {
	victims, err := a.victims(ctx, env)
	if err != nil {
		return err
	}
	res := &engine.ApplyResult{Objects: len(victims)}
	env.Result.Apply = res
	opts := metav1.DeleteOptions{PropagationPolicy: &a.policy}
	if env.DryRun {
		opts.DryRun = []string{metav1.DryRunAll}
	}
	type group struct {
		gvr schema.GroupVersionResource
		ns  string
	}
	gone := map[group][]string{}
	for i, v := range victims {
		err := env.Cluster.Dynamic().Resource(v.gvr).Namespace(v.namespace).Delete(ctx, v.name, opts)
		if err != nil && !apierrors.IsNotFound(err) {
			return fmt.Errorf("deleting %s/%s: %w", v.kind, v.name, err)
		}
		if err == nil {
			res.Deleted++
		}
		g := group{v.gvr, v.namespace}
		gone[g] = append(gone[g], v.name)
		env.Progress(i+1, len(victims), "deleted", 0)
	}
	if !a.wait || env.DryRun {
		return nil
	}
	for g, names := range gone {
		if err := kube.WaitGone(ctx, env.Cluster.Dynamic(), g.gvr, g.ns, names); err != nil {
			return fmt.Errorf("waiting for deletion: %w", err)
		}
	}
	return nil
}

// victims lists what to delete: the manifest's objects, or the target's.
func (a *deleteAction) victims(ctx context.Context, env *engine.Env) ([]deletion, error) {
	var out []deletion
	if a.target == nil {
		for _, d := range a.docs {
			obj, err := d.Render(env.Values())
			if err != nil {
				return nil, err
			}
			m, err := env.Cluster.Mapping(ctx, obj.GroupVersionKind())
			if err != nil {
				return nil, err
			}
			if err := placeNamespace(obj, m, env.Defaults.Namespace); err != nil {
				return nil, err
			}
			out = append(out, deletion{gvr: m.Resource, namespace: obj.GetNamespace(), name: obj.GetName(), kind: obj.GetKind()})
		}
		return out, nil
	}
	t, err := a.target.resolve(ctx, env)
	if err != nil {
		return nil, err
	}
	kind := t.Mapping.GroupVersionKind.Kind
	if t.Name != "" {
		return []deletion{{gvr: t.GVR, namespace: t.Namespace, name: t.Name, kind: kind}}, nil
	}
	list, err := env.Cluster.Dynamic().Resource(t.GVR).Namespace(t.Namespace).List(ctx, metav1.ListOptions{LabelSelector: t.LabelSelector, FieldSelector: t.FieldSelector})
	if err != nil {
		return nil, fmt.Errorf("listing %s: %w", t, err)
	}
	for _, item := range list.Items {
		out = append(out, deletion{gvr: t.GVR, namespace: item.GetNamespace(), name: item.GetName(), kind: kind})
	}
	return out, nil
}
