package steps

import (
	"context"
	"encoding/json"
	"fmt"
	"sync"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	"github.com/scenario-runner/runner/engine"
	"github.com/scenario-runner/runner/kube"
	"github.com/scenario-runner/runner/result"
)

// maxRestoreRecord bounds the restore record: a change to a larger object
// (a big ConfigMap) is left unmarked; the run's own cleanup still restores
// it, `runner cleanup` after a SIGKILL cannot.
const maxRestoreRecord = 64 << 10

// markPaths are the fields of the marks a restore record puts on an
// object: a change's recorded paths include them, so that the run's own
// restore removes them with the rest.
func markPaths(runID string) [][]string {
	return [][]string{
		{"metadata", "labels", kube.ChangedByLabel},
		{"metadata", "labels", kube.ChangedPlanLabel},
		{"metadata", "annotations", kube.RestoreAnnotation(runID)},
	}
}

// recordsKey keys, in the run's Memo, the last restore record written on
// each object (a *sync.Map of result.ObjectRef to string).
type recordsKey struct{}

// writeRecord records on ref itself, which existed before the plan, how
// to undo what the plan is about to change on it, before the change's
// request goes out: the labels kube.ChangedByLabel (the run id) and
// kube.ChangedPlanLabel, and the annotation kube.RestoreAnnotation, the
// merge patch putting back the fields this and the run's earlier changes
// set (engine.RestorePatch; it also removes the marks). A run killed at
// any point afterwards (SIGKILL) can then be undone by `runner cleanup
// --run ID`, which applies the patch; a run killed after the record but
// before the change has its record restore values that did not change.
//
// The record is a merge patch of its own, sent by every step kind that
// changes objects (apply, patch, scale), so that server-side apply never
// owns the marks: an apply that stopped sending them would drop them, and
// one sending a record another kind wrote would conflict. A record equal
// to the last one written on the object is not sent again. It returns the
// paths to record with the change (paths and the marks). Objects the plan
// created, dry runs and restore: false write nothing.
func writeRecord(ctx context.Context, env *engine.Env, ref result.ObjectRef, before map[string]any, paths [][]string, restore bool, retries *kube.Retries) ([][]string, error) {
	if env.DryRun || !restore {
		return paths, nil
	}
	if _, owned := env.Recorder.Owned(ref); owned {
		return paths, nil
	}
	all := append(append([][]string(nil), paths...), markPaths(env.RunID)...)
	undo := env.Recorder.Restoring(ref, before, all)
	body, err := json.Marshal(undo)
	if err != nil {
		return nil, fmt.Errorf("encoding the restore record of %s: %w", ref, err)
	}
	if len(body) > maxRestoreRecord {
		env.Log.Debug().Str("object", ref.String()).Int("bytes", len(body)).Msg("restore record too large to keep on the object; only the run's own cleanup restores it")
		return all, nil
	}
	sent := env.Memo(recordsKey{}, func() any { return &sync.Map{} }).(*sync.Map)
	if last, ok := sent.Load(ref); ok && last.(string) == string(body) {
		return all, nil
	}
	mark, err := json.Marshal(map[string]any{"metadata": map[string]any{
		"labels":      map[string]any{kube.ChangedByLabel: env.RunID, kube.ChangedPlanLabel: kube.PlanLabelValue(env.Plan)},
		"annotations": map[string]any{kube.RestoreAnnotation(env.RunID): string(body)},
	}})
	if err != nil {
		return nil, fmt.Errorf("encoding the restore record of %s: %w", ref, err)
	}
	err = kube.Retry(ctx, retries, func(ctx context.Context) error {
		_, err := env.Cluster.Dynamic().Resource(kube.GVR(ref)).Namespace(ref.Namespace).Patch(ctx, ref.Name, types.MergePatchType, mark, metav1.PatchOptions{FieldManager: FieldManager})
		return err
	})
	if apierrors.IsNotFound(err) {
		return all, nil // nothing to change; the step's own request says so
	}
	if err != nil {
		return nil, fmt.Errorf("writing the restore record on %s before changing it: %w", ref, err)
	}
	sent.Store(ref, string(body))
	return all, nil
}
