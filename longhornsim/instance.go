package longhornsim

import (
	"context"
	"slices"
	"strconv"
	"time"
)

// syncReplica plays the replica controller (the instance handler's
// ReconcileInstanceState for a replica): it brings status.currentState to
// spec.desireState ("stopped" when unset) when the node's instance manager
// runs. When it does not, a replica that was started turns unknown (the node
// is down or gone) or error (the instance manager pod was evicted), and one
// that was not stays stopped (syncStatusWithInstanceManager). A rebuilding
// replica waits while concurrent-replica-rebuild-per-node-limit others
// rebuild on its node (CanStartRebuildingReplica). A replica without a node
// (unscheduled) has no instance manager: it is stopped, owned by some
// manager (isControllerResponsibleFor: any when the preferred owner is "").
// A deleted replica loses its finalizer. In legacy-queue-jam mode this runs behind the rate-limited
// queue, so every step waits its turn.
func (s *sim) syncReplica(ctx context.Context, name string) (time.Duration, error) {
	r, err := getLH[instance](s.replicas, name)
	if err != nil || r == nil {
		if r == nil && err == nil {
			s.forgetRebuild(name)
			s.forgetRebuilt(name)
		}
		return 0, err
	}
	if r.DeletionTimestamp != nil {
		if slices.Contains(r.Finalizers, longhornFinalizer) {
			return 0, s.removeFinalizer(ctx, replicaGVR, name, r.Finalizers, r.ResourceVersion)
		}
		return 0, nil
	}
	desire := r.Spec.DesireState
	if desire == "" {
		desire = instStopped
	}
	started := r.Status.Started
	want := desire
	if im := s.nodeView(r.Spec.NodeID).imState; im != imRunning {
		switch {
		case started && desire == instRunning && im == imError:
			want = instError
		case started && desire == instRunning:
			want = instUnknown
		default:
			want = instStopped
		}
	} else if desire == instRunning && r.Status.CurrentState != instRunning && isRebuildingReplica(r) {
		if !s.canStartRebuild(r) {
			// A rebuild on the node finishing wakes this replica
			// (enqueueRebuildingReplicas).
			return 0, nil
		}
	}
	owner := r.Spec.NodeID
	if owner == "" {
		if nodes := s.nodeNames(); len(nodes) > 0 {
			owner = nodes[0]
		}
	}
	if r.Status.CurrentState == want && (r.Status.OwnerID == owner || r.Status.OwnerID == "") {
		return 0, nil
	}
	if r.Status.CurrentState == want {
		// Scheduled: the node's manager takes the replica over
		// (isControllerResponsibleFor prefers spec.nodeID).
		return 0, s.patch(ctx, replicaGVR, name, map[string]any{"status": map[string]any{"ownerID": owner}}, "status")
	}
	if want == instError || want == instUnknown {
		s.log.Info().Str("replica", name).Str("node", r.Spec.NodeID).Str("state", want).Msg("replica lost: its instance manager does not run")
	}
	status := map[string]any{"currentState": want, "ownerID": owner}
	switch want {
	case instRunning:
		status["started"] = true
		status["instanceManagerName"] = instanceManagerName(r.Spec.NodeID)
		status["currentImage"] = longhornEngineImage
		status["port"] = 10000
	case instStopped:
		status["started"] = false
		status["instanceManagerName"] = ""
		status["port"] = 0
	default: // unknown, error: the process is lost
		status["port"] = 0
	}
	return 0, s.patch(ctx, replicaGVR, name, map[string]any{"status": status}, "status")
}

// canStartRebuild is CanStartRebuildingReplica: fewer than the limit of
// rebuilding replicas run or start on the replica's node (a limit below 1
// blocks nothing; 0 disables replenishment in the volume controller). Like
// Longhorn it keeps the replicas it let start in a map under a lock, so
// that workers deciding at the same time do not both see a free slot.
func (s *sim) canStartRebuild(r *instance) bool {
	limit := s.settingInt(SettingConcurrentReplicaRebuildPerNodeLimit)
	if limit < 1 {
		return true
	}
	others, _ := listLH[instance](s.replicas, byNode, r.Spec.NodeID)
	s.mu.Lock()
	defer s.mu.Unlock()
	onNode := map[string]*instance{}
	for _, o := range others {
		onNode[o.Name] = o
		if isRebuildingReplica(o) && (o.Status.CurrentState == instRunning || o.Status.CurrentState == instStarting) {
			s.inProgress[o.Name] = r.Spec.NodeID
		}
	}
	busy := 0
	for name, node := range s.inProgress {
		if node != r.Spec.NodeID {
			continue
		}
		if name == r.Name {
			return true
		}
		if o, ok := onNode[name]; !ok || !isRebuildingReplica(o) {
			delete(s.inProgress, name)
			continue
		}
		busy++
	}
	if int64(busy) >= limit {
		return false
	}
	s.inProgress[r.Name] = r.Spec.NodeID
	return true
}

