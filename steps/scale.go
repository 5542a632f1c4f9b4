package steps

import (
	"context"
	"fmt"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	"github.com/scenario-runner/runner/engine"
	"github.com/scenario-runner/runner/kube"
)

// ScaleSpec sets the replica count of an object with a scale subresource.
type ScaleSpec struct {
	Target   `yaml:",inline"`
	Replicas engine.IntOrExpr `yaml:"replicas" required:"true" doc:"The replica count: an integer or an expression."`
	Restore  *bool            `yaml:"restore" doc:"Put the replica count back at cleanup when the object existed before the plan (default true)."`
}

// Describe implements engine.Describer.
func (s *ScaleSpec) Describe() string { return "scale " + s.Target.describe() }

type scaleAction struct {
	restore  bool
	target   *boundTarget
	replicas engine.IntValue
}

// Build implements engine.Spec.
func (s *ScaleSpec) Build(b *engine.Builder) (engine.Action, error) {
	if s.LabelSelector.IsSet() || s.FieldSelector.IsSet() || s.AllNamespaces {
		b.Errorf(b.Here(), "scale acts on one object by name; selectors are not allowed")
	}
	if s.Replicas.IsSet() && !s.Replicas.Expr.IsSet() && s.Replicas.Literal < 0 {
		b.Errorf(s.Replicas.Pos, "replicas must not be negative, got %d", s.Replicas.Literal)
	}
	return &scaleAction{target: s.Target.build(b, b.Scope(), true), replicas: b.Int(s.Replicas, b.Scope()), restore: s.Restore == nil || *s.Restore}, nil
}

// Run implements engine.Action. It only sets the count; waiting is waitFor's job.
func (a *scaleAction) Run(ctx context.Context, env *engine.Env) error {
	t, err := a.target.resolve(ctx, env)
	if err != nil {
		return err
	}
	env.Watch(t.selection())
	n, err := a.replicas.Eval(env.Values())
	if err != nil {
		return fmt.Errorf("replicas: %w", err)
	}
	if n < 0 {
		return fmt.Errorf("replicas: must not be negative, got %d", n)
	}
	ref := kube.Ref(t.GVR, t.Mapping.GroupVersionKind.Kind, t.Namespace, t.Name)
	var before map[string]any
	if !env.DryRun {
		if before, err = readBefore(ctx, env, ref, false, nil); err != nil {
			return err
		}
	}
	paths, err := writeRecord(ctx, env, ref, before, [][]string{{"spec", "replicas"}}, a.restore, nil)
	if err != nil {
		return err
	}
	patch := fmt.Appendf(nil, `{"spec":{"replicas":%d}}`, n)
	opts := metav1.PatchOptions{FieldManager: FieldManager}
	if env.DryRun {
		opts.DryRun = []string{metav1.DryRunAll}
	}
	_, err = env.Cluster.Dynamic().Resource(t.GVR).Namespace(t.Namespace).Patch(ctx, t.Name, types.MergePatchType, patch, opts, "scale")
	if apierrors.IsNotFound(err) {
		// Either the object or its scale subresource is missing: say which.
		if _, getErr := env.Cluster.Dynamic().Resource(t.GVR).Namespace(t.Namespace).Get(ctx, t.Name, metav1.GetOptions{}); getErr == nil {
			return fmt.Errorf("%s has no scale subresource", t)
		}
		return fmt.Errorf("%s: not found", t)
	}
	if err != nil {
		return fmt.Errorf("scaling %s to %d: %w", t, n, err)
	}
	if !env.DryRun {
		recordChange(env, ref, false, before, paths, a.restore)
	}
	env.Log.Info().Str("target", t.String()).Int("replicas", n).Msg("scaled")
	return nil
}
