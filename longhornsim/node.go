package longhornsim

import (
	"context"
	"fmt"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
)

// Longhorn node conditions and reasons (k8s/pkg/apis/longhorn/v1beta2/node.go).
const (
	nodeCondReady       = "Ready"
	nodeCondSchedulable = "Schedulable"

	nodeReasonKubernetesNodeGone     = "KubernetesNodeGone"
	nodeReasonKubernetesNodeNotReady = "KubernetesNodeNotReady"
	nodeReasonKubernetesNodePressure = "KubernetesNodePressure"
	nodeReasonManagerPodDown         = "ManagerPodDown"
	nodeReasonKubernetesNodeCordoned = "KubernetesNodeCordoned"
	diskReasonNodeNotReady           = "NodeNotReady"
)

// Instance manager states (InstanceManagerState*).
const (
	imRunning = "running"
	imError   = "error"
	imUnknown = "unknown"
)

// simulatedDiskSize is the size of each node's one default disk.
const simulatedDiskSize = 200 << 30

// defaultDiskName is the name of a node's default disk in spec.disks.
func defaultDiskName(node string) string { return "default-disk-" + hashHex("disk/" + node)[:16] }

// autoToleratedTaints are the NoExecute taints the DaemonSet controller
// makes every DaemonSet pod (longhorn-manager included) tolerate; any other
// NoExecute taint evicts the manager and instance manager pods.
var autoToleratedTaints = map[string]bool{
	corev1.TaintNodeNotReady:    true,
	corev1.TaintNodeUnreachable: true,
}

// nodeHealth is what the simulated node controller concludes about a node.
type nodeHealth struct {
	ready       condition // Ready, as setReadyAndSchedulableConditions writes it
	schedulable condition // Schedulable, as SetSchedulableCondition writes it
	imState     string    // the state of the node's instance manager
}

// longhornNodeHealth follows longhorn-manager's NodeController
// (controller/node_controller.go): a missing Kubernetes node is
// KubernetesNodeGone (syncNode); a node whose manager pod does not run
// (evicted by a NoExecute taint it does not tolerate) is ManagerPodDown
// (setReadyConditionForManagerPod); a Kubernetes node not Ready is
// KubernetesNodeNotReady and one under pressure KubernetesNodePressure
// (setReadyConditionForKubeNode, applied last so it wins); a cordoned node is
// not schedulable when disable-scheduling-on-cordoned-node is true. The
// instance manager of a node that is down or gone is unknown (its instances
// turn unknown); one whose pod was evicted is in error (its instances turn
// error).
func longhornNodeHealth(name string, kn *corev1.Node, disableOnCordoned bool) nodeHealth {
	h := nodeHealth{
		ready:       condition{Type: nodeCondReady, Status: "True", Message: fmt.Sprintf("Node %v is ready", name)},
		schedulable: condition{Type: nodeCondSchedulable, Status: "True"},
		imState:     imRunning,
	}
	if kn == nil || kn.DeletionTimestamp != nil {
		h.ready = condition{Type: nodeCondReady, Status: "False", Reason: nodeReasonKubernetesNodeGone,
			Message: fmt.Sprintf("Kubernetes node missing: node %v has been removed from the cluster", name)}
		h.imState = imUnknown
		return h
	}
	for _, t := range kn.Spec.Taints {
		if t.Effect == corev1.TaintEffectNoExecute && !autoToleratedTaints[t.Key] {
			h.ready = condition{Type: nodeCondReady, Status: "False", Reason: nodeReasonManagerPodDown,
				Message: fmt.Sprintf("Node %v is down: manager pod longhorn-manager-%s is not running", name, hashHex(name)[:5])}
			h.imState = imError
			break
		}
	}
	for _, c := range kn.Status.Conditions {
		switch c.Type {
		case corev1.NodeReady:
			if c.Status != corev1.ConditionTrue {
				h.ready = condition{Type: nodeCondReady, Status: "False", Reason: nodeReasonKubernetesNodeNotReady,
					Message: fmt.Sprintf("Kubernetes node %v not ready: %v", name, c.Reason)}
				h.imState = imUnknown
			}
		case corev1.NodeDiskPressure, corev1.NodePIDPressure, corev1.NodeMemoryPressure, corev1.NodeNetworkUnavailable:
			if c.Status == corev1.ConditionTrue {
				h.ready = condition{Type: nodeCondReady, Status: "False", Reason: nodeReasonKubernetesNodePressure,
					Message: fmt.Sprintf("Kubernetes node %v has pressure: %v, %v", name, c.Reason, c.Message)}
			}
		}
	}
	if disableOnCordoned && kn.Spec.Unschedulable {
		h.schedulable = condition{Type: nodeCondSchedulable, Status: "False", Reason: nodeReasonKubernetesNodeCordoned,
			Message: fmt.Sprintf("Node %v is cordoned", name)}
	}
	return h
}

