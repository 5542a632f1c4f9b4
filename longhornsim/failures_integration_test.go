package longhornsim

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/watch"
)

// The failure tests share the cluster's three nodes. Volumes get two
// replicas so that a third node is free to rebuild on when one goes down.

// rebuildSize is the size of the volumes whose rebuild the tests watch: at
// the default 100 MiB/s a rebuild keeps the new replica WO for ~2.6 s.
const rebuildSize = "268435456"

// setSetting sets a Longhorn setting for the test and restores its value
// afterwards.
func (e *env) setSetting(name, value string) {
	e.t.Helper()
	e.waitFor(condTimeout, "setting "+name+" exists", func() (bool, string) { return e.getLH(settingGVR, name) != nil, "missing" })
	old := str(e.getLH(settingGVR, name), "value")
	e.patchLH(settingGVR, name, map[string]any{"value": value})
	e.t.Cleanup(func() {
		data, _ := json.Marshal(map[string]any{"value": old})
		_, _ = e.dyn.Resource(settingGVR).Namespace(Namespace).Patch(context.Background(), name, types.MergePatchType, data, metav1.PatchOptions{})
	})
}

// taint puts a NoExecute taint on a Kubernetes node until untaint or the
// end of the test.
func (e *env) taint(node string) (untaint func()) {
	e.t.Helper()
	set := func(ctx context.Context, taints []corev1.Taint) error {
		data, _ := json.Marshal(map[string]any{"spec": map[string]any{"taints": taints}})
		_, err := e.kube.CoreV1().Nodes().Patch(ctx, node, types.MergePatchType, data, metav1.PatchOptions{})
		return err
	}
	if err := set(e.ctx, []corev1.Taint{{Key: "runner.test/down", Value: "true", Effect: corev1.TaintEffectNoExecute}}); err != nil {
		e.t.Fatalf("taint %s: %v", node, err)
	}
	var once sync.Once
	untaint = func() {
		once.Do(func() {
			if err := set(context.Background(), nil); err != nil {
				e.t.Errorf("untaint %s: %v", node, err)
			}
		})
	}
	e.t.Cleanup(untaint)
	return untaint
}

// lhNodeReady returns the Ready condition of a Longhorn node as status/reason.
func (e *env) lhNodeReady(node string) string {
	u := e.getLH(lhNodeGVR, node)
	if u == nil {
		return "<missing>"
	}
	conds, _, _ := unstructured.NestedSlice(u.Object, "status", "conditions")
	for _, c := range conds {
		m := c.(map[string]any)
		if m["type"] == "Ready" {
			return fmt.Sprintf("%v/%v", m["status"], m["reason"])
		}
	}
	return "<no Ready condition>"
}

// replicasOf lists a volume's replicas, sorted by node.
func (e *env) replicasOf(vol string) []unstructured.Unstructured {
	list, err := e.dyn.Resource(replicaGVR).Namespace(Namespace).List(e.ctx, metav1.ListOptions{LabelSelector: "longhornvolume=" + vol})
	if err != nil {
		e.t.Fatalf("list replicas of %s: %v", vol, err)
	}
	sort.Slice(list.Items, func(i, j int) bool {
		return str(&list.Items[i], "spec", "nodeID") < str(&list.Items[j], "spec", "nodeID")
	})
	return list.Items
}

func describeReplicas(rs []unstructured.Unstructured) string {
	var out []string
	for _, r := range rs {
		out = append(out, fmt.Sprintf("%s@%s:%s failedAt=%q healthyAt=%q", r.GetName(), str(&r, "spec", "nodeID"),
			str(&r, "status", "currentState"), str(&r, "spec", "failedAt"), str(&r, "spec", "healthyAt")))
	}
	return strings.Join(out, ", ")
}

