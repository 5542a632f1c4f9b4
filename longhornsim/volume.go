package longhornsim

import (
	"context"
	"errors"
	"fmt"
	"time"
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
	robustnessUnknown  = "unknown"

	instRunning  = "running"
	instStopped  = "stopped"
	instStarting = "starting"
)

const defaultNumberOfReplicas = 3

// volumeView is what the volume state machine needs to know about a volume's
// instances; it keeps decideVolume free of API calls.
type volumeView struct {
	wantReplicas     int
	replicas         []*instance
	engine           *instance
	node             string // spec.nodeID: where the volume should be attached
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
	replicaDesire string // "" leaves replicas alone
	engineDesire  string // "" leaves the engine alone
	engineNode    *string
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
//     moves the stopped engine to the node, starts the replicas, then the
//     engine once every replica runs: "attaching" until the engine runs, then
//     "attached" and healthy (degraded with fewer replicas than wanted).
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
		return d
	}
	d.replicaDesire = instRunning
	if !allInState(v.replicas, instRunning) {
		d.state = volStateAttaching
		return d
	}
	d.engineDesire = instRunning
	if engineState != instRunning {
		d.state = volStateAttaching
		return d
	}
	d.state = volStateAttached
	d.currentNodeID = v.node
	d.robustness = robustnessHealthy
	if len(v.replicas) < v.wantReplicas {
		d.robustness = robustnessDegraded
	}
	return d
}