// syncLonghornNode plays the node and instance manager controllers for one
// node: it creates the Longhorn node (with its default disk) and its
// instance manager when the Kubernetes node appears (longhorn-manager's
// CreateDefaultNode when its pod starts there), then keeps their status in
// line with the Kubernetes node. A Longhorn node outlives its Kubernetes
// node (KubernetesNodeGone) and recovers when a node of that name returns.
func (s *sim) syncLonghornNode(ctx context.Context, name string) (time.Duration, error) {
	kn, err := s.nodes.Get(name)
	if apierrors.IsNotFound(err) {
		kn, err = nil, nil
	}
	if err != nil {
		return 0, err
	}
	n, err := getLH[lhNode](s.lhNodes, name)
	if err != nil {
		return 0, err
	}
	if n == nil {
		if kn == nil || kn.DeletionTimestamp != nil {
			return 0, nil
		}
		return 0, s.create(ctx, lhNodeGVR, newLonghornNode(name))
	}
	if n.DeletionTimestamp != nil {
		return 0, nil
	}
	h := longhornNodeHealth(name, kn, s.settingBool(SettingDisableSchedulingOnCordonedNode))
	if err := s.syncInstanceManager(ctx, name, h.imState); err != nil {
		return 0, err
	}
	now := nowString()
	conds := keepTransitionTimes(n.Status.Conditions, []condition{h.ready, h.schedulable}, now)
	if conditionsEqual(n.Status.Conditions, conds) {
		return 0, nil
	}
	for _, p := range n.Status.Conditions {
		if p.Type == nodeCondReady && p.Status != h.ready.Status {
			s.log.Info().Str("node", name).Str("ready", h.ready.Status).Str("reason", h.ready.Reason).Str("message", h.ready.Message).
				Msg("Longhorn node readiness changed")
		}
	}
	diskReady := condition{Type: "Ready", Status: "True", Message: fmt.Sprintf("Disk %v(/var/lib/longhorn/) on node %v is ready", defaultDiskName(name), name)}
	diskSched := condition{Type: "Schedulable", Status: "True", Message: fmt.Sprintf("Disk %v(/var/lib/longhorn/) on node %v is schedulable", defaultDiskName(name), name)}
	if h.ready.Status != "True" {
		// markAllDisksNotReadyWhenNodeNotReady (Longhorn issue 12406).
		diskReady = condition{Type: "Ready", Status: "False", Reason: diskReasonNodeNotReady, Message: fmt.Sprintf("Node %v is not ready", name)}
		diskSched = condition{Type: "Schedulable", Status: "False", Reason: diskReasonNodeNotReady, Message: fmt.Sprintf("Node %v is not ready", name)}
	}
	diskConds := []any{condAny(diskReady, now), condAny(diskSched, now)}
	condList := make([]any, 0, len(conds))
	for _, c := range conds {
		condList = append(condList, condAny(c, c.LastTransitionTime))
	}
	status := map[string]any{
		"conditions": condList,
		"diskStatus": map[string]any{defaultDiskName(name): map[string]any{
			"conditions":            diskConds,
			"diskUUID":              diskUUID(name),
			"diskName":              defaultDiskName(name),
			"diskPath":              "/var/lib/longhorn/",
			"diskType":              "filesystem",
			"diskDriver":            "",
			"filesystemType":        "ext4",
			"storageMaximum":        simulatedDiskSize,
			"storageAvailable":      simulatedDiskSize,
			"storageScheduled":      0,
			"scheduledReplica":      map[string]any{},
			"scheduledBackingImage": map[string]any{},
			"instanceManagerName":   instanceManagerName(name),
		}},
		"region":    "",
		"zone":      "",
		"cpuPolicy": "none",
	}
	return 0, s.patch(ctx, lhNodeGVR, name, map[string]any{"status": status}, "status")
}

func newLonghornNode(name string) map[string]any {
	return map[string]any{
		"apiVersion": "longhorn.io/v1beta2",
		"kind":       "Node",
		"metadata":   map[string]any{"name": name, "namespace": Namespace},
		"spec": map[string]any{
			"name":              name,
			"allowScheduling":   true,
			"evictionRequested": false,
			"tags":              []any{},
			"disks": map[string]any{defaultDiskName(name): map[string]any{
				"path": "/var/lib/longhorn/", "allowScheduling": true, "evictionRequested": false,
				"storageReserved": int64(simulatedDiskSize) * 3 / 10, "tags": []any{}, "diskType": "filesystem", "diskDriver": "",
			}},
		},
	}
}

