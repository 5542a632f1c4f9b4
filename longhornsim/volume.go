package longhornsim

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/runtime"
)

// Volume and instance states.
const (
	volStateCreating  = "creating"
	volStateAttached  = "attached"
	volStateDetached  = "detached"
	volStateAttaching = "attaching"
	volStateDetaching = "detaching"
	volStateDeleting  = "deleting"

	robustnessHealthy  = "healthy"
	robustnessDegraded = "degraded"
	robustnessFaulted  = "faulted"
	robustnessUnknown  = "unknown"

	instRunning  = "running"
	instStopped  = "stopped"
	instStarting = "starting"
	instError    = "error"
	instUnknown  = "unknown"

	modeRW  = "RW"
	modeWO  = "WO"
	modeERR = "ERR"
)

// longhornFinalizer is the finalizer longhorn-manager puts on its objects
// and removes once it has cleaned up after them.
const longhornFinalizer = "longhorn.io"

// volumeView is what the volume state machine needs to know about a volume's
// instances; it keeps decideVolume free of API calls.
type volumeView struct {
	wantReplicas     int
	replicas         []*instance // all replicas, failed ones included
	engine           *instance
	node             string // spec.nodeID: where the volume should be attached
	nodeDown         string // why the engine cannot start on node ("" when it can)
	backingImage     string
	backingImageOK   bool // the image exists and is ready on the replicas' disks
	provisionElapsed bool
}

// volumeDecision is what the state machine wants: the volume's state and
// the desired states of its instances.
type volumeDecision struct {
	state         string
	robustness    string
	currentNodeID string
	waitForBI     bool
	replicaDesire string // for replicas not failed; "" leaves them alone
	engineDesire  string // "" leaves the engine alone
	engineNode    *string
	blocked       string // why the volume cannot attach to node, for the ticket
}

// usableReplicas are the replicas neither failed nor being deleted.
func usableReplicas(rs []*instance) []*instance {
	var out []*instance
	for _, r := range rs {
		if r.Spec.FailedAt == "" && r.DeletionTimestamp == nil {
			out = append(out, r)
		}
	}
	return out
}

// rwCount counts the usable replicas the engine reports in mode RW.
func rwCount(rs []*instance, e *instance) int {
	n := 0
	for _, r := range usableReplicas(rs) {
		if e != nil && e.Status.ReplicaModeMap[r.Name] == modeRW {
			n++
		}
	}
	return n
}

func allInState(insts []*instance, states ...string) bool {
	for _, in := range insts {
		ok := false
		for _, st := range states {
			if in.Status.CurrentState == st {
				ok = true
			}
		}
		if !ok {
			return false
		}
	}
	return true
}

// decideVolume is the volume controller's state machine.
//
//   - A volume is "creating" until its replicas and engine exist, the replica
//     controller has processed every replica once and ProvisionTime passed.
//   - With no node wanted it stops engine and replicas: "detaching" until they
//     stopped, then "detached" with robustness unknown.
//   - With a node wanted it waits for its backing image (WaitForBackingImage),
//     moves the stopped engine to the node, starts the replicas that have not
//     failed, then the engine once they run: "attaching" until the engine
//     runs, then "attached". An engine cannot start on a node whose instance
//     manager does not run: the volume stays "attaching" (blocked says why).
//   - Attached, robustness follows the engine's replicaModeMap as
//     ReconcileEngineReplicaState does: healthy with numberOfReplicas RW
//     replicas, degraded with fewer, faulted with none; unknown when the
//     engine's own node went down.
func decideVolume(v volumeView) volumeDecision {
	d := volumeDecision{robustness: robustnessUnknown}
	processed := len(v.replicas) > 0 && v.engine != nil
	for _, r := range v.replicas {
		if r.Status.CurrentState == "" {
			processed = false
		}
	}
	if !processed || !v.provisionElapsed {
		d.state = volStateCreating
		return d
	}
	usable := usableReplicas(v.replicas)
	engineState := v.engine.Status.CurrentState
	engineStopped := engineState == "" || engineState == instStopped
	if v.node == "" {
		d.replicaDesire, d.engineDesire = instStopped, instStopped
		if engineStopped && allInState(v.replicas, instStopped) {
			d.state = volStateDetached
		} else {
			d.state = volStateDetaching
		}
		return d
	}
	if len(usable) == 0 {
		// Every replica failed: nothing to attach with (ReconcileVolumeState
		// faults the volume; auto-salvage is not simulated).
		d.replicaDesire, d.engineDesire = instStopped, instStopped
		d.state, d.robustness = volStateDetached, robustnessFaulted
		d.blocked = "all replicas of the volume failed"
		return d
	}
	if v.backingImage != "" && !v.backingImageOK {
		d.waitForBI = true
		d.state = volStateDetached
		if !engineStopped {
			d.state = volStateDetaching
			d.engineDesire = instStopped
		}
		return d
	}
	if v.engine.Spec.NodeID != v.node {
		d.state = volStateAttaching
		if !engineStopped {
			d.engineDesire = instStopped
			return d
		}
		node := v.node
		d.engineNode = &node
		d.replicaDesire = instRunning
		d.blocked = v.nodeDown
		return d
	}
	if engineState == instUnknown || engineState == instError {
		// The engine's node went down under an attached volume.
		d.replicaDesire, d.engineDesire = instRunning, instRunning
		d.state, d.currentNodeID = volStateAttached, v.node
		return d
	}
	d.replicaDesire = instRunning
	if !allInState(usable, instRunning) {
		d.state = volStateAttaching
		d.blocked = v.nodeDown
		return d
	}
	d.engineDesire = instRunning
	if engineState != instRunning {
		d.state = volStateAttaching
		d.blocked = v.nodeDown
		return d
	}
	d.state = volStateAttached
	d.currentNodeID = v.node
	switch rw := rwCount(v.replicas, v.engine); {
	case rw == 0:
		d.robustness = robustnessFaulted
	case rw < v.wantReplicas:
		d.robustness = robustnessDegraded
	default:
		d.robustness = robustnessHealthy
	}
	return d
}