// failureVolume creates a volume with two replicas, waits until it is
// detached with its VolumeAttachment, and returns the nodes of its replicas
// and the node left free.
func (e *env) failureVolume(name string, replicas int) (nodes []string, free []string) {
	e.t.Helper()
	obj := volumeObj(name, "")
	obj["spec"].(map[string]any)["numberOfReplicas"] = replicas
	obj["spec"].(map[string]any)["size"] = rebuildSize
	obj["spec"].(map[string]any)["staleReplicaTimeout"] = 2880
	e.createLH(volumeGVR, obj)
	// Detached is not enough: right after a cluster starts, a Longhorn node
	// may not be schedulable yet, and Longhorn then leaves the volume
	// detached with a replica unscheduled (spec.nodeID "") until it is.
	e.waitFor(condTimeout, fmt.Sprintf("%s detached with its VolumeAttachment and %d scheduled replicas", name, replicas), func() (bool, string) {
		v := e.getLH(volumeGVR, name)
		scheduled := 0
		for _, r := range e.replicasOf(name) {
			if str(&r, "spec", "nodeID") != "" {
				scheduled++
			}
		}
		return str(v, "status", "state") == "detached" && e.getLH(lhvaGVR, name) != nil && scheduled == replicas,
			fmt.Sprintf("state=%s, %d scheduled replicas", str(v, "status", "state"), scheduled)
	})
	for _, r := range e.replicasOf(name) {
		nodes = append(nodes, str(&r, "spec", "nodeID"))
	}
	for _, n := range []string{"node-1", "node-2", "node-3"} {
		if !slices.Contains(nodes, n) {
			free = append(free, n)
		}
	}
	return nodes, free
}

// attach adds a ticket for node and returns once the volume is attached there.
func (e *env) attach(vol, id, node string, params map[string]any) {
	e.t.Helper()
	if params == nil {
		params = map[string]any{"disableFrontend": "false"}
	}
	e.patchLH(lhvaGVR, vol, map[string]any{"spec": map[string]any{"attachmentTickets": map[string]any{
		id: map[string]any{"id": id, "type": AttacherTypeLonghornAPI, "nodeID": node, "parameters": params, "generation": 0}}}})
}

func (e *env) waitVolume(timeout time.Duration, vol, what string, cond func(v *unstructured.Unstructured) bool) time.Duration {
	e.t.Helper()
	return e.waitFor(timeout, vol+" "+what, func() (bool, string) {
		v := e.getLH(volumeGVR, vol)
		return cond(v), fmt.Sprintf("state=%s robustness=%s node=%s; replicas: %s", str(v, "status", "state"),
			str(v, "status", "robustness"), str(v, "status", "currentNodeID"), describeReplicas(e.replicasOf(vol)))
	})
}

func attachedHealthy(node string) func(*unstructured.Unstructured) bool {
	return func(v *unstructured.Unstructured) bool {
		return str(v, "status", "state") == "attached" && str(v, "status", "currentNodeID") == node && str(v, "status", "robustness") == "healthy"
	}
}

func robustness(want string) func(*unstructured.Unstructured) bool {
	return func(v *unstructured.Unstructured) bool { return str(v, "status", "robustness") == want }
}

// modeWatcher records every replicaModeMap an engine reports, with the
// resourceVersions it has seen so a check can wait for the watch to catch up.
type modeWatcher struct {
	engine string
	mu     sync.Mutex
	seen   []map[string]any
	rvs    map[string]bool
}

func (e *env) watchModes(engine string) *modeWatcher {
	e.t.Helper()
	w, err := e.dyn.Resource(engineGVR).Namespace(Namespace).Watch(e.ctx, metav1.ListOptions{FieldSelector: "metadata.name=" + engine})
	if err != nil {
		e.t.Fatalf("watch engine %s: %v", engine, err)
	}
	e.t.Cleanup(w.Stop)
	mw := &modeWatcher{engine: engine, rvs: map[string]bool{}}
	go func() {
		for ev := range w.ResultChan() {
			if ev.Type != watch.Added && ev.Type != watch.Modified {
				continue
			}
			u := ev.Object.(*unstructured.Unstructured)
			m, _, _ := unstructured.NestedMap(u.Object, "status", "replicaModeMap")
			mw.mu.Lock()
			mw.seen = append(mw.seen, m)
			mw.rvs[u.GetResourceVersion()] = true
			mw.mu.Unlock()
		}
	}()
	return mw
}

