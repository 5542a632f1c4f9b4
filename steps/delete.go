package steps

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"sync/atomic"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/scenario-runner/runner/engine"
	"github.com/scenario-runner/runner/engine/eval"
	"github.com/scenario-runner/runner/engine/manifest"
	"github.com/scenario-runner/runner/kube"
	"github.com/scenario-runner/runner/result"
)

// DeleteSpec deletes objects named by a target or by a manifest.
type DeleteSpec struct {
	Target      `yaml:",inline"`
	Manifest    engine.Text `yaml:"manifest" doc:"Delete the objects of this inline manifest instead of a target."`
	File        engine.Text `yaml:"file" doc:"Delete the objects of this manifest file (or glob) instead of a target."`
	Wait        *bool       `yaml:"wait" doc:"Wait until the objects are gone (default true), watching."`
	Propagation string      `yaml:"propagation" enum:"Background,Foreground,Orphan" doc:"Propagation policy for dependents (default Background)."`
	ForEach     engine.Expr `yaml:"forEach" doc:"An expression yielding a list; the target or manifest is resolved once per element."`
	As          string      `yaml:"as" doc:"Name of the forEach element in expressions (default item)."`
}

// Describe implements engine.Describer.
func (s *DeleteSpec) Describe() string {
	if s.Manifest.IsSet() || s.File.IsSet() {
		return "delete manifest"
	}
	return "delete " + s.Target.describe()
}

type deleteAction struct {
	forEach forEach
	target  *boundTarget
	docs    []*manifest.Doc
	wait    bool
	policy  metav1.DeletionPropagation
}

// Build implements engine.Spec.
func (s *DeleteSpec) Build(b *engine.Builder) (engine.Action, error) {
	a := &deleteAction{wait: s.Wait == nil || *s.Wait, policy: metav1.DeletePropagationBackground}
	if s.Propagation != "" {
		a.policy = metav1.DeletionPropagation(s.Propagation)
	}
	var scope *eval.Scope
	a.forEach, scope = buildForEach(b, s.ForEach, s.As)
	byManifest := s.Manifest.IsSet() || s.File.IsSet()
	byTarget := s.APIVersion.IsSet() || s.Kind.IsSet() || s.Resource.IsSet()
	switch {
	case byManifest && byTarget:
		b.Errorf(b.Here(), "delete takes either a target (apiVersion, kind, ...) or a manifest, not both")
	case byManifest:
		a.docs = loadManifests(b, s.Manifest, s.File, scope)
	default:
		if !s.Name.IsSet() && !s.LabelSelector.IsSet() && !s.FieldSelector.IsSet() {
			b.Errorf(b.Here(), "delete needs name, labelSelector or fieldSelector: deleting every object of a kind is refused")
		}
		a.target = s.Target.build(b, scope, false)
	}
	return a, nil
}

// DeleteDetail is a delete step's result.
type DeleteDetail struct {
	Objects int `json:"objects" doc:"Objects the step named."`
	Deleted int `json:"deleted" doc:"Objects that existed and were deleted (absent ones count as done)."`
}

// Summary implements result.Detail.
func (d *DeleteDetail) Summary() string { return fmt.Sprintf("%d deleted", d.Deleted) }

// Properties implements result.Detail.
func (d *DeleteDetail) Properties() []result.Property {
	return []result.Property{{Name: "objects", Value: strconv.Itoa(d.Objects)}, {Name: "deleted", Value: strconv.Itoa(d.Deleted)}}
}

// Run implements engine.Action: kube.Delete, the same delete-and-wait as
// cleanup's, with the step's propagation policy.
func (a *deleteAction) Run(ctx context.Context, env *engine.Env) error {
	victims, err := a.victims(ctx, env)
	if err != nil {
		return err
	}
	res := &DeleteDetail{Objects: len(victims)}
	env.Result.Detail = res
	var sent atomic.Int64
	d := kube.Delete(ctx, env.Cluster.Dynamic(), victims, kube.DeleteOptions{
		Propagation: func(result.ObjectRef) metav1.DeletionPropagation { return a.policy },
		Wait:        a.wait, DryRun: env.DryRun,
		Deleted: func(result.ObjectRef) {
			env.Progress(int(sent.Add(1)), len(victims), "deleted", 0)
		},
	})
	res.Deleted = len(d.Deleted)
	return errors.Join(d.Errs...)
}

// victims lists what to delete: the manifest's objects, or the target's,
// for every forEach element.
func (a *deleteAction) victims(ctx context.Context, env *engine.Env) ([]result.ObjectRef, error) {
	items, err := a.forEach.items(env.Values())
	if err != nil {
		return nil, err
	}
	var out []result.ObjectRef
	for _, it := range items {
		refs, err := a.victimsWith(ctx, env, it.vals)
		if err != nil {
			return nil, err
		}
		out = append(out, refs...)
	}
	return out, nil
}

func (a *deleteAction) victimsWith(ctx context.Context, env *engine.Env, vals eval.Values) ([]result.ObjectRef, error) {
	var out []result.ObjectRef
	if a.target == nil {
		for _, d := range a.docs {
			obj, err := d.Render(vals)
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
			out = append(out, kube.Ref(m.Resource, obj.GetKind(), obj.GetNamespace(), obj.GetName()))
		}
		return out, nil
	}
	t, err := a.target.resolveWith(ctx, env, vals)
	if err != nil {
		return nil, err
	}
	kind := t.Mapping.GroupVersionKind.Kind
	if t.Name != "" {
		return []result.ObjectRef{kube.Ref(t.GVR, kind, t.Namespace, t.Name)}, nil
	}
	objs, err := t.objects(ctx, env)
	if err != nil {
		return nil, err
	}
	for _, item := range objs {
		out = append(out, kube.Ref(t.GVR, kind, item.GetNamespace(), item.GetName()))
	}
	return out, nil
}