// syncVolume reconciles one Longhorn volume: its defaults, replicas, engine
// syncVolume reconciles one Longhorn volume: its defaults, replicas, engine
// and longhorn.io VolumeAttachment, the attachment tickets, replica failures
// and rebuilds, and its status.
func (s *sim) syncVolume(ctx context.Context, name string) (time.Duration, error) {
	if name == "" {
		return 0, nil
	}
	v, err := getLH[volume](s.volumes, name)
	if err != nil {
		return 0, err
	}
	if v == nil {
		s.forgetVolume(name)
		s.dropData(name)
		return 0, s.releaseVolumeAttachment(ctx, name)
	}
	replicas, err := listLH[instance](s.replicas, byVolume, name)
	if err != nil {
		return 0, err
	}
	engine, err := getLH[instance](s.engines, engineName(name))
	if err != nil {
		return 0, err
	}
	if v.DeletionTimestamp != nil {
		return 0, s.deleteVolume(ctx, v, replicas, engine)
	}
	if done, err := s.defaultVolumeSpec(ctx, v); done || err != nil {
		return 0, err
	}
	first := s.firstSeenAt(name)
	var requeue time.Duration
	later := func(d time.Duration) {
		if d > 0 && (requeue == 0 || d < requeue) {
			requeue = d
		}
	}

	if err := s.ensureReplicas(ctx, v, replicas); err != nil {
		return 0, err
	}
	if engine == nil {
		return 0, s.create(ctx, engineGVR, s.newEngine(v))
	}

	// The longhorn.io VolumeAttachment appears a moment after the volume.
	va, err := getLH[lhVolumeAttachment](s.lhvas, name)
	if err != nil {
		return 0, err
	}
	node := v.Spec.NodeID
	disableFrontend := v.Spec.DisableFrontend
	if va == nil {
		if wait := s.opts.VolumeAttachmentDelay - time.Since(first); wait > 0 {
			later(wait)
		} else if err := s.create(ctx, lhvaGVR, newLHVolumeAttachment(v)); err != nil {
			return 0, err
		}
	} else {
		t := desiredTicket(va.Spec.AttachmentTickets, v.Spec.NodeID)
		spec := map[string]any{}
		node = ""
		if t != nil {
			node = t.NodeID
			// setAttachmentParameter (volume_attachment_controller.go).
			if df := t.Parameters["disableFrontend"] == "true"; df != v.Spec.DisableFrontend && v.Spec.NodeID == "" {
				spec["disableFrontend"] = df
				disableFrontend = df
			}
		}
		if node != v.Spec.NodeID {
			spec["nodeID"] = node
		}
		if len(spec) > 0 {
			if err := s.patch(ctx, volumeGVR, name, map[string]any{"spec": spec}); err != nil {
				return 0, err
			}
		}
	}

	// Replicas that failed: on a node that went down, in error, or unable to
	// start for an attach (ReconcileEngineReplicaState,
	// openVolumeDependentResources).
	if changed, err := s.markFailedReplicas(ctx, v, replicas, node); changed || err != nil {
		return 0, err
	}

	var replicaNodes []string
	for _, r := range usableReplicas(replicas) {
		replicaNodes = append(replicaNodes, r.Spec.NodeID)
	}
	view := volumeView{
		wantReplicas: v.Spec.NumberOfReplicas,
		replicas:     replicas,
		engine:       engine,
		node:         node,
		backingImage: v.Spec.BackingImage,
	}
	if node != "" {
		if nv := s.nodeView(node); nv.imState != imRunning {
			view.nodeDown = fmt.Sprintf("node %v is not ready, couldn't attach volume %v to it", node, name)
		}
	}
	if wait := s.opts.ProvisionTime - time.Since(first); wait > 0 {
		later(wait)
	} else {
		view.provisionElapsed = true
	}
	if view.backingImage != "" {
		_, view.backingImageOK = s.backingImageReadyOn(view.backingImage, replicaNodes)
	}
	d := decideVolume(view)
	s.syncData(name, d.state, replicas)
	if s.opts.Mode == ModeLegacyQueueJam && (d.state == volStateCreating || d.state == volStateAttaching) {
		s.log.Debug().Str("volume", name).Str("state", d.state).Int("replicaQueue", s.repCtl.queue.Len()).
			Msg("volume waits for the rate-limited replica queue")
	}

	if err := s.applyInstanceDesires(ctx, d, replicas, engine, disableFrontend); err != nil {
		return 0, err
	}
	degradedAt := v.Status.LastDegradedAt
	if d.robustness == robustnessDegraded && degradedAt == "" {
		degradedAt = nowString()
	}
	if d.robustness != robustnessDegraded {
		degradedAt = ""
	}
	scheduled := true
	if d.state == volStateAttached && engine.Status.CurrentState == instRunning {
		if err := s.markHealthyReplicas(ctx, replicas, engine); err != nil {
			return 0, err
		}
		plan := planReplenish(replenishView{
			volume: name, want: v.Spec.NumberOfReplicas, replicas: replicas, engine: engine,
			degraded: d.robustness == robustnessDegraded, degradedAt: parseTime(degradedAt),
			wait: s.replenishWait(), skew: s.scaled(time.Second), now: time.Now(),
			limit: s.settingInt(SettingConcurrentReplicaRebuildPerNodeLimit),
			nodes: s.nodeView, schedulable: s.schedulableNodes(),
		})
		later(plan.checkAfter)
		scheduled = !plan.unschedulable
		if err := s.applyReplenish(ctx, v, replicas, plan); err != nil {
			return 0, err
		}
		wait, err := s.cleanupStaleReplicas(ctx, v, replicas, rwCount(replicas, engine) > 0)
		if err != nil {
			return 0, err
		}
		later(wait)
	}
	if len(usableReplicas(replicas)) < v.Spec.NumberOfReplicas && d.state == volStateCreating {
		scheduled = false
	}
	if err := s.patchVolumeStatus(ctx, v, d, scheduled, degradedAt, disableFrontend); err != nil {
		return 0, err
	}
	if va != nil {
		if err := s.patchTicketStatuses(ctx, va, d, node, disableFrontend); err != nil {
			return 0, err
		}
	}
	return requeue, nil
}

