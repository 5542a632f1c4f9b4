package longhornsim

import (
	"context"
	"time"
)

// syncReplica plays the replica controller: it brings status.currentState to
// spec.desireState ("stopped" when unset). In legacy-queue-jam mode it runs
// on the one jammed queue, so every replica waits its turn.
func (s *sim) syncReplica(ctx context.Context, name string) (time.Duration, error) {
	r, err := getLH[instance](s.replicas, name)
	if err != nil || r == nil || r.DeletionTimestamp != nil {
		return 0, err
	}
	desire := r.Spec.DesireState
	if desire == "" {
		desire = instStopped
	}
	if r.Status.CurrentState == desire {
		return 0, nil
	}
	status := map[string]any{"currentState": desire, "ownerID": r.Spec.NodeID}
	if desire == instRunning {
		status["started"] = true
		status["instanceManagerName"] = instanceManagerName(r.Spec.NodeID)
		status["currentImage"] = longhornEngineImage
		status["port"] = 10000
	} else {
		status["started"] = false
		status["instanceManagerName"] = ""
		status["port"] = 0
	}
	// Longhorn also stamps spec.healthyAt when a replica first turns RW; the
	// simulator leaves it out to save one write per replica and attach.
	return 0, s.patch(ctx, replicaGVR, name, map[string]any{"status": status}, "status")
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

// syncEngine plays the engine controller: a wanted engine goes "starting"
// and, AttachTime later, "running" with every replica in RW mode; an
// unwanted one stops at once.
func (s *sim) syncEngine(ctx context.Context, name string) (time.Duration, error) {
	e, err := getLH[instance](s.engines, name)
	if err != nil || e == nil || e.DeletionTimestamp != nil {
		if e == nil && err == nil {
			s.mu.Lock()
			delete(s.engineStart, name)
			s.mu.Unlock()
		}
		return 0, err
	}
	desire := e.Spec.DesireState
	if desire == "" {
		desire = instStopped
	}
	cur := e.Status.CurrentState
	switch {
	case desire == instRunning && cur == instRunning:
		return 0, nil
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
		modes := map[string]any{}
		addrs := map[string]any{}
		for _, r := range replicas {
			modes[r.Name] = "RW"
			addrs[r.Name] = "tcp://" + r.Spec.NodeID + ":10000"
		}
		return 0, s.patch(ctx, engineGVR, name, map[string]any{"status": map[string]any{
			"currentState":             instRunning,
			"started":                  true,
			"currentImage":             longhornEngineImage,
			"endpoint":                 "/dev/longhorn/" + e.Spec.VolumeName,
			"replicaModeMap":           modes,
			"currentReplicaAddressMap": addrs,
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
			"instanceManagerName":      "",
			"port":                     0,
		}}, "status")
	}
	return 0, nil
}