// longhornEngineImage is what instances report as their image.
const longhornEngineImage = "longhornio/longhorn-engine:sim"

func (s *sim) engineStartedAt(name string, reset bool) time.Time {
	s.mu.Lock()
	defer s.mu.Unlock()
	t, ok := s.engineStart[name]
	if !ok || reset {
		t = time.Now()
		s.engineStart[name] = t
	}
	return t
}

// rebuildStartedAt returns when a replica started rebuilding (entered WO).
func (s *sim) rebuildStartedAt(replica string) time.Time {
	s.mu.Lock()
	defer s.mu.Unlock()
	t, ok := s.rebuildFrom[replica]
	if !ok {
		t = time.Now()
		s.rebuildFrom[replica] = t
	}
	return t
}

func (s *sim) forgetRebuild(replica string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.rebuildFrom, replica)
}

// rebuildTime is how long a replica of a volume of size bytes stays WO.
func (s *sim) rebuildTime(size string) time.Duration {
	n, err := strconv.ParseInt(size, 10, 64)
	if err != nil || n <= 0 {
		return 0
	}
	return time.Duration(float64(n) / float64(s.opts.RebuildRate) * float64(time.Second))
}

// replicaModes is the engine's replicaModeMap: the replicas it had keep
// their mode; a replica that runs and was not in the map joins as RW when
// the engine starts (fresh) and as WO (rebuilding) when the engine already
// runs; a replica in the map whose process is lost (error, unknown) is ERR;
// replicas stopped, failed or deleted leave the map.
func replicaModes(prev map[string]string, replicas []*instance, engineStarting bool) map[string]string {
	out := map[string]string{}
	for _, r := range replicas {
		if r.DeletionTimestamp != nil {
			continue
		}
		mode, had := prev[r.Name]
		switch {
		case r.Status.CurrentState == instError || r.Status.CurrentState == instUnknown:
			if had {
				out[r.Name] = modeERR
			}
		case r.Spec.FailedAt != "" || r.Status.CurrentState != instRunning:
		case had && mode != modeERR:
			out[r.Name] = mode
		case engineStarting:
			out[r.Name] = modeRW
		default:
			out[r.Name] = modeWO
		}
	}
	return out
}

// syncEngine plays the engine controller: a wanted engine goes "starting"
// and, AttachTime later, "running" with its running replicas in RW mode;
// while it runs it keeps replicaModeMap (replicaModes), and a replica
// rebuilding (WO) turns RW after its volume's size / RebuildRate. An engine
// whose instance manager does not run cannot start, and a running one turns
// unknown (node down) or error (instance manager evicted). An unwanted
// engine stops at once; a deleted one loses its finalizer.
func (s *sim) syncEngine(ctx context.Context, name string) (time.Duration, error) {
	e, err := getLH[instance](s.engines, name)
	if err != nil || e == nil {
		if e == nil && err == nil {
			s.mu.Lock()
			delete(s.engineStart, name)
			s.mu.Unlock()
		}
		return 0, err
	}
	if e.DeletionTimestamp != nil {
		if slices.Contains(e.Finalizers, longhornFinalizer) {
			return 0, s.removeFinalizer(ctx, engineGVR, name, e.Finalizers, e.ResourceVersion)
		}
		return 0, nil
	}
	desire := e.Spec.DesireState
	if desire == "" {
		desire = instStopped
	}
	cur := e.Status.CurrentState
	im := s.nodeView(e.Spec.NodeID).imState
	if desire == instRunning && im != imRunning {
		lost := instStopped
		if cur == instRunning || cur == instUnknown || cur == instError {
			lost = instUnknown
			if im == imError {
				lost = instError
			}
		}
		if cur == lost {
			return 0, nil
		}
		return 0, s.patch(ctx, engineGVR, name, map[string]any{"status": map[string]any{"currentState": lost, "endpoint": "", "port": 0}}, "status")
	}
	switch {
	case desire == instRunning && (cur == instRunning || cur == instUnknown || cur == instError):
		return s.syncEngineReplicas(ctx, e)
	case desire == instRunning && cur != instStarting:
		s.engineStartedAt(name, true)
		return s.opts.AttachTime, s.patch(ctx, engineGVR, name, map[string]any{"status": map[string]any{
			"currentState": instStarting, "ownerID": e.Spec.NodeID, "instanceManagerName": instanceManagerName(e.Spec.NodeID),
		}}, "status")
	case desire == instRunning:
		if wait := s.opts.AttachTime - time.Since(s.engineStartedAt(name, false)); wait > 0 {
			return wait, nil
		}
		replicas, err := listLH[instance](s.replicas, byVolume, e.Spec.VolumeName)
		if err != nil {
			return 0, err
		}
		modes := replicaModes(nil, replicas, true)
		endpoint := "/dev/longhorn/" + e.Spec.VolumeName
		if e.Spec.DisableFrontend {
			endpoint = ""
		}
		return 0, s.patch(ctx, engineGVR, name, map[string]any{"status": map[string]any{
			"currentState":             instRunning,
			"started":                  true,
			"currentImage":             longhornEngineImage,
			"endpoint":                 endpoint,
			"replicaModeMap":           anyMap(modes),
			"currentReplicaAddressMap": addressMap(replicas, modes),
			"replicaTransitionTimeMap": transitionMap(modes, nil, nowString()),
			"currentSize":              e.Spec.VolumeSize,
			"port":                     10000,
		}}, "status")
	case cur != instStopped:
		return 0, s.patch(ctx, engineGVR, name, map[string]any{"status": map[string]any{
			"currentState":             instStopped,
			"started":                  false,
			"endpoint":                 "",
			"replicaModeMap":           nil,
			"currentReplicaAddressMap": nil,
			"replicaTransitionTimeMap": nil,
			"instanceManagerName":      "",
			"port":                     0,
		}}, "status")
	}
	return 0, nil
}