func parseTime(s string) time.Time {
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		return time.Time{}
	}
	return t
}

// defaultVolumeSpec fills the spec defaults Longhorn's webhook sets
// (numberOfReplicas from the setting default-replica-count) and the
// longhorn.io finalizer; it reports done when it patched (the update event
// brings the volume back).
func (s *sim) defaultVolumeSpec(ctx context.Context, v *volume) (bool, error) {
	spec := map[string]any{}
	if v.Spec.NumberOfReplicas == 0 {
		spec["numberOfReplicas"] = s.settingInt(SettingDefaultReplicaCount)
	}
	if v.Spec.Frontend == "" {
		spec["frontend"] = "blockdev"
	}
	if v.Spec.DataEngine == "" {
		spec["dataEngine"] = "v1"
	}
	body := map[string]any{}
	if len(spec) > 0 {
		body["spec"] = spec
	}
	if !slices.Contains(v.Finalizers, longhornFinalizer) {
		body["metadata"] = map[string]any{"finalizers": append(slices.Clone(v.Finalizers), longhornFinalizer), "resourceVersion": v.ResourceVersion}
	}
	if len(body) == 0 {
		return false, nil
	}
	err := s.patch(ctx, volumeGVR, v.Name, body)
	if apierrors.IsConflict(err) {
		return true, errRetry
	}
	return true, err
}

