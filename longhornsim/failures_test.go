package longhornsim

import (
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

func TestLonghornNodeHealth(t *testing.T) {
	ready := corev1.NodeCondition{Type: corev1.NodeReady, Status: corev1.ConditionTrue}
	node := func(mod func(*corev1.Node)) *corev1.Node {
		n := &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "node-1"}, Status: corev1.NodeStatus{Conditions: []corev1.NodeCondition{ready}}}
		if mod != nil {
			mod(n)
		}
		return n
	}
	tests := []struct {
		name       string
		kn         *corev1.Node
		cordonOff  bool
		wantReady  string
		wantReason string
		wantSched  string
		wantIM     string
	}{
		{"ready", node(nil), true, "True", "", "True", imRunning},
		{"gone", nil, true, "False", nodeReasonKubernetesNodeGone, "True", imUnknown},
		{"deleting", node(func(n *corev1.Node) { n.DeletionTimestamp = &metav1.Time{} }), true, "False", nodeReasonKubernetesNodeGone, "True", imUnknown},
		{"not ready", node(func(n *corev1.Node) { n.Status.Conditions[0].Status = corev1.ConditionUnknown }), true, "False", nodeReasonKubernetesNodeNotReady, "True", imUnknown},
		{"NoExecute taint evicts the manager", node(func(n *corev1.Node) {
			n.Spec.Taints = []corev1.Taint{{Key: "example.com/down", Effect: corev1.TaintEffectNoExecute}}
		}), true, "False", nodeReasonManagerPodDown, "True", imError},
		{"NoSchedule taint is harmless", node(func(n *corev1.Node) {
			n.Spec.Taints = []corev1.Taint{{Key: "example.com/busy", Effect: corev1.TaintEffectNoSchedule}}
		}), true, "True", "", "True", imRunning},
		{"not-ready NoExecute is tolerated, Ready decides", node(func(n *corev1.Node) {
			n.Spec.Taints = []corev1.Taint{{Key: corev1.TaintNodeNotReady, Effect: corev1.TaintEffectNoExecute}}
		}), true, "True", "", "True", imRunning},
		{"pressure", node(func(n *corev1.Node) {
			n.Status.Conditions = append(n.Status.Conditions, corev1.NodeCondition{Type: corev1.NodeDiskPressure, Status: corev1.ConditionTrue})
		}), true, "False", nodeReasonKubernetesNodePressure, "True", imRunning},
		{"cordoned", node(func(n *corev1.Node) { n.Spec.Unschedulable = true }), true, "True", "", "False", imRunning},
		{"cordoned, setting off", node(func(n *corev1.Node) { n.Spec.Unschedulable = true }), false, "True", "", "True", imRunning},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := longhornNodeHealth("node-1", tt.kn, tt.cordonOff)
			if h.ready.Status != tt.wantReady || h.ready.Reason != tt.wantReason || h.schedulable.Status != tt.wantSched || h.imState != tt.wantIM {
				t.Errorf("got ready %s/%s schedulable %s im %s, want %s/%s %s %s", h.ready.Status, h.ready.Reason,
					h.schedulable.Status, h.imState, tt.wantReady, tt.wantReason, tt.wantSched, tt.wantIM)
			}
			if h.ready.Message == "" {
				t.Error("Ready condition without a message")
			}
		})
	}
}

func replica(name, node, state string, mod func(*instance)) *instance {
	r := inst(name, node, instRunning, state)
	if mod != nil {
		mod(r)
	}
	return r
}

func TestReplicaFailure(t *testing.T) {
	up := nodeView{exists: true, ready: true, schedulable: true, imState: imRunning}
	evicted := nodeView{exists: true, reason: nodeReasonManagerPodDown, imState: imError}
	gone := nodeView{down: true, imState: imUnknown}
	tests := []struct {
		name      string
		r         *instance
		nv        nodeView
		attaching bool
		fails     bool
	}{
		{"running on a good node", replica("r", "n", instRunning, nil), up, false, false},
		{"lost to a down node", replica("r", "n", instUnknown, nil), gone, false, true},
		{"process in error", replica("r", "n", instError, nil), evicted, false, true},
		{"already failed", replica("r", "n", instError, func(r *instance) { r.Spec.FailedAt = "t" }), evicted, false, false},
		{"being deleted", replica("r", "n", instError, func(r *instance) { r.DeletionTimestamp = &metav1.Time{} }), evicted, false, false},
		{"stopped on a down node, volume detached", replica("r", "n", instStopped, nil), gone, false, false},
		{"stopped on a down node, attaching", replica("r", "n", instStopped, nil), gone, true, true},
		{"stopped on an evicted node, attaching", replica("r", "n", instStopped, nil), evicted, true, true},
		{"stopped on a good node, attaching", replica("r", "n", instStopped, nil), up, true, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := replicaFailure(tt.r, tt.nv, tt.attaching); (got != "") != tt.fails {
				t.Errorf("replicaFailure = %q, want failing %v", got, tt.fails)
			}
		})
	}
}