// sawMode reports whether replica was ever seen in mode. It first waits
// until the watch has delivered the engine as a GET reads it now: the watch
// is asynchronous, and the volume can read healthy before the events that
// led there reached the watcher (a CI run missed a 74 ms rebuild that way).
func (e *env) sawMode(mw *modeWatcher, replica, mode string) bool {
	e.t.Helper()
	rv := e.getLH(engineGVR, mw.engine).GetResourceVersion()
	e.waitFor(condTimeout, "the engine watch to reach resourceVersion "+rv, func() (bool, string) {
		mw.mu.Lock()
		defer mw.mu.Unlock()
		return mw.rvs[rv], fmt.Sprintf("%d events", len(mw.seen))
	})
	mw.mu.Lock()
	defer mw.mu.Unlock()
	for _, m := range mw.seen {
		if m[replica] == mode {
			return true
		}
	}
	return false
}

// replicaOn returns the replica of vol on node that satisfies cond, if any.
func (e *env) replicaOn(vol, node string, cond func(r *unstructured.Unstructured) bool) *unstructured.Unstructured {
	for _, r := range e.replicasOf(vol) {
		if str(&r, "spec", "nodeID") == node && cond(&r) {
			return &r
		}
	}
	return nil
}

func notFailed(r *unstructured.Unstructured) bool {
	return str(r, "spec", "failedAt") == "<nil>" || str(r, "spec", "failedAt") == ""
}

// TestIntegrationNodeTaintedRebuildsElsewhere: a NoExecute taint evicts
// Longhorn's manager from a node; the replica there fails, the volume turns
// degraded, and replica-replenishment-wait-interval later a new replica is
// rebuilt (WO, then RW) on the free node and the volume is healthy again.
func TestIntegrationNodeTaintedRebuildsElsewhere(t *testing.T) {
	e := newEnv(t, Options{})
	const vol, wait = "it-fail-taint", 3
	e.setSetting(SettingReplicaReplenishmentWaitInterval, fmt.Sprint(wait))
	nodes, free := e.failureVolume(vol, 2)
	attachNode, downNode, spare := nodes[0], nodes[1], free[0]
	e.attach(vol, "longhorn-ui", attachNode, nil)
	e.waitVolume(condTimeout, vol, "attached and healthy", attachedHealthy(attachNode))
	modes := e.watchModes(engineName(vol))
	lost := e.replicaOn(vol, downNode, notFailed)

	start := time.Now()
	untaint := e.taint(downNode)
	toDegraded := e.waitVolume(condTimeout, vol, "degraded", robustness("degraded"))
	if got := e.lhNodeReady(downNode); got != "False/"+nodeReasonManagerPodDown {
		t.Errorf("Longhorn node %s Ready = %s, want False/%s", downNode, got, nodeReasonManagerPodDown)
	}
	e.waitFor(condTimeout, "the replica on "+downNode+" failed and stopped", func() (bool, string) {
		r := e.getLH(replicaGVR, lost.GetName())
		return !notFailed(r) && str(r, "status", "currentState") == "stopped", describeReplicas(e.replicasOf(vol))
	})
	e.waitVolume(condTimeout, vol, "healthy again", attachedHealthy(attachNode))
	recovered := time.Since(start)
	rebuilt := e.replicaOn(vol, spare, notFailed)
	if rebuilt == nil {
		t.Fatalf("no replica rebuilt on %s: %s", spare, describeReplicas(e.replicasOf(vol)))
	}
	if !e.sawMode(modes, rebuilt.GetName(), modeWO) {
		t.Errorf("engine modes seen %v: want %s WO while rebuilding", modes.seen, rebuilt.GetName())
	}
	eng := e.getLH(engineGVR, engineName(vol))
	m, _, _ := unstructured.NestedStringMap(eng.Object, "status", "replicaModeMap")
	if _, ok := m[lost.GetName()]; ok || m[rebuilt.GetName()] != modeRW || len(m) != 2 {
		t.Errorf("replicaModeMap %v, want two RW replicas without %s", m, lost.GetName())
	}
	if recovered < wait*time.Second {
		t.Errorf("healthy again after %v, before the %ds replenishment wait", recovered, wait)
	}
	t.Logf("taint to degraded %v; taint to healthy (wait %ds + rebuild of %s bytes) %v", toDegraded, wait, rebuildSize, recovered)

	// The node comes back; the failed replica stays until staleReplicaTimeout.
	untaint()
	e.waitFor(condTimeout, "Longhorn node "+downNode+" Ready", func() (bool, string) {
		got := e.lhNodeReady(downNode)
		return got == "True/", got
	})
	if v := e.getLH(volumeGVR, vol); !attachedHealthy(attachNode)(v) {
		t.Errorf("volume no longer healthy after the node returned: %s", str(v, "status", "robustness"))
	}
	if r := e.getLH(replicaGVR, lost.GetName()); r == nil || notFailed(r) {
		t.Errorf("failed replica %s: %v, want it kept, failed, until staleReplicaTimeout", lost.GetName(), r != nil)
	}
}