// syncEngineReplicas keeps a running engine's replicaModeMap up to date and
// finishes rebuilds whose time is up.
func (s *sim) syncEngineReplicas(ctx context.Context, e *instance) (time.Duration, error) {
	replicas, err := listLH[instance](s.replicas, byVolume, e.Spec.VolumeName)
	if err != nil {
		return 0, err
	}
	modes := replicaModes(e.Status.ReplicaModeMap, replicas, false)
	var requeue time.Duration
	took := s.rebuildTime(e.Spec.VolumeSize)
	for r, mode := range modes {
		if mode != modeWO {
			s.forgetRebuild(r)
			continue
		}
		left := took - time.Since(s.rebuildStartedAt(r))
		if left <= 0 {
			modes[r] = modeRW
			s.forgetRebuild(r)
			s.markRebuilt(r)
			continue
		}
		if requeue == 0 || left < requeue {
			requeue = left
		}
	}
	status := map[string]any{}
	endpoint := "/dev/longhorn/" + e.Spec.VolumeName
	if e.Spec.DisableFrontend {
		endpoint = ""
	}
	if e.Status.CurrentState != instRunning {
		status["currentState"] = instRunning
		status["port"] = 10000
	}
	if e.Status.CurrentState != instRunning || e.Status.Endpoint != endpoint {
		status["endpoint"] = endpoint
	}
	if !mapsEqual(modes, e.Status.ReplicaModeMap) {
		// A merge patch cannot drop map keys without naming them: write
		// null for the replicas that left.
		m := anyMap(modes)
		for r := range e.Status.ReplicaModeMap {
			if _, ok := modes[r]; !ok {
				m[r] = nil
			}
		}
		status["replicaModeMap"] = m
		addrs := addressMap(replicas, modes)
		for r := range e.Status.ReplicaModeMap {
			if _, ok := modes[r]; !ok {
				addrs[r] = nil
			}
		}
		status["currentReplicaAddressMap"] = addrs
		status["replicaTransitionTimeMap"] = transitionMap(modes, e.Status.ReplicaModeMap, nowString())
	}
	if len(status) == 0 {
		return requeue, nil
	}
	return requeue, s.patch(ctx, engineGVR, e.Name, map[string]any{"status": status}, "status")
}

func anyMap(m map[string]string) map[string]any {
	out := make(map[string]any, len(m))
	for k, v := range m {
		out[k] = v
	}
	return out
}

func mapsEqual(a, b map[string]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if w, ok := b[k]; !ok || w != v {
			return false
		}
	}
	return true
}

func addressMap(replicas []*instance, modes map[string]string) map[string]any {
	out := map[string]any{}
	for _, r := range replicas {
		if _, ok := modes[r.Name]; ok {
			out[r.Name] = "tcp://" + r.Spec.NodeID + ":10000"
		}
	}
	return out
}

// transitionMap stamps replicas whose mode changed with now.
func transitionMap(modes, prev map[string]string, now string) map[string]any {
	out := map[string]any{}
	for r, m := range modes {
		if prev[r] != m {
			out[r] = now
		}
	}
	return out
}