// syncVolume reconciles one Longhorn volume: its defaults, replicas, engine
// and longhorn.io VolumeAttachment, the attachment tickets, and its status.
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
		return 0, nil
	}
	if v.DeletionTimestamp != nil {
		if v.Status.State != volStateDeleting {
			return 0, s.patch(ctx, volumeGVR, name, map[string]any{"status": map[string]any{"state": volStateDeleting}}, "status")
		}
		return 0, nil
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

	replicas, err := listLH[instance](s.replicas, byVolume, name)
	if err != nil {
		return 0, err
	}
	if err := s.ensureReplicas(ctx, v, replicas); err != nil {
		return 0, err
	}
	engine, err := getLH[instance](s.engines, engineName(name))
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
	if va == nil {
		if wait := s.opts.VolumeAttachmentDelay - time.Since(first); wait > 0 {
			later(wait)
		} else if err := s.create(ctx, lhvaGVR, newLHVolumeAttachment(v)); err != nil {
			return 0, err
		}
	} else {
		node = desiredNode(va.Spec.AttachmentTickets, v.Spec.NodeID)
		if node != v.Spec.NodeID {
			if err := s.patch(ctx, volumeGVR, name, map[string]any{"spec": map[string]any{"nodeID": node}}); err != nil {
				return 0, err
			}
		}
	}

	var replicaNodes []string
	for _, r := range replicas {
		replicaNodes = append(replicaNodes, r.Spec.NodeID)
	}
	view := volumeView{
		wantReplicas: v.Spec.NumberOfReplicas,
		replicas:     replicas,
		engine:       engine,
		node:         node,
		backingImage: v.Spec.BackingImage,
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
	if s.opts.Mode == ModeLegacyQueueJam && (d.state == volStateCreating || d.state == volStateAttaching) {
		backlog := s.repCtl.queue.Len()
		s.log.Debug().Str("volume", name).Str("state", d.state).Int("replicaQueue", backlog).
			Dur("expectedWait", jamWait(backlog, s.opts.JamItemCost)).Msg("volume waits for the jammed replica queue")
	}

	if err := s.applyInstanceDesires(ctx, d, replicas, engine); err != nil {
		return 0, err
	}
	if err := s.patchVolumeStatus(ctx, v, d, len(replicas)); err != nil {
		return 0, err
	}
	if va != nil {
		if err := s.patchTicketStatuses(ctx, va, d.currentNodeID); err != nil {
			return 0, err
		}
	}
	return requeue, nil
}

// defaultVolumeSpec fills the spec defaults Longhorn's webhook sets; it
// reports done when it patched (the update event brings the volume back).
func (s *sim) defaultVolumeSpec(ctx context.Context, v *volume) (bool, error) {
	spec := map[string]any{}
	if v.Spec.NumberOfReplicas == 0 {
		spec["numberOfReplicas"] = defaultNumberOfReplicas
	}
	if v.Spec.Frontend == "" {
		spec["frontend"] = "blockdev"
	}
	if v.Spec.DataEngine == "" {
		spec["dataEngine"] = "v1"
	}
	if len(spec) == 0 {
		return false, nil
	}
	return true, s.patch(ctx, volumeGVR, v.Name, map[string]any{"spec": spec})
}

// ensureReplicas creates the missing replicas of a volume on distinct nodes.
// Replicas it created that the cache does not show yet count as existing
// (the ReplicaSet controller's "expectations"), so a quick second sync does
// not create more.
func (s *sim) ensureReplicas(ctx context.Context, v *volume, replicas []*instance) error {
	taken := map[string]bool{}
	for _, r := range replicas {
		taken[r.Spec.NodeID] = true
	}
	have := len(replicas) + s.pendingReplicas(v.Name, replicas, taken)
	if have >= v.Spec.NumberOfReplicas {
		return nil
	}
	var errs []error
	for _, n := range placeReplicas(v.Name, s.nodeNames(), taken, v.Spec.NumberOfReplicas-have) {
		r := s.newReplica(v, n)
		if err := s.create(ctx, replicaGVR, r); err != nil {
			errs = append(errs, err)
			continue
		}
		s.expectReplica(v.Name, r["metadata"].(map[string]any)["name"].(string), n)
	}
	return errors.Join(errs...)
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

func (s *sim) newReplica(v *volume, node string) map[string]any {
	return map[string]any{
		"apiVersion": "longhorn.io/v1beta2",
		"kind":       "Replica",
		"metadata": map[string]any{
			"name":            replicaName(v.Name),
			"namespace":       Namespace,
			"labels":          map[string]any{"longhornvolume": v.Name, "longhornnode": node, "longhorndiskuuid": diskUUID(node)},
			"ownerReferences": ownerRefsAny(v),
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

// applyInstanceDesires patches spec.desireState (and the engine's nodeID)
// where they differ from the decision.
func (s *sim) applyInstanceDesires(ctx context.Context, d volumeDecision, replicas []*instance, engine *instance) error {
	var errs []error
	if d.replicaDesire != "" {
		for _, r := range replicas {
			if r.Spec.DesireState != d.replicaDesire {
				errs = append(errs, s.patch(ctx, replicaGVR, r.Name, map[string]any{"spec": map[string]any{"desireState": d.replicaDesire}}))
			}
		}
	}
	spec := map[string]any{}
	if d.engineDesire != "" && engine.Spec.DesireState != d.engineDesire {
		spec["desireState"] = d.engineDesire
	}
	if d.engineNode != nil && engine.Spec.NodeID != *d.engineNode {
		spec["nodeID"] = *d.engineNode
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
	for i := range want {
		want[i].LastTransitionTime = now
		for _, p := range prev {
			if p.Type == want[i].Type && p.Status == want[i].Status && p.LastTransitionTime != "" {
				want[i].LastTransitionTime = p.LastTransitionTime
			}
		}
	}
	return want
}

func (s *sim) patchVolumeStatus(ctx context.Context, v *volume, d volumeDecision, nReplicas int) error {
	owner := d.currentNodeID
	if owner == "" {
		if nodes := s.nodeNames(); len(nodes) > 0 {
			owner = nodes[0]
		}
	}
	conds := volumeConditions(v.Status.Conditions, d, nReplicas >= v.Spec.NumberOfReplicas, nowString())
	want := volumeStatus{State: d.state, Robustness: d.robustness, CurrentNodeID: d.currentNodeID, OwnerID: owner, Conditions: conds}
	if conditionsEqual(v.Status.Conditions, conds) && v.Status.State == want.State && v.Status.Robustness == want.Robustness &&
		v.Status.CurrentNodeID == want.CurrentNodeID && v.Status.OwnerID == want.OwnerID {
		return nil
	}
	condAny := make([]any, 0, len(conds))
	for _, c := range conds {
		condAny = append(condAny, map[string]any{"type": c.Type, "status": c.Status, "reason": c.Reason, "message": c.Message,
			"lastTransitionTime": c.LastTransitionTime, "lastProbeTime": ""})
	}
	status := map[string]any{
		"state":            want.State,
		"robustness":       want.Robustness,
		"currentNodeID":    want.CurrentNodeID,
		"ownerID":          want.OwnerID,
		"conditions":       condAny,
		"frontendDisabled": false,
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
func (s *sim) patchTicketStatuses(ctx context.Context, va *lhVolumeAttachment, attachedNode string) error {
	want := ticketStatuses(va.Spec.AttachmentTickets, va.Status.AttachmentTicketStatuses, attachedNode, nowString())
	body := map[string]any{}
	for id, st := range want {
		prev := va.Status.AttachmentTicketStatuses[id]
		if prev != nil && prev.Satisfied == st.Satisfied && prev.Generation == st.Generation && conditionsEqual(prev.Conditions, st.Conditions) {
			continue
		}
		conds := make([]any, 0, len(st.Conditions))
		for _, c := range st.Conditions {
			conds = append(conds, map[string]any{"type": c.Type, "status": c.Status, "reason": c.Reason, "message": c.Message,
				"lastTransitionTime": c.LastTransitionTime, "lastProbeTime": ""})
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
