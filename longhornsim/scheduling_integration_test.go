package longhornsim

import (
	"context"
	"encoding/json"
	"fmt"
	"sync"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/types"
)

// cordon marks a Kubernetes node unschedulable until uncordon or the end of
// the test.
func (e *env) cordon(node string) (uncordon func()) {
	e.t.Helper()
	set := func(ctx context.Context, on bool) error {
		data, _ := json.Marshal(map[string]any{"spec": map[string]any{"unschedulable": on}})
		_, err := e.kube.CoreV1().Nodes().Patch(ctx, node, types.MergePatchType, data, metav1.PatchOptions{})
		return err
	}
	if err := set(e.ctx, true); err != nil {
		e.t.Fatalf("cordon %s: %v", node, err)
	}
	var once sync.Once
	uncordon = func() {
		once.Do(func() {
			if err := set(context.Background(), false); err != nil {
				e.t.Errorf("uncordon %s: %v", node, err)
			}
		})
	}
	e.t.Cleanup(uncordon)
	return uncordon
}

// lhCondition returns a condition of an object's status.conditions as
// status/reason/message.
func lhCondition(u *unstructured.Unstructured, typ string) string {
	if u == nil {
		return "<missing>"
	}
	conds, _, _ := unstructured.NestedSlice(u.Object, "status", "conditions")
	for _, c := range conds {
		m := c.(map[string]any)
		if m["type"] == typ {
			return fmt.Sprintf("%v/%v/%v", m["status"], m["reason"], m["message"])
		}
	}
	return "<no " + typ + " condition>"
}

// TestIntegrationCordonedNodeGetsUnscheduledReplica follows longhorn-tests'
// test_disable_scheduling_on_cordoned_node (manager/integration/tests/
// test_node.py): with disable-scheduling-on-cordoned-node and hard
// anti-affinity, a 3-replica volume created while one of three nodes is
// cordoned has three replicas, one of them unscheduled (spec.nodeID "",
// stopped), and Scheduled False (allow-volume-creation-with-degraded-
// availability is off here; on, a detached volume reads True). Uncordoned,
// the node takes that replica, Scheduled turns True, and the volume attaches
// healthy with three replicas. Before the simulator modelled unscheduled
// replicas it created two and never the third.
func TestIntegrationCordonedNodeGetsUnscheduledReplica(t *testing.T) {
	e := newEnv(t, Options{})
	const vol, cordoned = "it-sched-cordon", "node-1"
	e.setSetting(SettingDisableSchedulingOnCordonedNode, "true")
	e.setSetting(SettingReplicaSoftAntiAffinity, "false")
	e.setSetting(SettingAllowVolumeCreationWithDegradedAvailability, "false")
	uncordon := e.cordon(cordoned)
	e.waitFor(condTimeout, "Longhorn node "+cordoned+" not schedulable", func() (bool, string) {
		got := lhCondition(e.getLH(lhNodeGVR, cordoned), nodeCondSchedulable)
		return got == "False/"+nodeReasonKubernetesNodeCordoned+"/Node "+cordoned+" is cordoned", got
	})

	e.createLH(volumeGVR, volumeObj(vol, ""))
	var waiting string
	e.waitVolume(condTimeout, vol, "detached with three replicas, one unscheduled, and Scheduled False", func(v *unstructured.Unstructured) bool {
		rs := e.replicasOf(vol)
		waiting = ""
		placed := 0
		for _, r := range rs {
			switch n := str(&r, "spec", "nodeID"); n {
			case "<nil>", "":
				if str(&r, "status", "currentState") == instStopped && r.GetLabels()["longhornnode"] == "" {
					waiting = r.GetName()
				}
			case cordoned:
			default:
				placed++
			}
		}
		return len(rs) == 3 && placed == 2 && waiting != "" && str(v, "status", "state") == volStateDetached &&
			lhCondition(v, volCondScheduled) == "False/"+reasonReplicaSchedulingFail+"/"+msgReplicaSchedulingFailed
	})

	uncordon()
	e.waitVolume(condTimeout, vol, "Scheduled True with the waiting replica on "+cordoned, func(v *unstructured.Unstructured) bool {
		r := e.getLH(replicaGVR, waiting)
		return str(r, "spec", "nodeID") == cordoned && r.GetLabels()["longhornnode"] == cordoned &&
			str(r, "spec", "diskID") == diskUUID(cordoned) && str(r, "status", "ownerID") == cordoned &&
			lhCondition(v, volCondScheduled) == "True//" &&
			str(v, "status", "state") == volStateDetached
	})
	if rs := e.replicasOf(vol); len(rs) != 3 {
		t.Errorf("replicas %s, want three", describeReplicas(rs))
	}

	e.waitFor(condTimeout, vol+" has its VolumeAttachment", func() (bool, string) { return e.getLH(lhvaGVR, vol) != nil, "missing" })
	e.attach(vol, "longhorn-ui", cordoned, nil)
	e.waitVolume(condTimeout, vol, "attached and healthy", attachedHealthy(cordoned))
}