// deleteVolume is the volume controller's deletion: the volume turns
// "deleting", its engine and replicas are deleted, and once they are gone
// (their controllers removed their finalizers) the volume's finalizer goes.
// Replica cleanup goes through the replica queue, so a jammed queue slows
// volume deletion down as well (Longhorn issue 3242).
func (s *sim) deleteVolume(ctx context.Context, v *volume, replicas []*instance, engine *instance) error {
	s.dropData(v.Name)
	if v.Status.State != volStateDeleting {
		if err := s.patch(ctx, volumeGVR, v.Name, map[string]any{"status": map[string]any{"state": volStateDeleting}}, "status"); err != nil {
			return err
		}
	}
	var errs []error
	for _, r := range replicas {
		if r.DeletionTimestamp == nil {
			errs = append(errs, s.deleteLH(ctx, replicaGVR, r.Name))
		}
	}
	if engine != nil && engine.DeletionTimestamp == nil {
		errs = append(errs, s.deleteLH(ctx, engineGVR, engine.Name))
	}
	if err := errors.Join(errs...); err != nil {
		return err
	}
	if len(replicas) > 0 || engine != nil || !slices.Contains(v.Finalizers, longhornFinalizer) {
		return nil
	}
	return s.removeFinalizer(ctx, volumeGVR, v.Name, v.Finalizers, v.ResourceVersion)
}

// releaseVolumeAttachment removes the longhorn.io finalizer from the
// VolumeAttachment of a volume that is gone (handleVolumeAttachmentDeletion).
func (s *sim) releaseVolumeAttachment(ctx context.Context, vol string) error {
	va, err := getLH[lhVolumeAttachment](s.lhvas, vol)
	if err != nil || va == nil || !slices.Contains(va.Finalizers, longhornFinalizer) {
		return err
	}
	if va.DeletionTimestamp == nil {
		return s.deleteLH(ctx, lhvaGVR, vol)
	}
	return s.removeFinalizer(ctx, lhvaGVR, vol, va.Finalizers, va.ResourceVersion)
}

