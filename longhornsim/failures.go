package longhornsim

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sort"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

// failedReplicaMaxRetryCount is scheduler.FailedReplicaMaxRetryCount: a
// replica created for a rebuild carries it in spec.rebuildRetryCount so it is
// never reused after a failed rebuild.
const failedReplicaMaxRetryCount = 5

// isRebuildingReplica is controller.IsRebuildingReplica.
func isRebuildingReplica(r *instance) bool {
	return r.Spec.RebuildRetryCount != 0 && r.Spec.HealthyAt == "" && r.Spec.FailedAt == ""
}

// replicaFailure says why a replica must be marked failed, "" if it must
// not. It follows the volume controller: a replica the engine lost (state
// error, or unknown because its node went down) fails
// (ReconcileEngineReplicaState); so does one that cannot start for an attach
// because its instance manager does not run (openVolumeDependentResources:
// the node is deleted, or the volume is not attached yet). A replica without
// a node has no instance and never fails this way (openVolumeDependentResources
// skips it).
func replicaFailure(r *instance, nv nodeView, attaching bool) string {
	if r.Spec.FailedAt != "" || r.DeletionTimestamp != nil || r.Spec.NodeID == "" {
		return ""
	}
	switch r.Status.CurrentState {
	case instError, instUnknown:
		return fmt.Sprintf("the replica is in state %v on node %v", r.Status.CurrentState, r.Spec.NodeID)
	}
	if !attaching || nv.imState == imRunning || r.Status.CurrentState == instRunning {
		return ""
	}
	if !nv.exists || nv.reason == nodeReasonKubernetesNodeGone {
		return fmt.Sprintf("the node %v is deleted", r.Spec.NodeID)
	}
	return "the volume is not attached and the instance manager is unable to launch the replica"
}

// markFailedReplicas sets spec.failedAt (and desireState stopped) on the
// replicas replicaFailure picks. It reports whether it patched anything.
func (s *sim) markFailedReplicas(ctx context.Context, v *volume, replicas []*instance, node string) (bool, error) {
	attaching := node != "" && v.Status.State != volStateAttached
	now := nowString()
	var errs []error
	changed := false
	for _, r := range replicas {
		why := replicaFailure(r, s.nodeView(r.Spec.NodeID), attaching)
		if why == "" {
			continue
		}
		s.log.Info().Str("volume", v.Name).Str("replica", r.Name).Str("reason", why).Msg("marking replica failed")
		changed = true
		errs = append(errs, s.patch(ctx, replicaGVR, r.Name, map[string]any{"spec": map[string]any{
			"failedAt": now, "lastFailedAt": now, "desireState": instStopped}}))
	}
	return changed, errors.Join(errs...)
}

// markHealthyReplicas stamps spec.healthyAt on rebuilt replicas the engine
// now reports RW and resets their rebuildRetryCount, as
// ReconcileEngineReplicaState does; a rebuilt replica thereby stops counting
// against the rebuild limit. Longhorn stamps every replica the first time it
// is RW; the simulator only stamps those that went through a rebuild (WO),
// saving a write per replica of every new volume.
func (s *sim) markHealthyReplicas(ctx context.Context, replicas []*instance, e *instance) error {
	now := nowString()
	var errs []error
	for _, r := range usableReplicas(replicas) {
		if r.Spec.HealthyAt != "" {
			s.forgetRebuilt(r.Name)
			continue
		}
		if e.Status.ReplicaModeMap[r.Name] == modeRW && (r.Spec.RebuildRetryCount != 0 || s.wasRebuilt(r.Name)) {
			errs = append(errs, s.patch(ctx, replicaGVR, r.Name, map[string]any{"spec": map[string]any{
				"healthyAt": now, "lastHealthyAt": now, "rebuildRetryCount": 0}}))
		}
	}
	return errors.Join(errs...)
}

func (s *sim) markRebuilt(replica string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.rebuilt[replica] = true
}

func (s *sim) wasRebuilt(replica string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.rebuilt[replica]
}

func (s *sim) forgetRebuilt(replica string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.rebuilt, replica)
}

// replenishView is what planReplenish needs to know about an attached
// volume whose engine runs.
type replenishView struct {
	volume      string
	want        int
	replicas    []*instance
	engine      *instance
	degraded    bool
	degradedAt  time.Time
	wait        time.Duration // replica-replenishment-wait-interval
	skew        time.Duration // the second RequireNewReplica adds for clock skew
	now         time.Time
	limit       int64 // concurrent-replica-rebuild-per-node-limit; 0 disables rebuilds
	nodes       func(string) nodeView
	schedulable []string
	soft        bool // replica-soft-anti-affinity
}

// replenishPlan is one step of replica replenishment.
type replenishPlan struct {
	reuse         string        // a failed replica to reuse
	createOn      string        // a node for a new replica
	checkAfter    time.Duration // look again then (waiting for a failed replica's node)
	unschedulable bool          // no node can take a new replica
}