func TestReplicaModes(t *testing.T) {
	reps := []*instance{
		replica("a", "n1", instRunning, nil),
		replica("b", "n2", instRunning, nil),
		replica("c", "n3", instUnknown, nil),
		replica("d", "n3", instStopped, func(r *instance) { r.Spec.FailedAt = "t" }),
		replica("e", "n1", instRunning, func(r *instance) { r.DeletionTimestamp = &metav1.Time{} }),
	}
	tests := []struct {
		name     string
		prev     map[string]string
		starting bool
		want     map[string]string
	}{
		{"engine starts: running replicas are RW", nil, true, map[string]string{"a": modeRW, "b": modeRW}},
		{"a new replica of a running engine rebuilds", map[string]string{"a": modeRW}, false, map[string]string{"a": modeRW, "b": modeWO}},
		{"a lost replica turns ERR", map[string]string{"a": modeRW, "b": modeRW, "c": modeRW}, false, map[string]string{"a": modeRW, "b": modeRW, "c": modeERR}},
		{"failed and deleted replicas leave", map[string]string{"a": modeRW, "b": modeRW, "d": modeERR, "e": modeRW}, false, map[string]string{"a": modeRW, "b": modeRW}},
		{"a rebuild keeps WO", map[string]string{"a": modeRW, "b": modeWO}, false, map[string]string{"a": modeRW, "b": modeWO}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := replicaModes(tt.prev, reps, tt.starting); !mapsEqual(got, tt.want) {
				t.Errorf("replicaModes = %v, want %v", got, tt.want)
			}
		})
	}
}

func TestPlanReplenish(t *testing.T) {
	now := time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)
	nodes := map[string]nodeView{
		"node-1": {exists: true, ready: true, schedulable: true, imState: imRunning},
		"node-2": {exists: true, ready: true, schedulable: true, imState: imRunning},
		"node-3": {exists: true, reason: nodeReasonManagerPodDown, imState: imError},
		"node-4": {exists: true, ready: true, schedulable: true, imState: imRunning},
	}
	schedulable := []string{"node-1", "node-2", "node-4"}
	engine := func(modes map[string]string) *instance {
		e := inst("e", "node-1", instRunning, instRunning)
		e.Status.ReplicaModeMap = modes
		return e
	}
	failedOn := func(name, node string) *instance {
		return replica(name, node, instStopped, func(r *instance) { r.Spec.FailedAt = now.Add(-time.Minute).Format(time.RFC3339) })
	}
	r1, r2 := replica("r1", "node-1", instRunning, nil), replica("r2", "node-2", instRunning, nil)
	rw := map[string]string{"r1": modeRW, "r2": modeRW}
	tests := []struct {
		name       string
		replicas   []*instance
		modes      map[string]string
		degradedAt time.Time
		wait       time.Duration
		limit      int64
		want       replenishPlan
	}{
		{"healthy: nothing", []*instance{r1, r2, replica("r3", "node-4", instRunning, nil)}, map[string]string{"r1": modeRW, "r2": modeRW, "r3": modeRW}, now, time.Minute, 5, replenishPlan{}},
		{"failed replica on a down node: wait for it", []*instance{r1, r2, failedOn("r3", "node-3")}, rw, now.Add(-10 * time.Second), time.Minute, 5, replenishPlan{checkAfter: 51 * time.Second}},
		{"wait over: new replica on the free node", []*instance{r1, r2, failedOn("r3", "node-3")}, rw, now.Add(-2 * time.Minute), time.Minute, 5, replenishPlan{createOn: "node-4"}},
		{"node back: reuse the failed replica", []*instance{r1, r2, failedOn("r3", "node-4")}, rw, now, time.Minute, 5, replenishPlan{reuse: "r3"}},
		{"deleted replica: rebuild at once", []*instance{r1, r2}, rw, now, time.Hour, 5, replenishPlan{createOn: "node-4"}},
		{"rebuild in progress: one at a time", []*instance{r1, r2, replica("r4", "node-4", instRunning, nil)}, map[string]string{"r1": modeRW, "r2": modeRW, "r4": modeWO}, now, 0, 5, replenishPlan{}},
		{"engine has not picked up a replica yet", []*instance{r1, r2, replica("r4", "node-4", instStopped, nil)}, rw, now, 0, 5, replenishPlan{}},
		{"rebuild disabled by the limit 0", []*instance{r1, r2}, rw, now, 0, 0, replenishPlan{}},
		{"no free node", []*instance{r1, r2, replica("r4", "node-4", instRunning, nil), failedOn("r3", "node-3")}, map[string]string{"r1": modeRW, "r2": modeRW, "r4": modeRW}, now, 0, 5, replenishPlan{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := planReplenish(replenishView{
				volume: "pvc-1", want: 3, replicas: tt.replicas, engine: engine(tt.modes),
				degraded: len(tt.modes) < 3 || tt.modes["r4"] == modeWO, degradedAt: tt.degradedAt,
				wait: tt.wait, skew: time.Second, now: now, limit: tt.limit,
				nodes: func(n string) nodeView { return nodes[n] }, schedulable: schedulable,
			})
			if got != tt.want {
				t.Errorf("planReplenish = %+v, want %+v", got, tt.want)
			}
		})
	}
	// Four replicas wanted, three nodes free of them: no node left.
	got := planReplenish(replenishView{volume: "v", want: 4, replicas: []*instance{r1, r2, replica("r3", "node-4", instRunning, nil)},
		engine: engine(map[string]string{"r1": modeRW, "r2": modeRW, "r3": modeRW}), limit: 5, now: now,
		nodes: func(n string) nodeView { return nodes[n] }, schedulable: schedulable})
	if !got.unschedulable {
		t.Errorf("planReplenish = %+v, want unschedulable", got)
	}
}