// syncInstanceManager creates the node's instance manager (type aio, data
// engine v1) and sets its state.
func (s *sim) syncInstanceManager(ctx context.Context, node, state string) error {
	name := instanceManagerName(node)
	obj, ok, err := s.ims.GetStore().GetByKey(Namespace + "/" + name)
	if err != nil {
		return err
	}
	if !ok {
		return s.create(ctx, imGVR, map[string]any{
			"apiVersion": "longhorn.io/v1beta2",
			"kind":       "InstanceManager",
			"metadata": map[string]any{"name": name, "namespace": Namespace, "labels": map[string]any{
				"longhorn.io/component": "instance-manager", "longhorn.io/instance-manager-type": "aio",
				"longhorn.io/node": node, "longhorn.io/data-engine": "v1",
			}},
			"spec": map[string]any{"nodeID": node, "type": "aio", "dataEngine": "v1", "image": "longhornio/longhorn-instance-manager:sim"},
		})
	}
	cur := statusString(obj, "currentState")
	if cur == state {
		return nil
	}
	return s.patch(ctx, imGVR, name, map[string]any{"status": map[string]any{"currentState": state, "ownerID": node}}, "status")
}

// nodeView is what the volume, replica and engine controllers read about a
// node from the Longhorn node and instance manager caches.
type nodeView struct {
	exists      bool
	ready       bool   // Ready True
	reason      string // Ready's reason when not ready
	down        bool   // datastore.IsNodeDownOrDeleted: gone or Kubernetes node not ready
	schedulable bool   // replicas may be placed here
	imState     string // instance manager state; instances cannot start unless running
}

// nodeView returns the node's view, kept up to date by the Longhorn node
// and instance manager event handlers (refreshNodeView) so that the many
// syncs that ask do not convert the node each time.
func (s *sim) nodeView(name string) nodeView {
	s.mu.Lock()
	v, ok := s.nodeViews[name]
	s.mu.Unlock()
	if ok {
		return v
	}
	return s.computeNodeView(name)
}

func (s *sim) refreshNodeView(name string) {
	if name == "" {
		return
	}
	v := s.computeNodeView(name)
	s.mu.Lock()
	defer s.mu.Unlock()
	s.nodeViews[name] = v
}

func (s *sim) computeNodeView(name string) nodeView {
	if name == "" {
		return nodeView{}
	}
	n, err := getLH[lhNode](s.lhNodes, name)
	if err != nil || n == nil {
		// IsNodeDownOrDeleted: a missing Longhorn node counts as deleted.
		return nodeView{down: true, imState: imUnknown}
	}
	v := nodeView{exists: true, imState: imUnknown}
	var ready, sched condition
	for _, c := range n.Status.Conditions {
		switch c.Type {
		case nodeCondReady:
			ready = c
		case nodeCondSchedulable:
			sched = c
		}
	}
	v.ready = ready.Status == "True"
	if !v.ready {
		v.reason = ready.Reason
	}
	v.down = ready.Status == "False" && (ready.Reason == nodeReasonKubernetesNodeGone || ready.Reason == nodeReasonKubernetesNodeNotReady)
	diskOK := false
	for _, d := range n.Spec.Disks {
		diskOK = diskOK || (d.AllowScheduling && !d.EvictionRequested)
	}
	v.schedulable = v.ready && sched.Status == "True" && n.Spec.AllowScheduling && !n.Spec.EvictionRequested && diskOK
	if obj, ok, _ := s.ims.GetStore().GetByKey(Namespace + "/" + instanceManagerName(name)); ok {
		v.imState = statusString(obj, "currentState")
	}
	return v
}

// schedulableNodes lists the nodes replicas may be placed on, sorted.
func (s *sim) schedulableNodes() []string {
	var out []string
	for _, n := range s.nodeNames() {
		if s.nodeView(n).schedulable {
			out = append(out, n)
		}
	}
	return out
}

// keepTransitionTimes stamps want with now, keeping the transition time of
// conditions whose status did not change.
func keepTransitionTimes(prev, want []condition, now string) []condition {
	out := make([]condition, len(want))
	for i, c := range want {
		c.LastTransitionTime = now
		for _, p := range prev {
			if p.Type == c.Type && p.Status == c.Status && p.LastTransitionTime != "" {
				c.LastTransitionTime = p.LastTransitionTime
			}
		}
		out[i] = c
	}
	return out
}

func condAny(c condition, transition string) map[string]any {
	return map[string]any{"type": c.Type, "status": c.Status, "reason": c.Reason, "message": c.Message,
		"lastTransitionTime": transition, "lastProbeTime": ""}
}
