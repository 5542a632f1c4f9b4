package longhornsim

import (
	"testing"
	"time"
)

// TestScheduledCondition follows reconcileVolumeCondition: an unscheduled
// replica makes Scheduled False (ReplicaSchedulingFailure, "replica
// scheduling failed") unless the volume is detached and
// allow-volume-creation-with-degraded-availability lets one placed replica
// do; the precheck's message is kept.
func TestScheduledCondition(t *testing.T) {
	trueCond := condition{Type: volCondScheduled, Status: "True"}
	failed := func(msg string) condition {
		return condition{Type: volCondScheduled, Status: "False", Reason: reasonReplicaSchedulingFail, Message: msg}
	}
	tests := []struct {
		name string
		v    scheduledView
		want condition
	}{
		{"all placed", scheduledView{replicas: 3, want: 3, usable: 3, available: true, allowDegraded: true}, trueCond},
		{"one unscheduled, detached, degraded creation allowed",
			scheduledView{replicas: 3, want: 3, usable: 3, unscheduled: 1, available: true, allowDegraded: true},
			condition{Type: volCondScheduled, Status: "True", Message: msgResetSchedulable}},
		{"one unscheduled, detached, degraded creation refused",
			scheduledView{replicas: 3, want: 3, usable: 3, unscheduled: 1, available: true},
			failed(msgReplicaSchedulingFailed)},
		{"one unscheduled, attached",
			scheduledView{replicas: 3, want: 3, usable: 3, unscheduled: 1, available: true, attached: true, allowDegraded: true},
			failed(msgReplicaSchedulingFailed)},
		{"none placed: nothing to reset with",
			scheduledView{replicas: 3, want: 3, usable: 3, unscheduled: 3, allowDegraded: true},
			failed(msgReplicaSchedulingFailed)},
		{"no schedulable node at creation",
			scheduledView{want: 3, allowDegraded: true, precheck: precheckFailure(true)},
			failed("precheck new replica failed: nodes are unavailable")},
		{"replenishment found no node (attached)",
			scheduledView{prev: trueCond, replicas: 3, want: 3, usable: 2, available: true, attached: true, allowDegraded: true, precheck: precheckFailure(false)},
			failed("precheck new replica failed: disks are unavailable")},
		{"attached, a replica missing, nothing tried: unchanged",
			scheduledView{prev: trueCond, replicas: 3, want: 3, usable: 2, available: true, attached: true},
			trueCond},
		{"the message stays once set",
			scheduledView{prev: failed("precheck new replica failed: disks are unavailable"), replicas: 2, want: 3, usable: 2, available: true, attached: true},
			failed("precheck new replica failed: disks are unavailable")},
		{"missing condition and nothing decided: unknown",
			scheduledView{replicas: 2, want: 3, usable: 2, available: true, attached: true},
			condition{Type: volCondScheduled, Status: "Unknown"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := scheduledCondition(tt.v); got != tt.want {
				t.Errorf("scheduledCondition = %+v, want %+v", got, tt.want)
			}
		})
	}
}

// TestPlaceReplicasSoftAntiAffinity: with replica-soft-anti-affinity the
// replicas that find no free node share nodes; without, they stay
// unscheduled.
func TestPlaceReplicasSoftAntiAffinity(t *testing.T) {
	nodes := []string{"node-1", "node-2"}
	if got := placeReplicas("pvc-1", nodes, nil, 3, false); len(got) != 2 {
		t.Errorf("hard anti-affinity placed %v, want 2 distinct nodes", got)
	}
	got := placeReplicas("pvc-1", nodes, nil, 3, true)
	if len(got) != 3 || got[0] == got[1] {
		t.Errorf("soft anti-affinity placed %v, want 3 replicas, the first two apart", got)
	}
	if got := placeReplicas("pvc-1", nodes, map[string]bool{"node-1": true, "node-2": true}, 1, true); len(got) != 1 {
		t.Errorf("soft anti-affinity with every node used placed %v, want 1", got)
	}
}

// TestUnscheduledReplicaHasNoInstance: a replica without a node is never
// started, never marked failed for its (missing) node, does not hold up an
// attach or replenishment, and alone cannot attach a volume
// (openVolumeDependentResources, hasEngineStatusSynced).
func TestUnscheduledReplicaHasNoInstance(t *testing.T) {
	unscheduled := inst("r3", "", instStopped, instStopped)
	if why := replicaFailure(unscheduled, nodeView{}, true); why != "" {
		t.Errorf("an unscheduled replica was marked failed: %s", why)
	}

	reps := []*instance{inst("r1", "node-1", "", instRunning), inst("r2", "node-2", "", instRunning), unscheduled}
	e := inst("e", "node-1", instRunning, instStopped)
	d := decideVolume(volumeView{wantReplicas: 3, replicas: reps, engine: e, node: "node-1", provisionElapsed: true})
	if d.state != volStateAttaching || d.engineDesire != instRunning {
		t.Errorf("attach with an unscheduled replica: %+v, want attaching with the engine started", d)
	}

	e.Status.CurrentState = instRunning
	e.Status.ReplicaModeMap = map[string]string{"r1": modeRW, "r2": modeRW}
	d = decideVolume(volumeView{wantReplicas: 3, replicas: reps, engine: e, node: "node-1", provisionElapsed: true})
	if d.state != volStateAttached || d.robustness != robustnessDegraded {
		t.Errorf("attached with an unscheduled replica: %+v, want attached, degraded", d)
	}
	// Just scheduled, not running yet: the volume stays attached.
	scheduled := inst("r3", "node-3", instRunning, instStopped)
	d = decideVolume(volumeView{wantReplicas: 3, replicas: []*instance{reps[0], reps[1], scheduled}, engine: e, node: "node-1", provisionElapsed: true})
	if d.state != volStateAttached {
		t.Errorf("attached, a replica just scheduled: %+v, want attached", d)
	}

	// The unscheduled replica counts as usable: nothing to replenish, and
	// the engine is synced without it.
	p := planReplenish(replenishView{volume: "v", want: 3, replicas: reps, engine: e, degraded: true, now: time.Now(), limit: 5,
		nodes: func(string) nodeView { return nodeView{schedulable: true} }, schedulable: []string{"node-1", "node-2"}})
	if p != (replenishPlan{}) {
		t.Errorf("planReplenish = %+v, want nothing (the unscheduled replica waits for a node)", p)
	}

	only := []*instance{inst("r1", "", instStopped, instStopped)}
	d = decideVolume(volumeView{wantReplicas: 1, replicas: only, engine: inst("e", "", "", instStopped), node: "node-1", provisionElapsed: true})
	if d.state != volStateDetached || d.robustness != robustnessUnknown || d.blocked == "" {
		t.Errorf("attach with only an unscheduled replica: %+v, want detached, robustness unknown, blocked", d)
	}
}
