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

// scheduledReplicas are the replicas with a node (spec.nodeID set). A
// replica the scheduler could not place has no instance to start: the volume
// controller skips it when it opens the volume (openVolumeDependentResources:
// "Don't attempt to start the replica or do anything else if it hasn't been
// scheduled").
func scheduledReplicas(rs []*instance) []*instance {
	var out []*instance
	for _, r := range rs {
		if r.Spec.NodeID != "" {
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
//     moves the stopped engine to the node, starts the scheduled replicas
//     that have not failed, then the engine once they run: "attaching" until
//     the engine runs, then "attached". An engine cannot start on a node
//     whose instance manager does not run: the volume stays "attaching"
//     (blocked says why). A volume whose usable replicas are all unscheduled
//     stays "detached" (openVolumeDependentResources: "no healthy or
//     scheduled replica for starting"). Once the engine runs, a replica that
//     does not run yet (just scheduled or created for a rebuild) leaves the
//     volume attached.
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
	placed := scheduledReplicas(usable)
	if len(placed) == 0 {
		// openVolumeDependentResources fails before the state machine
		// leaves "detached".
		d.replicaDesire, d.engineDesire = instStopped, instStopped
		d.state = volStateDetached
		d.blocked = "no healthy or scheduled replica for starting"
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
	if engineState != instRunning && !allInState(placed, instRunning) {
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

	pending, precheck, err := s.ensureReplicas(ctx, v, replicas)
	if err != nil {
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

	// Replicas without a node get one when a node can take them
	// (reconcileVolumeCondition → ScheduleReplica); Longhorn looks again
	// every 30 s, and whenever a Longhorn node changes (enqueueNodeChange).
	replicas, err = s.scheduleReplicas(ctx, v, replicas)
	if err != nil {
		return 0, err
	}

	var replicaNodes []string
	for _, r := range scheduledReplicas(usableReplicas(replicas)) {
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
	if d.state == volStateAttached && engine.Status.CurrentState == instRunning {
		if err := s.markHealthyReplicas(ctx, replicas, engine); err != nil {
			return 0, err
		}
		plan := planReplenish(replenishView{
			volume: name, want: v.Spec.NumberOfReplicas, replicas: replicas, engine: engine,
			degraded: d.robustness == robustnessDegraded, degradedAt: parseTime(degradedAt),
			wait: s.replenishWait(), skew: s.scaled(time.Second), now: time.Now(),
			limit: s.settingInt(SettingConcurrentReplicaRebuildPerNodeLimit),
			nodes: s.nodeView, schedulable: s.schedulableNodes(), soft: s.settingBool(SettingReplicaSoftAntiAffinity),
		})
		later(plan.checkAfter)
		if plan.unschedulable {
			precheck = precheckFailure(len(s.schedulableNodes()) == 0)
		}
		if err := s.applyReplenish(ctx, v, replicas, plan); err != nil {
			return 0, err
		}
		wait, err := s.cleanupStaleReplicas(ctx, v, replicas, rwCount(replicas, engine) > 0)
		if err != nil {
			return 0, err
		}
		later(wait)
	}
	sv := scheduledView{
		prev: findCondition(v.Status.Conditions, volCondScheduled), want: v.Spec.NumberOfReplicas,
		attached: d.currentNodeID != "", allowDegraded: s.settingBool(SettingAllowVolumeCreationWithDegradedAvailability),
		precheck: precheck,
	}
	for _, r := range replicas {
		sv.replicas++
		if r.Spec.NodeID == "" && r.DeletionTimestamp == nil {
			sv.unscheduled++
		}
		if r.Spec.FailedAt == "" && r.DeletionTimestamp == nil {
			sv.usable++
			sv.available = sv.available || r.Spec.NodeID != ""
		}
	}
	for _, n := range pending {
		// Created this sync or a moment ago, not in the cache yet: Longhorn
		// would count them (they are in its rs map).
		sv.replicas++
		sv.usable++
		if n == "" {
			sv.unscheduled++
		}
		sv.available = sv.available || n != ""
	}
	if sv.unscheduled > 0 {
		later(s.scaled(scheduleRetry))
	}
	if err := s.patchVolumeStatus(ctx, v, d, scheduledCondition(sv), degradedAt, disableFrontend); err != nil {
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

// ensureReplicas creates the replicas of a new volume, as the volume
// controller's first replenishReplicas does (reconcileVolumeCreation, only
// while the volume has no replica at all; later ones come from
// planReplenish). Longhorn creates numberOfReplicas replicas at once with
// spec.nodeID "": each passes precheckCreateReplica as long as one node is
// schedulable, since a replica without a node occupies none. In the same
// sync reconcileVolumeCondition schedules them (ScheduleReplica) and the
// sync writes the nodes back; the simulator creates each on its node
// straight away, and those the scheduler would not place (not enough
// schedulable nodes, hard anti-affinity) with spec.nodeID "". With no
// schedulable node at all the precheck fails for every replica: none is
// created, and precheck is the Scheduled condition's message.
//
// Replicas it created that the cache does not show yet count as existing
// (the ReplicaSet controller's "expectations"), so a quick second sync does
// not create more; pending lists their nodes ("" for unscheduled ones).
func (s *sim) ensureReplicas(ctx context.Context, v *volume, replicas []*instance) (pending []string, precheck string, err error) {
	pending = s.pendingReplicas(v.Name, replicas, map[string]bool{})
	if len(replicas) > 0 || len(pending) > 0 || v.Spec.NumberOfReplicas <= 0 {
		return pending, "", nil
	}
	schedulable := s.schedulableNodes()
	if len(schedulable) == 0 {
		return nil, precheckFailure(true), nil
	}
	nodes := placeReplicas(v.Name, schedulable, nil, v.Spec.NumberOfReplicas, s.settingBool(SettingReplicaSoftAntiAffinity))
	var errs []error
	for i := 0; i < v.Spec.NumberOfReplicas; i++ {
		node := ""
		if i < len(nodes) {
			node = nodes[i]
		} else {
			s.log.Info().Str("volume", v.Name).Int("schedulableNodes", len(schedulable)).
				Msg("creating an unscheduled replica: no schedulable node without a replica of the volume")
		}
		if err := s.createReplica(ctx, v, node, 0); err != nil {
			errs = append(errs, err)
		}
	}
	return nil, "", errors.Join(errs...)
}

// scheduleRetry is how soon the volume controller looks again at a volume
// with a replica it could not schedule (reconcileVolumeCondition:
// enqueueVolumeAfter(v, 30*time.Second)).
const scheduleRetry = 30 * time.Second

// usedNodes are the nodes that hold a replica of the volume as the scheduler
// counts them (getCurrentNodesAndZones): replicas with a node and not being
// deleted; a failed one only if it may be reused
// (IsPotentiallyReusableReplica).
func usedNodes(replicas []*instance) map[string]bool {
	used := map[string]bool{}
	for _, r := range replicas {
		if r.Spec.NodeID == "" || r.DeletionTimestamp != nil {
			continue
		}
		if r.Spec.FailedAt != "" && (r.Spec.DiskID == "" || r.Spec.RebuildRetryCount >= failedReplicaMaxRetryCount) {
			continue
		}
		used[r.Spec.NodeID] = true
	}
	return used
}

// scheduleReplicas is the scheduling loop of reconcileVolumeCondition: every
// replica with spec.nodeID "" goes through ScheduleReplica, which places it
// on a schedulable node (ListSchedulableNodes: Ready, Schedulable, scheduling
// allowed) holding no replica of the volume, or any such node with
// replica-soft-anti-affinity, and sets spec.nodeID, diskID, diskPath and
// dataDirectoryName (scheduleReplicaToDisk; the datastore relabels it
// longhornnode and longhorndiskuuid). A replica that failed before it was
// ever healthy is never scheduled (ErrorReplicaScheduleUnusedFailed
// ReplicaIsNotSupported). It returns the replicas as they are after
// scheduling. The patch carries the replica's resourceVersion, so two syncs
// never place one replica twice.
func (s *sim) scheduleReplicas(ctx context.Context, v *volume, replicas []*instance) ([]*instance, error) {
	var waiting []int
	for i, r := range replicas {
		if r.Spec.NodeID == "" && r.DeletionTimestamp == nil && !(r.Spec.HealthyAt == "" && r.Spec.FailedAt != "") {
			waiting = append(waiting, i)
		}
	}
	if len(waiting) == 0 {
		return replicas, nil
	}
	nodes := placeReplicas(v.Name, s.schedulableNodes(), usedNodes(replicas), len(waiting), s.settingBool(SettingReplicaSoftAntiAffinity))
	out := slices.Clone(replicas)
	var errs []error
	for k, node := range nodes {
		r := *replicas[waiting[k]]
		err := s.patch(ctx, replicaGVR, r.Name, map[string]any{
			"metadata": map[string]any{
				"resourceVersion": r.ResourceVersion,
				"labels":          map[string]any{"longhornnode": node, "longhorndiskuuid": diskUUID(node)},
			},
			"spec": map[string]any{
				"nodeID": node, "diskID": diskUUID(node), "diskPath": replicaDiskPath,
				"dataDirectoryName": v.Name + "-" + randomHex(4),
			},
		})
		if apierrors.IsConflict(err) {
			errs = append(errs, errRetry)
			continue
		}
		if err != nil {
			errs = append(errs, err)
			continue
		}
		s.log.Info().Str("volume", v.Name).Str("replica", r.Name).Str("node", node).Msg("scheduled replica")
		r.Spec.NodeID, r.Spec.DiskID = node, diskUUID(node)
		out[waiting[k]] = &r
	}
	return out, errors.Join(errs...)
}

// createReplica creates a replica of v on node; node "" creates it
// unscheduled.
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
// those nodes ("" for a replica created unscheduled).
func (s *sim) pendingReplicas(vol string, seen []*instance, taken map[string]bool) []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	exp := s.expected[vol]
	for _, r := range seen {
		delete(exp, r.Name)
	}
	var nodes []string
	for name, e := range exp {
		if time.Since(e.created) > time.Minute {
			delete(exp, name)
			continue
		}
		if e.node != "" {
			taken[e.node] = true
		}
		nodes = append(nodes, e.node)
	}
	if len(exp) == 0 {
		delete(s.expected, vol)
	}
	return nodes
}

// replicaDiskPath is the path of each node's one disk.
const replicaDiskPath = "/var/lib/longhorn/"

// newReplica is newReplicaCR with the scheduler's choice filled in: an
// unscheduled replica (node "") has no node, disk, disk path or data
// directory, and empty longhornnode and longhorndiskuuid labels
// (datastore.CreateReplica's labelNode, labelDiskUUID).
func (s *sim) newReplica(v *volume, node string, rebuildRetryCount int) map[string]any {
	disk, path, dir := "", "", ""
	if node != "" {
		disk, path, dir = diskUUID(node), replicaDiskPath, v.Name+"-"+randomHex(4)
	}
	return map[string]any{
		"apiVersion": "longhorn.io/v1beta2",
		"kind":       "Replica",
		"metadata": map[string]any{
			"name":            replicaName(v.Name),
			"namespace":       Namespace,
			"labels":          map[string]any{"longhornvolume": v.Name, "longhornnode": node, "longhorndiskuuid": disk},
			"ownerReferences": ownerRefsAny(v),
			"finalizers":      []any{longhornFinalizer},
		},
		"spec": map[string]any{
			"volumeName":        v.Name,
			"volumeSize":        v.Spec.Size,
			"nodeID":            node,
			"diskID":            disk,
			"diskPath":          path,
			"dataDirectoryName": dir,
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
// disableFrontend) where they differ from the decision. Failed replicas and
// unscheduled ones are kept stopped.
func (s *sim) applyInstanceDesires(ctx context.Context, d volumeDecision, replicas []*instance, engine *instance, disableFrontend bool) error {
	var errs []error
	for _, r := range replicas {
		want := d.replicaDesire
		if r.Spec.FailedAt != "" || r.Spec.NodeID == "" {
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

// The volume's Scheduled condition (k8s/pkg/apis/longhorn/v1beta2/volume.go,
// VolumeConditionTypeScheduled, VolumeConditionReasonReplicaSchedulingFailure)
// and the messages longhorn-manager writes into it.
const (
	volCondScheduled            = "Scheduled"
	reasonReplicaSchedulingFail = "ReplicaSchedulingFailure"
	// ErrorReplicaScheduleSchedulingFailed, the message when no scheduler
	// error says more (a replica found no node holding none of the
	// volume's replicas).
	msgReplicaSchedulingFailed = "replica scheduling failed"
	// reconcileVolumeCondition, allow-volume-creation-with-degraded-
	// availability on a detached volume.
	msgResetSchedulable = "Reset schedulable due to allow volume creation with degraded availability"
)

// precheckFailure is the Scheduled message replenishReplicas writes when
// precheckCreateReplica finds no disk for a new replica: "nodes are
// unavailable" (ErrorReplicaScheduleNodeUnavailable) when no node is
// schedulable, else "disks are unavailable"
// (ErrorReplicaScheduleDiskUnavailable: every schedulable node holds one).
func precheckFailure(noSchedulableNode bool) string {
	reason := "disks are unavailable"
	if noSchedulableNode {
		reason = "nodes are unavailable"
	}
	return "precheck new replica failed: " + reason
}

// scheduledView is what reconcileVolumeCondition reads to set the Scheduled
// condition.
type scheduledView struct {
	prev          condition // the condition as it is (Status "" when missing)
	replicas      int       // all replicas (len(rs))
	want          int       // spec.numberOfReplicas
	unscheduled   int       // replicas ScheduleReplica could not place
	usable        int       // replicas not failed (getReplenishReplicasCount)
	available     bool      // a replica with a node that has not failed
	attached      bool      // status.currentNodeID is set
	allowDegraded bool      // allow-volume-creation-with-degraded-availability
	precheck      string    // replenishReplicas' precheck failure this sync
}

// scheduledCondition is reconcileVolumeCondition's Scheduled condition
// (controller/volume_controller.go), in its order:
//
//   - replenishReplicas, earlier in the sync, set False with the precheck
//     message when it could not create a replica;
//   - a replica ScheduleReplica could not place sets False
//     (ReplicaSchedulingFailure) and the volume is not scheduled, nor is one
//     with a replica count other than numberOfReplicas;
//   - scheduled with nothing to replenish: True;
//   - else a detached volume with one usable replica on a node is True with
//     msgResetSchedulable when allow-volume-creation-with-degraded-
//     availability is true (Longhorn's default), so a detached volume
//     missing a replica reads Scheduled True and only an attached one False;
//   - not scheduled and False: the message is the scheduler's errors, here
//     msgReplicaSchedulingFailed, unless a message is already there.
//
// Otherwise the condition stays as it was.
func scheduledCondition(v scheduledView) condition {
	c := v.prev
	c.Type = volCondScheduled
	if c.Status == "" {
		c.Status = "Unknown" // types.GetCondition's getUnknownCondition
	}
	if v.precheck != "" {
		c = condition{Type: volCondScheduled, Status: "False", Reason: reasonReplicaSchedulingFail, Message: v.precheck}
	}
	scheduled := true
	if v.unscheduled > 0 {
		c = condition{Type: volCondScheduled, Status: "False", Reason: reasonReplicaSchedulingFail}
		scheduled = false
	}
	if v.replicas != v.want {
		scheduled = false
	}
	switch {
	case scheduled && v.usable >= v.want:
		return condition{Type: volCondScheduled, Status: "True"}
	case !v.attached && v.allowDegraded && v.available:
		return condition{Type: volCondScheduled, Status: "True", Message: msgResetSchedulable}
	}
	if !scheduled && c.Status == "False" {
		if c.Reason != reasonReplicaSchedulingFail || c.Message == "" {
			c.Message = msgReplicaSchedulingFailed
		}
	}
	c.LastTransitionTime, c.LastProbeTime = "", ""
	return c
}

// findCondition returns the condition of type t, the zero condition when
// there is none.
func findCondition(conds []condition, t string) condition {
	for _, c := range conds {
		if c.Type == t {
			return c
		}
	}
	return condition{}
}

// volumeConditions builds the volume's conditions, keeping transition times
// of conditions whose status did not change.
func volumeConditions(prev []condition, d volumeDecision, scheduled condition, now string) []condition {
	want := []condition{
		{Type: "Restore", Status: "False"},
		scheduled,
		{Type: "TooManySnapshots", Status: "False"},
		{Type: "WaitForBackingImage", Status: "False"},
	}
	if d.waitForBI {
		want[3] = condition{Type: "WaitForBackingImage", Status: "True", Reason: "Waiting", Message: "waiting for the backing image to be ready on the replicas' disks"}
	}
	return keepTransitionTimes(prev, want, now)
}

func (s *sim) patchVolumeStatus(ctx context.Context, v *volume, d volumeDecision, scheduled condition, degradedAt string, disableFrontend bool) error {
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