// TestIntegrationNodeReturnsReusesReplica: a node that comes back within
// replica-replenishment-wait-interval gets its failed replica reused
// (rebuilt in place) instead of a new one elsewhere.
func TestIntegrationNodeReturnsReusesReplica(t *testing.T) {
	e := newEnv(t, Options{})
	const vol = "it-fail-return"
	e.setSetting(SettingReplicaReplenishmentWaitInterval, "600")
	nodes, _ := e.failureVolume(vol, 2)
	attachNode, downNode := nodes[0], nodes[1]
	e.attach(vol, "longhorn-ui", attachNode, nil)
	e.waitVolume(condTimeout, vol, "attached and healthy", attachedHealthy(attachNode))
	lost := e.replicaOn(vol, downNode, notFailed)
	modes := e.watchModes(engineName(vol))

	untaint := e.taint(downNode)
	e.waitVolume(condTimeout, vol, "degraded", robustness("degraded"))
	e.waitFor(condTimeout, "the replica on "+downNode+" failed", func() (bool, string) {
		return !notFailed(e.getLH(replicaGVR, lost.GetName())), describeReplicas(e.replicasOf(vol))
	})
	untaint()
	took := e.waitVolume(condTimeout, vol, "healthy with the replica reused", attachedHealthy(attachNode))
	rs := e.replicasOf(vol)
	if len(rs) != 2 || e.replicaOn(vol, downNode, notFailed) == nil || e.replicaOn(vol, downNode, notFailed).GetName() != lost.GetName() {
		t.Errorf("replicas %s, want the two originals with %s reused", describeReplicas(rs), lost.GetName())
	}
	if !e.sawMode(modes, lost.GetName(), modeWO) {
		t.Errorf("engine modes seen %v: want %s rebuilt (WO) in place", modes.seen, lost.GetName())
	}
	t.Logf("node back to healthy (reuse and rebuild) %v", took)
}