func TestNextKubernetesStatus(t *testing.T) {
	pv := func(phase corev1.PersistentVolumePhase, claim bool) *corev1.PersistentVolume {
		p := &corev1.PersistentVolume{ObjectMeta: metav1.ObjectMeta{Name: "pvc-1"}, Status: corev1.PersistentVolumeStatus{Phase: phase}}
		if claim {
			p.Spec.ClaimRef = &corev1.ObjectReference{Namespace: "ns", Name: "data-web-0"}
		}
		return p
	}
	pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "web-0", OwnerReferences: []metav1.OwnerReference{{Kind: "StatefulSet", Name: "web"}}},
		Status: corev1.PodStatus{Phase: corev1.PodRunning}}
	bound := nextKubernetesStatus(nil, pv(corev1.VolumeBound, true), []*corev1.Pod{pod}, "t1")
	want := kubernetesStatus{PVName: "pvc-1", PVStatus: "Bound", Namespace: "ns", PVCName: "data-web-0",
		WorkloadsStatus: []workloadStatus{{PodName: "web-0", PodStatus: "Running", WorkloadName: "web", WorkloadType: "StatefulSet"}}}
	if !kubernetesStatusEqual(bound, &want) {
		t.Fatalf("bound: %+v, want %+v", bound, want)
	}
	podGone := nextKubernetesStatus(bound, pv(corev1.VolumeBound, true), nil, "t2")
	if podGone.LastPodRefAt != "t2" || len(podGone.WorkloadsStatus) != 1 {
		t.Errorf("pod gone: %+v, want lastPodRefAt t2 and the last workload kept", podGone)
	}
	released := nextKubernetesStatus(podGone, pv(corev1.VolumeReleased, true), nil, "t3")
	if released.LastPVCRefAt != "t3" || released.PVStatus != "Released" || released.LastPodRefAt != "t2" {
		t.Errorf("released: %+v", released)
	}
	pvGone := nextKubernetesStatus(released, nil, nil, "t4")
	if pvGone.PVName != "" || pvGone.PVCName != "data-web-0" || pvGone.LastPVCRefAt != "t3" {
		t.Errorf("PV gone: %+v", pvGone)
	}
	if got := nextKubernetesStatus(nil, nil, nil, "t"); got != nil {
		t.Errorf("no PV ever: %+v, want nil", got)
	}
}

func TestParseSettingInt(t *testing.T) {
	for _, tt := range []struct {
		in   string
		want int64
		ok   bool
	}{{"600", 600, true}, {` 5 `, 5, true}, {`{"v1":"2","v2":"3"}`, 2, true}, {"x", 0, false}, {`{"v2":"3"}`, 0, false}} {
		if got, ok := parseSettingInt(tt.in); got != tt.want || ok != tt.ok {
			t.Errorf("parseSettingInt(%q) = %d, %v; want %d, %v", tt.in, got, ok, tt.want, tt.ok)
		}
	}
}