// ensureReplicas creates the replicas of a new volume on distinct
// schedulable nodes. Later replicas come from planReplenish, as in
// longhorn-manager (replenishReplicas only creates the first set for a
// volume that is not attached). Replicas it created that the cache does not
// show yet count as existing (the ReplicaSet controller's "expectations"),
// so a quick second sync does not create more.
func (s *sim) ensureReplicas(ctx context.Context, v *volume, replicas []*instance) error {
	taken := map[string]bool{}
	for _, r := range replicas {
		taken[r.Spec.NodeID] = true
	}
	pending := s.pendingReplicas(v.Name, replicas, taken)
	if len(replicas) > 0 && pending == 0 {
		return nil
	}
	have := len(replicas) + pending
	if have >= v.Spec.NumberOfReplicas {
		return nil
	}
	var errs []error
	for _, n := range placeReplicas(v.Name, s.schedulableNodes(), taken, v.Spec.NumberOfReplicas-have) {
		if err := s.createReplica(ctx, v, n, 0); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

func (s *sim) createReplica(ctx context.Context, v *volume, node string, rebuildRetryCount int) error {
	r := s.newReplica(v, node, rebuildRetryCount)
	if err := s.create(ctx, replicaGVR, r); err != nil {
		return err
	}
	s.expectReplica(v.Name, r["metadata"].(map[string]any)["name"].(string), node)
	return nil
}

// expectation is a replica created but not yet seen in the cache.
type expectation struct {
	node    string
	created time.Time
}

func (s *sim) expectReplica(vol, name, node string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.expected[vol] == nil {
		s.expected[vol] = map[string]expectation{}
	}
	s.expected[vol][name] = expectation{node: node, created: time.Now()}
}

// pendingReplicas drops the expectations the cache now satisfies (or that
// are older than a minute), marks the nodes of the others taken and returns
// how many are still pending.
func (s *sim) pendingReplicas(vol string, seen []*instance, taken map[string]bool) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	exp := s.expected[vol]
	for _, r := range seen {
		delete(exp, r.Name)
	}
	for name, e := range exp {
		if time.Since(e.created) > time.Minute {
			delete(exp, name)
			continue
		}
		taken[e.node] = true
	}
	if len(exp) == 0 {
		delete(s.expected, vol)
	}
	return len(exp)
}

func (s *sim) newReplica(v *volume, node string, rebuildRetryCount int) map[string]any {
	return map[string]any{
		"apiVersion": "longhorn.io/v1beta2",
		"kind":       "Replica",
		"metadata": map[string]any{
			"name":            replicaName(v.Name),
			"namespace":       Namespace,
			"labels":          map[string]any{"longhornvolume": v.Name, "longhornnode": node, "longhorndiskuuid": diskUUID(node)},
			"ownerReferences": ownerRefsAny(v),
			"finalizers":      []any{longhornFinalizer},
		},
		"spec": map[string]any{
			"volumeName":        v.Name,
			"volumeSize":        v.Spec.Size,
			"nodeID":            node,
			"diskID":            diskUUID(node),
			"diskPath":          "/var/lib/longhorn/",
			"dataDirectoryName": v.Name + "-" + randomHex(4),
			"backingImage":      v.Spec.BackingImage,
			"engineName":        engineName(v.Name),
			"desireState":       instStopped,
			"dataEngine":        "v1",
			"active":            true,
			"rebuildRetryCount": rebuildRetryCount,
		},
	}
}

func (s *sim) newEngine(v *volume) map[string]any {
	return map[string]any{
		"apiVersion": "longhorn.io/v1beta2",
		"kind":       "Engine",
		"metadata": map[string]any{
			"name":            engineName(v.Name),
			"namespace":       Namespace,
			"labels":          map[string]any{"longhornvolume": v.Name},
			"ownerReferences": ownerRefsAny(v),
			"finalizers":      []any{longhornFinalizer},
		},
		"spec": map[string]any{
			"volumeName":  v.Name,
			"volumeSize":  v.Spec.Size,
			"nodeID":      "",
			"desireState": instStopped,
			"frontend":    v.Spec.Frontend,
			"dataEngine":  "v1",
			"active":      true,
		},
	}
}

func newLHVolumeAttachment(v *volume) map[string]any {
	return map[string]any{
		"apiVersion": "longhorn.io/v1beta2",
		"kind":       "VolumeAttachment",
		"metadata": map[string]any{
			"name":            v.Name,
			"namespace":       Namespace,
			"labels":          map[string]any{"longhornvolume": v.Name},
			"ownerReferences": ownerRefsAny(v),
		},
		"spec": map[string]any{"volume": v.Name, "attachmentTickets": map[string]any{}},
	}
}

func ownerRefsAny(v *volume) []any {
	return []any{map[string]any{"apiVersion": "longhorn.io/v1beta2", "kind": "Volume", "name": v.Name, "uid": string(v.UID)}}
}

// applyInstanceDesires patches spec.desireState (and the engine's nodeID and
// disableFrontend) where they differ from the decision. Failed replicas are
// kept stopped.
func (s *sim) applyInstanceDesires(ctx context.Context, d volumeDecision, replicas []*instance, engine *instance, disableFrontend bool) error {
	var errs []error
	for _, r := range replicas {
		want := d.replicaDesire
		if r.Spec.FailedAt != "" {
			want = instStopped
		}
		if want != "" && r.Spec.DesireState != want && r.DeletionTimestamp == nil {
			errs = append(errs, s.patch(ctx, replicaGVR, r.Name, map[string]any{"spec": map[string]any{"desireState": want}}))
		}
	}
	spec := map[string]any{}
	if d.engineDesire != "" && engine.Spec.DesireState != d.engineDesire {
		spec["desireState"] = d.engineDesire
	}
	if d.engineNode != nil && engine.Spec.NodeID != *d.engineNode {
		spec["nodeID"] = *d.engineNode
	}
	if engine.Spec.DisableFrontend != disableFrontend && (engine.Status.CurrentState == "" || engine.Status.CurrentState == instStopped) {
		spec["disableFrontend"] = disableFrontend
	}
	if len(spec) > 0 {
		errs = append(errs, s.patch(ctx, engineGVR, engine.Name, map[string]any{"spec": spec}))
	}
	return errors.Join(errs...)
}

// volumeConditions builds the volume's conditions, keeping transition times
// of conditions whose status did not change.
func volumeConditions(prev []condition, d volumeDecision, scheduled bool, now string) []condition {
	want := []condition{
		{Type: "Restore", Status: "False"},
		{Type: "Scheduled", Status: "True"},
		{Type: "TooManySnapshots", Status: "False"},
		{Type: "WaitForBackingImage", Status: "False"},
	}
	if !scheduled {
		want[1] = condition{Type: "Scheduled", Status: "False", Reason: "ReplicaSchedulingFailure", Message: "insufficient nodes for the replicas"}
	}
	if d.waitForBI {
		want[3] = condition{Type: "WaitForBackingImage", Status: "True", Reason: "Waiting", Message: "waiting for the backing image to be ready on the replicas' disks"}
	}
	return keepTransitionTimes(prev, want, now)
}

func (s *sim) patchVolumeStatus(ctx context.Context, v *volume, d volumeDecision, scheduled bool, degradedAt string, disableFrontend bool) error {
	owner := d.currentNodeID
	if owner == "" {
		if nodes := s.nodeNames(); len(nodes) > 0 {
			owner = nodes[0]
		}
	}
	conds := volumeConditions(v.Status.Conditions, d, scheduled, nowString())
	frontendDisabled := disableFrontend && d.currentNodeID != ""
	ks := s.kubernetesStatusFor(v)
	want := volumeStatus{State: d.state, Robustness: d.robustness, CurrentNodeID: d.currentNodeID, OwnerID: owner, Conditions: conds,
		FrontendDisabled: frontendDisabled, LastDegradedAt: degradedAt, KubernetesStatus: ks}
	if conditionsEqual(v.Status.Conditions, conds) && v.Status.State == want.State && v.Status.Robustness == want.Robustness &&
		v.Status.CurrentNodeID == want.CurrentNodeID && v.Status.OwnerID == want.OwnerID &&
		v.Status.FrontendDisabled == want.FrontendDisabled && v.Status.LastDegradedAt == want.LastDegradedAt &&
		kubernetesStatusEqual(v.Status.KubernetesStatus, ks) {
		return nil
	}
	condAnys := make([]any, 0, len(conds))
	for _, c := range conds {
		condAnys = append(condAnys, condAny(c, c.LastTransitionTime))
	}
	status := map[string]any{
		"state":            want.State,
		"robustness":       want.Robustness,
		"currentNodeID":    want.CurrentNodeID,
		"ownerID":          want.OwnerID,
		"conditions":       condAnys,
		"frontendDisabled": frontendDisabled,
		"lastDegradedAt":   degradedAt,
	}
	if ks != nil {
		m, err := runtime.DefaultUnstructuredConverter.ToUnstructured(ks)
		if err != nil {
			return fmt.Errorf("convert kubernetesStatus: %w", err)
		}
		status["kubernetesStatus"] = m
	}
	return s.patch(ctx, volumeGVR, v.Name, map[string]any{"status": status}, "status")
}

func conditionsEqual(a, b []condition) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// patchTicketStatuses writes status.attachmentTicketStatuses when they
// differ from what the tickets and the volume's attachment call for.
func (s *sim) patchTicketStatuses(ctx context.Context, va *lhVolumeAttachment, d volumeDecision, wantNode string, disableFrontend bool) error {
	want := ticketStatuses(va.Spec.AttachmentTickets, va.Status.AttachmentTicketStatuses,
		attachState{node: d.currentNodeID, disableFrontend: disableFrontend, wantNode: wantNode, blocked: d.blocked}, nowString())
	body := map[string]any{}
	for id, st := range want {
		prev := va.Status.AttachmentTicketStatuses[id]
		if prev != nil && prev.Satisfied == st.Satisfied && prev.Generation == st.Generation && conditionsEqual(prev.Conditions, st.Conditions) {
			continue
		}
		conds := make([]any, 0, len(st.Conditions))
		for _, c := range st.Conditions {
			conds = append(conds, condAny(c, c.LastTransitionTime))
		}
		body[id] = map[string]any{"id": st.ID, "satisfied": st.Satisfied, "generation": st.Generation, "conditions": conds}
	}
	for id := range va.Status.AttachmentTicketStatuses {
		if _, ok := want[id]; !ok {
			body[id] = nil
		}
	}
	if len(body) == 0 {
		return nil
	}
	if err := s.patch(ctx, lhvaGVR, va.Name, map[string]any{"status": map[string]any{"attachmentTicketStatuses": body}}, "status"); err != nil {
		return fmt.Errorf("update ticket statuses: %w", err)
	}
	return nil
}