// TestIntegrationKubeNodeDeleted: deleting a Kubernetes node leaves its
// Longhorn node KubernetesNodeGone; the replica there is lost (unknown, then
// failed) and rebuilt on the free node. Creating the node again brings the
// Longhorn node back Ready.
func TestIntegrationKubeNodeDeleted(t *testing.T) {
	e := newEnv(t, Options{})
	const vol = "it-fail-nodegone"
	e.setSetting(SettingReplicaReplenishmentWaitInterval, "1")
	nodes, free := e.failureVolume(vol, 2)
	attachNode, downNode, spare := nodes[0], nodes[1], free[0]
	e.attach(vol, "longhorn-ui", attachNode, nil)
	e.waitVolume(condTimeout, vol, "attached and healthy", attachedHealthy(attachNode))
	lost := e.replicaOn(vol, downNode, notFailed)

	saved, err := e.kube.CoreV1().Nodes().Get(e.ctx, downNode, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	recreate := func() {
		n := &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: saved.Name, Labels: saved.Labels, Annotations: saved.Annotations},
			Status: corev1.NodeStatus{Capacity: saved.Status.Capacity, Allocatable: saved.Status.Allocatable, NodeInfo: saved.Status.NodeInfo}}
		if _, err := e.kube.CoreV1().Nodes().Create(context.Background(), n, metav1.CreateOptions{}); err != nil {
			t.Errorf("recreate node %s: %v", downNode, err)
		}
	}
	if err := e.kube.CoreV1().Nodes().Delete(e.ctx, downNode, metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	recreated := false
	t.Cleanup(func() {
		if !recreated {
			recreate()
		}
	})
	start := time.Now()
	toDegraded := e.waitVolume(condTimeout, vol, "degraded", robustness("degraded"))
	if got := e.lhNodeReady(downNode); got != "False/"+nodeReasonKubernetesNodeGone {
		t.Errorf("Longhorn node %s Ready = %s, want False/%s", downNode, got, nodeReasonKubernetesNodeGone)
	}
	e.waitVolume(condTimeout, vol, "healthy on the free node", attachedHealthy(attachNode))
	recovered := time.Since(start)
	if e.replicaOn(vol, spare, notFailed) == nil {
		t.Errorf("no replica rebuilt on %s: %s", spare, describeReplicas(e.replicasOf(vol)))
	}
	if r := e.getLH(replicaGVR, lost.GetName()); notFailed(r) {
		t.Errorf("replica %s on the deleted node not failed: %s", lost.GetName(), describeReplicas(e.replicasOf(vol)))
	}
	t.Logf("node deleted: degraded after %v, healthy after %v (wait 1s + rebuild)", toDegraded, recovered)

	recreate()
	recreated = true
	e.waitFor(condTimeout, "Longhorn node "+downNode+" Ready again", func() (bool, string) {
		got := e.lhNodeReady(downNode)
		return got == "True/", got
	})
}