// planReplenish is the volume controller's replenishReplicas for one
// attached volume: one replica at a time; nothing while the engine has a
// replica in WO mode or has not picked up every usable replica that has a
// node yet (hasEngineStatusSynced); nothing while the usable replicas,
// unscheduled ones included, are numberOfReplicas
// (getReplenishReplicasCount); first reuse a failed replica whose node is
// schedulable again (CheckAndReuseFailedReplica); otherwise, while a failed
// replica may still come back, wait until replica-replenishment-wait-interval
// after the volume became degraded (RequireNewReplica); then create a new
// replica on a schedulable node holding no replica of the volume (any
// schedulable node with replica-soft-anti-affinity). With none,
// precheckCreateReplica fails and nothing is created (unschedulable).
func planReplenish(v replenishView) replenishPlan {
	if v.limit == 0 || v.engine == nil {
		return replenishPlan{}
	}
	for _, mode := range v.engine.Status.ReplicaModeMap {
		if mode == modeWO {
			return replenishPlan{}
		}
	}
	usable := usableReplicas(v.replicas)
	for _, r := range scheduledReplicas(usable) {
		if _, ok := v.engine.Status.ReplicaModeMap[r.Name]; !ok {
			return replenishPlan{}
		}
	}
	if len(usable) >= v.want {
		return replenishPlan{}
	}
	var reusable []*instance
	potentially := false
	for _, r := range v.replicas {
		if r.Spec.FailedAt == "" || r.DeletionTimestamp != nil || r.Spec.NodeID == "" || r.Spec.RebuildRetryCount >= failedReplicaMaxRetryCount {
			continue
		}
		potentially = true
		if v.nodes(r.Spec.NodeID).schedulable {
			reusable = append(reusable, r)
		}
	}
	if len(reusable) > 0 {
		sort.Slice(reusable, func(i, j int) bool { return reusable[i].Spec.FailedAt > reusable[j].Spec.FailedAt })
		return replenishPlan{reuse: reusable[0].Name}
	}
	if v.degraded && potentially && !v.degradedAt.IsZero() {
		if left := v.degradedAt.Add(v.wait).Sub(v.now); left > 0 {
			return replenishPlan{checkAfter: left + v.skew}
		}
	}
	taken := map[string]bool{}
	for _, r := range v.replicas {
		taken[r.Spec.NodeID] = true
	}
	nodes := placeReplicas(v.volume, v.schedulable, taken, 1, v.soft)
	if len(nodes) == 0 {
		return replenishPlan{unschedulable: true}
	}
	return replenishPlan{createOn: nodes[0]}
}

// applyReplenish carries out a replenishPlan.
func (s *sim) applyReplenish(ctx context.Context, v *volume, replicas []*instance, p replenishPlan) error {
	switch {
	case p.reuse != "":
		s.log.Info().Str("volume", v.Name).Str("replica", p.reuse).Msg("reusing failed replica for the rebuild")
		return s.patch(ctx, replicaGVR, p.reuse, map[string]any{"spec": map[string]any{"failedAt": "", "healthyAt": ""}})
	case p.createOn != "":
		taken := map[string]bool{}
		if len(s.pendingReplicas(v.Name, replicas, taken)) > 0 {
			return nil
		}
		s.log.Info().Str("volume", v.Name).Str("node", p.createOn).Msg("replenishing a replica")
		return s.createReplica(ctx, v, p.createOn, failedReplicaMaxRetryCount)
	}
	return nil
}

// cleanupStaleReplicas deletes failed replicas that failed longer than the
// volume's staleReplicaTimeout (minutes) ago, as long as a healthy (RW)
// replica remains (cleanupCorruptedOrStaleReplicas). It returns when to look
// again.
func (s *sim) cleanupStaleReplicas(ctx context.Context, v *volume, replicas []*instance, healthy bool) (time.Duration, error) {
	if v.Spec.StaleReplicaTimeout <= 0 || !healthy {
		return 0, nil
	}
	timeout := s.scaled(time.Duration(v.Spec.StaleReplicaTimeout) * time.Minute)
	var next time.Duration
	var errs []error
	for _, r := range replicas {
		if r.Spec.FailedAt == "" || r.DeletionTimestamp != nil {
			continue
		}
		left := time.Until(parseTime(r.Spec.FailedAt).Add(timeout))
		if left > 0 {
			if next == 0 || left < next {
				next = left
			}
			continue
		}
		s.log.Info().Str("volume", v.Name).Str("replica", r.Name).Msg("cleaning up stale failed replica")
		errs = append(errs, s.deleteLH(ctx, replicaGVR, r.Name))
	}
	return next, errors.Join(errs...)
}

// deleteLH deletes a Longhorn object; NotFound is not an error.
func (s *sim) deleteLH(ctx context.Context, gvr schema.GroupVersionResource, name string) error {
	err := s.dyn.Resource(gvr).Namespace(Namespace).Delete(ctx, name, metav1.DeleteOptions{})
	if err != nil && !apierrors.IsNotFound(err) {
		return fmt.Errorf("delete %s %s: %w", gvr.Resource, name, err)
	}
	return nil
}

// removeFinalizer drops longhorn.io from an object's finalizers; the
// resourceVersion makes a concurrent change a conflict, retried.
func (s *sim) removeFinalizer(ctx context.Context, gvr schema.GroupVersionResource, name string, finalizers []string, rv string) error {
	rest := slices.DeleteFunc(slices.Clone(finalizers), func(f string) bool { return f == longhornFinalizer })
	err := s.patch(ctx, gvr, name, map[string]any{"metadata": map[string]any{"finalizers": rest, "resourceVersion": rv}})
	if apierrors.IsConflict(err) {
		return errRetry
	}
	return err
}