// TestIntegrationDeletedReplicaIsRebuilt: deleting a replica of an attached
// volume drops it from the engine's replicaModeMap and rebuilds a new one
// at once (no failed replica to wait for).
func TestIntegrationDeletedReplicaIsRebuilt(t *testing.T) {
	e := newEnv(t, Options{})
	const vol = "it-fail-delrep"
	e.setSetting(SettingReplicaReplenishmentWaitInterval, "600")
	nodes, free := e.failureVolume(vol, 2)
	e.attach(vol, "longhorn-ui", nodes[0], nil)
	e.waitVolume(condTimeout, vol, "attached and healthy", attachedHealthy(nodes[0]))
	victim := e.replicaOn(vol, nodes[1], notFailed)
	modes := e.watchModes(engineName(vol))

	start := time.Now()
	if err := e.dyn.Resource(replicaGVR).Namespace(Namespace).Delete(e.ctx, victim.GetName(), metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	e.waitFor(condTimeout, "the deleted replica out of replicaModeMap", func() (bool, string) {
		m, _, _ := unstructured.NestedStringMap(e.getLH(engineGVR, engineName(vol)).Object, "status", "replicaModeMap")
		_, ok := m[victim.GetName()]
		return !ok, fmt.Sprint(m)
	})
	// The volume reads healthy until the volume controller has seen the
	// deletion, so "healthy again" also needs a replacement RW in the engine.
	e.waitVolume(condTimeout, vol, "healthy again with a replacement replica", func(v *unstructured.Unstructured) bool {
		m, _, _ := unstructured.NestedStringMap(e.getLH(engineGVR, engineName(vol)).Object, "status", "replicaModeMap")
		rw := 0
		for name, mode := range m {
			if name != victim.GetName() && mode == modeRW {
				rw++
			}
		}
		return attachedHealthy(nodes[0])(v) && rw == 2
	})
	took := time.Since(start)
	rs := e.replicasOf(vol)
	if len(rs) != 2 || e.getLH(replicaGVR, victim.GetName()) != nil {
		t.Errorf("replicas %s, want two without %s", describeReplicas(rs), victim.GetName())
	}
	var rebuilt string
	for _, r := range rs {
		if r.GetName() != victim.GetName() && str(&r, "spec", "nodeID") != nodes[0] {
			rebuilt = r.GetName()
		}
	}
	if rebuilt == "" || !e.sawMode(modes, rebuilt, modeWO) {
		t.Errorf("no rebuilt replica seen WO (modes %v, replicas %s)", modes.seen, describeReplicas(rs))
	}
	if took > 30*time.Second {
		t.Errorf("rebuild took %v, want no replenishment wait for a deleted replica", took)
	}
	t.Logf("replica deleted to healthy (rebuild of %s bytes) %v; free nodes were %v", rebuildSize, took, free)
}

// TestIntegrationRebuildLimitPerNode: with
// concurrent-replica-rebuild-per-node-limit 1, two volumes that lose a
// replica at once rebuild on the free node one after the other.
func TestIntegrationRebuildLimitPerNode(t *testing.T) {
	e := newEnv(t, Options{})
	e.setSetting(SettingReplicaReplenishmentWaitInterval, "1")
	e.setSetting(SettingConcurrentReplicaRebuildPerNodeLimit, "1")
	// With node-3 tainted, both volumes' replicas land on node-1 and node-2.
	untaint3 := e.taint("node-3")
	e.waitFor(condTimeout, "node-3 not schedulable", func() (bool, string) {
		got := e.lhNodeReady("node-3")
		return strings.HasPrefix(got, "False"), got
	})
	vols := []string{"it-fail-limit-a", "it-fail-limit-b"}
	for _, v := range vols {
		if nodes, _ := e.failureVolume(v, 2); !slices.Equal(nodes, []string{"node-1", "node-2"}) {
			t.Fatalf("%s replicas on %v, want node-1 and node-2", v, nodes)
		}
	}
	untaint3()
	e.waitFor(condTimeout, "node-3 Ready", func() (bool, string) { got := e.lhNodeReady("node-3"); return got == "True/", got })
	watchers := map[string]*modeWatcher{}
	for _, v := range vols {
		e.attach(v, "longhorn-ui", "node-1", nil)
		e.waitVolume(condTimeout, v, "attached and healthy", attachedHealthy("node-1"))
		watchers[v] = e.watchModes(engineName(v))
	}

	// Count the rebuilding replicas on node-3 from the replica watch.
	w, err := e.dyn.Resource(replicaGVR).Namespace(Namespace).Watch(e.ctx, metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Stop()
	var mu sync.Mutex
	running := map[string]bool{}
	seenRV := map[string]bool{}
	maxRunning := 0
	go func() {
		for ev := range w.ResultChan() {
			u, ok := ev.Object.(*unstructured.Unstructured)
			if !ok || str(u, "spec", "nodeID") != "node-3" || !strings.HasPrefix(str(u, "spec", "volumeName"), "it-fail-limit-") {
				continue
			}
			mu.Lock()
			seenRV[u.GetResourceVersion()] = true
			mu.Unlock()
			rebuilding := str(u, "spec", "rebuildRetryCount") != "<nil>" && str(u, "spec", "rebuildRetryCount") != "0" &&
				str(u, "status", "currentState") == "running"
			mu.Lock()
			running[u.GetName()] = rebuilding && ev.Type != watch.Deleted
			n := 0
			for _, r := range running {
				if r {
					n++
				}
			}
			maxRunning = max(maxRunning, n)
			mu.Unlock()
		}
	}()

	start := time.Now()
	e.taint("node-2")
	for _, v := range vols {
		e.waitVolume(2*time.Minute, v, "healthy with a replica on node-3", func(u *unstructured.Unstructured) bool {
			return attachedHealthy("node-1")(u) && e.replicaOn(v, "node-3", notFailed) != nil
		})
	}
	took := time.Since(start)
	// The watch is asynchronous: the volumes can read healthy before the
	// rebuilds' events reached the counter. Wait until it has delivered
	// every node-3 replica as a GET reads it now (a rebuilt replica changes
	// after its rebuild: healthyAt), so that it has seen every event before.
	for _, v := range vols {
		for _, r := range e.replicasOf(v) {
			if str(&r, "spec", "nodeID") != "node-3" {
				continue
			}
			rv := r.GetResourceVersion()
			e.waitFor(condTimeout, "the replica watch to deliver "+r.GetName()+" at resourceVersion "+rv, func() (bool, string) {
				mu.Lock()
				defer mu.Unlock()
				return seenRV[rv], fmt.Sprintf("%d resourceVersions seen", len(seenRV))
			})
		}
	}
	mu.Lock()
	defer mu.Unlock()
	if maxRunning != 1 {
		t.Errorf("at most %d replicas rebuilt on node-3 at once, want 1 (the limit)", maxRunning)
	}
	t.Logf("two rebuilds on one node with limit 1: %v", took)
}

// TestIntegrationAttachToDownNode: a ticket for a node whose Longhorn node
// is down leaves the volume attaching and the ticket unsatisfied, with the
// reason; once the node is back the volume attaches.
func TestIntegrationAttachToDownNode(t *testing.T) {
	e := newEnv(t, Options{})
	const vol = "it-fail-attachdown"
	untaint := e.taint("node-3")
	e.waitFor(condTimeout, "node-3 down", func() (bool, string) {
		got := e.lhNodeReady("node-3")
		return strings.HasPrefix(got, "False"), got
	})
	e.failureVolume(vol, 2)
	e.attach(vol, "longhorn-ui", "node-3", nil)
	want := "node node-3 is not ready, couldn't attach volume " + vol + " to it"
	e.waitFor(condTimeout, "the ticket unsatisfied with the reason", func() (bool, string) {
		va := e.getLH(lhvaGVR, vol)
		st, _, _ := unstructured.NestedMap(va.Object, "status", "attachmentTicketStatuses", "longhorn-ui")
		conds, _ := st["conditions"].([]any)
		msg := ""
		if len(conds) == 1 {
			msg = fmt.Sprint(conds[0].(map[string]any)["message"])
		}
		return st["satisfied"] == false && msg == want && str(e.getLH(volumeGVR, vol), "status", "state") == "attaching",
			fmt.Sprintf("ticket status %v, volume %s", st, str(e.getLH(volumeGVR, vol), "status", "state"))
	})
	untaint()
	e.waitVolume(condTimeout, vol, "attached to node-3 once it is back", attachedHealthy("node-3"))
}

// stateWatcher records every status.state a volume reports.
func (e *env) watchStates(vol string) func() []string {
	e.t.Helper()
	w, err := e.dyn.Resource(volumeGVR).Namespace(Namespace).Watch(e.ctx, metav1.ListOptions{FieldSelector: "metadata.name=" + vol})
	if err != nil {
		e.t.Fatal(err)
	}
	e.t.Cleanup(w.Stop)
	var mu sync.Mutex
	var states []string
	go func() {
		for ev := range w.ResultChan() {
			if u, ok := ev.Object.(*unstructured.Unstructured); ok {
				mu.Lock()
				if st := str(u, "status", "state"); len(states) == 0 || states[len(states)-1] != st {
					states = append(states, st)
				}
				mu.Unlock()
			}
		}
	}()
	return func() []string {
		mu.Lock()
		defer mu.Unlock()
		return slices.Clone(states)
	}
}

// removeTicket removes an attachment ticket with a JSON patch, as
// `kubectl patch --type json -p '[{"op":"remove","path":"/spec/attachmentTickets/ID"}]'` does.
func (e *env) removeTicket(vol, id string) {
	e.t.Helper()
	patch := fmt.Sprintf(`[{"op":"remove","path":"/spec/attachmentTickets/%s"}]`, strings.ReplaceAll(strings.ReplaceAll(id, "~", "~0"), "/", "~1"))
	if _, err := e.dyn.Resource(lhvaGVR).Namespace(Namespace).Patch(e.ctx, vol, types.JSONPatchType, []byte(patch), metav1.PatchOptions{}); err != nil {
		e.t.Fatalf("remove ticket %s of %s: %v", id, vol, err)
	}
}

// TestIntegrationMaintenanceAttachAndDetach: a ticket with disableFrontend
// "true" attaches in maintenance mode (frontendDisabled, no endpoint);
// removing the ticket detaches (detaching, then detached, currentNodeID
// cleared).
func TestIntegrationMaintenanceAttachAndDetach(t *testing.T) {
	e := newEnv(t, Options{})
	const vol = "it-maintenance"
	e.failureVolume(vol, 2)
	e.attach(vol, "longhorn-ui", "node-1", map[string]any{"disableFrontend": "true", "lastAttachedBy": ""})
	e.waitVolume(condTimeout, vol, "attached in maintenance", func(v *unstructured.Unstructured) bool {
		return attachedHealthy("node-1")(v) && str(v, "status", "frontendDisabled") == "true"
	})
	eng := e.getLH(engineGVR, engineName(vol))
	if str(eng, "spec", "disableFrontend") != "true" || str(eng, "status", "endpoint") != "" {
		t.Errorf("engine disableFrontend=%s endpoint=%q, want true and no endpoint", str(eng, "spec", "disableFrontend"), str(eng, "status", "endpoint"))
	}
	if !ticketSatisfied("longhorn-ui", mustLHVA(t, e.getLH(lhvaGVR, vol))) {
		t.Error("maintenance ticket not satisfied")
	}

	states := e.watchStates(vol)
	e.removeTicket(vol, "longhorn-ui")
	e.waitVolume(condTimeout, vol, "detached", func(v *unstructured.Unstructured) bool {
		return str(v, "status", "state") == "detached" && str(v, "status", "currentNodeID") == "" && str(v, "status", "frontendDisabled") == "false"
	})
	seen := states()
	if i := slices.Index(seen, "detaching"); i < 0 || !slices.Contains(seen[i:], "detached") {
		t.Errorf("states seen %v, want detaching then detached", seen)
	}
}

func mustLHVA(t *testing.T, u *unstructured.Unstructured) *lhVolumeAttachment {
	t.Helper()
	va, err := fromUnstructured[lhVolumeAttachment](u)
	if err != nil {
		t.Fatal(err)
	}
	return va
}

// TestIntegrationWaitForBackingImage: a volume whose backing image is still
// downloading reports WaitForBackingImage True and attaches once the image
// is ready.
func TestIntegrationWaitForBackingImage(t *testing.T) {
	e := newEnv(t, Options{DownloadTime: 4 * time.Second})
	const bi, vol = "it-wait-bi", "it-wait-bi-vol"
	e.createLH(backingImageGVR, backingImageObj(bi))
	e.createLH(volumeGVR, volumeObj(vol, bi))
	e.waitFor(condTimeout, "VolumeAttachment of "+vol, func() (bool, string) { return e.getLH(lhvaGVR, vol) != nil, "missing" })
	e.attach(vol, "longhorn-ui", "node-1", nil)
	cond := func(v *unstructured.Unstructured) string {
		conds, _, _ := unstructured.NestedSlice(v.Object, "status", "conditions")
		for _, c := range conds {
			if m := c.(map[string]any); m["type"] == "WaitForBackingImage" {
				return fmt.Sprint(m["status"])
			}
		}
		return "<none>"
	}
	e.waitVolume(condTimeout, vol, "WaitForBackingImage True", func(v *unstructured.Unstructured) bool {
		return cond(v) == "True" && str(v, "status", "state") == "detached"
	})
	if ready, seen := backingImageReady(e.getLH(backingImageGVR, bi)); ready {
		t.Errorf("backing image already ready while the volume waits: %s", seen)
	}
	e.waitVolume(condTimeout, vol, "attached with WaitForBackingImage False", func(v *unstructured.Unstructured) bool {
		return attachedHealthy("node-1")(v) && cond(v) == "False"
	})
	if ready, seen := backingImageReady(e.getLH(backingImageGVR, bi)); !ready {
		t.Errorf("attached before the backing image was ready: %s", seen)
	}
}
