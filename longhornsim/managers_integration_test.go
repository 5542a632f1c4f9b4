package longhornsim

import (
	"bytes"
	"context"
	"fmt"
	"maps"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/common/model"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/scenario-runner/runner/kube"
	"github.com/scenario-runner/runner/metrics"
)

// managerPods lists the Running manager pods by node.
func (e *env) managerPods() map[string]corev1.Pod {
	pods, err := e.kube.CoreV1().Pods(Namespace).List(e.ctx, metav1.ListOptions{LabelSelector: "app=" + managerApp})
	if err != nil {
		e.t.Fatal(err)
	}
	out := map[string]corev1.Pod{}
	for _, p := range pods.Items {
		if p.Status.Phase == corev1.PodRunning && p.Status.PodIP != "" && p.DeletionTimestamp == nil {
			out[p.Spec.NodeName] = p
		}
	}
	return out
}

// scrapeEach reads every manager pod's /metrics through the API server's
// pod proxy, as a plan's metrics source does.
func (e *env) scrapeEach(c *kube.Client, pods map[string]corev1.Pod) map[string]model.Vector {
	e.t.Helper()
	out := map[string]model.Vector{}
	for node, p := range pods {
		body, err := c.ProxyGet(e.ctx, Namespace, p.Name, "", "/metrics")
		if err != nil {
			e.t.Fatalf("GET /metrics of %s (node %s) through the pod proxy: %v", p.Name, node, err)
		}
		v, err := metrics.Parse(bytes.NewReader(body), time.Now())
		if err != nil {
			e.t.Fatalf("%s: %v", p.Name, err)
		}
		out[node] = v
	}
	return out
}

func find(v model.Vector, name string, match map[string]string) []*model.Sample {
	var out []*model.Sample
	for _, s := range v {
		if string(s.Metric[model.MetricNameLabel]) != name {
			continue
		}
		ok := true
		for k, want := range match {
			ok = ok && string(s.Metric[model.LabelName(k)]) == want
		}
		if ok {
			out = append(out, s)
		}
	}
	return out
}

// TestIntegrationManagersServeTheirNodesMetrics: every node has a
// longhorn-manager pod reachable through the API server's pod proxy, and
// each reports only what its node owns, with Longhorn's names and labels;
// a NoExecute taint takes a node's manager (and its series) away.
func TestIntegrationManagersServeTheirNodesMetrics(t *testing.T) {
	e := newEnv(t, Options{})
	client, err := kube.NewForConfig(e.cfg)
	if err != nil {
		t.Fatal(err)
	}
	const vol = "it-metrics-vol"
	e.createLH(volumeGVR, volumeObj(vol, ""))
	e.waitFor(30*time.Second, "volume detached with its VolumeAttachment", func() (bool, string) {
		v, va := e.getLH(volumeGVR, vol), e.getLH(lhvaGVR, vol)
		return str(v, "status", "state") == "detached" && va != nil, "state=" + str(v, "status", "state")
	})
	e.attach(vol, "longhorn-ui", "node-2", nil)
	e.waitVolume(30*time.Second, vol, "attached to node-2", attachedHealthy("node-2"))

	e.waitFor(30*time.Second, "a Running manager pod on each of the 3 nodes", func() (bool, string) {
		pods := e.managerPods()
		return len(pods) == 3, fmt.Sprintf("%d running", len(pods))
	})
	svc, err := e.kube.CoreV1().Services(Namespace).Get(e.ctx, managerService, metav1.GetOptions{})
	if err != nil || svc.Spec.Selector["app"] != managerApp || svc.Spec.Ports[0].Port != 9500 || svc.Spec.Ports[0].TargetPort.StrVal != "manager" {
		t.Errorf("Service longhorn-backend: %v %+v", err, svc)
	}
	pods := e.managerPods()
	start := time.Now()
	scraped := e.scrapeEach(client, pods)
	t.Logf("scraped 3 managers through the pod proxy in %v", time.Since(start))

	for node, v := range scraped {
		// Every series that names a node names this one.
		for _, s := range v {
			if n, ok := s.Metric["node"]; ok && string(n) != node {
				t.Errorf("the manager of %s reports %s", node, s.Metric)
			}
		}
		if got := find(v, "longhorn_node_status", map[string]string{"node": node, "condition": "ready"}); len(got) != 1 || got[0].Value != 1 {
			t.Errorf("%s: longhorn_node_status ready = %v", node, got)
		}
		if got := find(v, "longhorn_node_count_total", nil); len(got) != 1 || got[0].Value != 3 {
			t.Errorf("%s: longhorn_node_count_total = %v", node, got)
		}
		if got := find(v, "longhorn_disk_capacity_bytes", map[string]string{"node": node}); len(got) != 1 {
			t.Errorf("%s: longhorn_disk_capacity_bytes = %v", node, got)
		}
		// Each node holds one replica of the 3-replica volume.
		if got := find(v, "longhorn_replica_state", map[string]string{"volume": vol, "node": node, "state": "running"}); len(got) != 1 || got[0].Value != 1 {
			t.Errorf("%s: longhorn_replica_state running = %v", node, got)
		}
		// The volume and its engine are node-2's: it owns them.
		vs := find(v, "longhorn_volume_state", map[string]string{"volume": vol})
		es := find(v, "longhorn_engine_state", map[string]string{"engine": engineName(vol), "state": "running"})
		if node == "node-2" {
			if len(vs) != 1 || vs[0].Value != 2 || len(es) != 1 || es[0].Value != 1 {
				t.Errorf("node-2: volume state %v (want 2, attached), engine running %v", vs, es)
			}
			if r := find(v, "longhorn_volume_robustness", map[string]string{"volume": vol}); len(r) != 1 || r[0].Value != 1 {
				t.Errorf("node-2: robustness %v, want 1 (healthy)", r)
			}
		} else if len(vs) != 0 || len(es) != 0 {
			t.Errorf("%s reports the volume or engine node-2 owns: %v %v", node, vs, es)
		}
		// The simulator's queues are reported once, by node-1's manager.
		depth := find(v, "longhorn_workqueue_depth", map[string]string{"name": "longhorn-replica"})
		adds := find(v, "longhorn_workqueue_adds_total", map[string]string{"name": "longhorn-volume"})
		if node == "node-1" {
			if len(depth) != 1 || len(adds) != 1 || adds[0].Value == 0 {
				t.Errorf("node-1: replica queue depth %v, volume queue adds %v", depth, adds)
			}
			for _, q := range []string{"longhorn-volume", "longhorn-replica", "longhorn-engine", "longhorn-node", "longhorn-backing-image"} {
				if len(find(v, "longhorn_workqueue_retries_total", map[string]string{"name": q})) != 1 {
					t.Errorf("node-1: no longhorn_workqueue_retries_total for %s", q)
				}
			}
		} else if len(depth) != 0 {
			t.Errorf("%s reports the work queues too: %v", node, depth)
		}
	}

	// The plan's view: one source over every manager, by port name.
	src := metrics.NewPodSource(client, metrics.PodTarget{Namespace: Namespace, LabelSelector: "app=longhorn-manager", Port: "manager"})
	q, _ := metrics.Compile(`count by (node) (longhorn_node_status{condition="ready"} == 1)`)
	if q.Local() == nil {
		t.Fatal("a binary operator should need a prometheus")
	}
	q, _ = metrics.Compile(`count(longhorn_replica_state{volume="` + vol + `",state="running"})`)
	r, err := src.Read(e.ctx, []*metrics.Query{q})
	if err != nil || r.Targets != 3 || len(r.Vectors[0]) != 1 || r.Vectors[0][0].Value != 3 {
		t.Errorf("read through the source: %v, %d targets, %v", err, r.Targets, r.Vectors)
	}

	// A NoExecute taint evicts node-3's manager: its series go with it.
	untaint := e.taint("node-3")
	e.waitFor(30*time.Second, "node-3's manager pod gone", func() (bool, string) {
		pods := e.managerPods()
		_, ok := pods["node-3"]
		return !ok, fmt.Sprint(slices.Sorted(maps.Keys(pods)))
	})
	r, err = src.Read(e.ctx, []*metrics.Query{q})
	if err != nil || r.Targets != 2 || r.Vectors[0][0].Value != 2 {
		t.Errorf("with node-3 down: %v, %d targets, %v", err, r.Targets, r.Vectors)
	}
	untaint()
	e.waitFor(30*time.Second, "node-3's manager back", func() (bool, string) {
		_, ok := e.managerPods()["node-3"]
		return ok, ""
	})
	if got := e.scrapeEach(client, e.managerPods()); !strings.Contains(fmt.Sprint(find(got["node-3"], "longhorn_node_status", nil)), "node-3") {
		t.Errorf("node-3's manager is back but reports %v", find(got["node-3"], "longhorn_node_status", nil))
	}
}

// retriesPerSecond reads the replica queue's retries through the managers
// twice, window apart, and returns the growth per second.
func (e *env) retriesPerSecond(src *metrics.PodSource, window time.Duration) float64 {
	e.t.Helper()
	q, err := metrics.Compile(`sum(longhorn_workqueue_retries_total{name="longhorn-replica"})`)
	if err != nil {
		e.t.Fatal(err)
	}
	read := func() (float64, time.Time) {
		var v float64
		var at time.Time
		e.waitFor(30*time.Second, "the replica queue's retries through the managers", func() (bool, string) {
			r, err := src.Read(e.ctx, []*metrics.Query{q})
			if err != nil || len(r.Vectors[0]) != 1 {
				return false, fmt.Sprint(err, r.Notes)
			}
			v, at = float64(r.Vectors[0][0].Value), r.At
			return true, ""
		})
		return v, at
	}
	v0, t0 := read()
	time.Sleep(window)
	v1, t1 := read()
	return (v1 - v0) / t1.Sub(t0).Seconds()
}

// TestIntegrationQueueMetricsShowTheJam: the replica queue's
// longhorn_workqueue_retries_total, read through the managers, stays flat
// in default mode and climbs by thousands a second in legacy-queue-jam
// mode, whose resyncs enqueue every replica of every backing image's disks
// with AddRateLimited (Longhorn issue 3242).
func TestIntegrationQueueMetricsShowTheJam(t *testing.T) {
	e := connect(t)
	client, err := kube.NewForConfig(e.cfg)
	if err != nil {
		t.Fatal(err)
	}
	src := metrics.NewPodSource(client, metrics.PodTarget{Namespace: Namespace, LabelSelector: "app=" + managerApp, Port: "manager"})
	const n = 60
	stop := e.startSim(Options{DownloadTime: time.Second})
	for i := 1; i <= 10; i++ {
		e.createLH(backingImageGVR, backingImageObj(fmt.Sprintf("it-qm-bi-%d", i)))
	}
	for i := 1; i <= 10; i++ {
		name := fmt.Sprintf("it-qm-bi-%d", i)
		e.waitFor(condTimeout, name+" ready", func() (bool, string) { return backingImageReady(e.getLH(backingImageGVR, name)) })
	}
	for i := 0; i < n; i++ {
		obj := volumeObj(fmt.Sprintf("it-qm-vol-%03d", i), fmt.Sprintf("it-qm-bi-%d", 1+i%5))
		obj["metadata"].(map[string]any)["labels"] = map[string]any{"it-qm": "true"}
		if _, err := e.dyn.Resource(volumeGVR).Namespace(Namespace).Create(e.ctx, toUnstructuredMust(obj), metav1.CreateOptions{}); err != nil {
			t.Fatalf("create volume %d: %v", i, err)
		}
	}
	t.Cleanup(func() {
		_ = e.dyn.Resource(volumeGVR).Namespace(Namespace).DeleteCollection(context.Background(), metav1.DeleteOptions{}, metav1.ListOptions{LabelSelector: "it-qm=true"})
	})
	e.waitDetached("it-qm=true", n, 2*time.Minute)
	const window = 8 * time.Second
	def := e.retriesPerSecond(src, window)
	t.Logf("default mode, %d volumes (%d replicas) settled: replica queue retries %.1f/s", n, 3*n, def)
	stop()

	// Legacy at speed 4: a resync every 7.5 s; the window holds one.
	e.startSim(Options{Mode: ModeLegacyQueueJam, DownloadTime: time.Second, SpeedFactor: 4})
	time.Sleep(2 * time.Second)
	legacy := e.retriesPerSecond(src, window)
	t.Logf("legacy-queue-jam mode (speed 4): replica queue retries %.1f/s", legacy)
	if def > 5 {
		t.Errorf("default mode: the replica queue retries %.1f times a second with nothing to do", def)
	}
	if legacy < 100 {
		t.Errorf("legacy-queue-jam mode: the replica queue retries %.1f times a second, want the resyncs' flood (hundreds)", legacy)
	}
}

// TestIntegrationManagersMetricsVersions: the managers export the shape of
// the Longhorn release Options.MetricsVersion names: no work queue metrics
// before 1.3, no engine or replica metrics before 1.9, volume state as one
// series per state from 1.11.
func TestIntegrationManagersMetricsVersions(t *testing.T) {
	e := connect(t)
	client, err := kube.NewForConfig(e.cfg)
	if err != nil {
		t.Fatal(err)
	}
	const vol = "it-metrics-version-vol"
	stop := e.startSim(Options{})
	e.createLH(volumeGVR, volumeObj(vol, ""))
	e.waitFor(30*time.Second, "volume detached", func() (bool, string) {
		v := e.getLH(volumeGVR, vol)
		return str(v, "status", "state") == "detached", "state=" + str(v, "status", "state")
	})
	stop()
	tests := []struct {
		version             string
		queues, instances   bool
		coded, labelledAttd string // longhorn_volume_state as a code, or the labelled series for "detached"
	}{
		{version: "1.2", coded: "3"},
		{version: "1.8", queues: true, coded: "3"},
		{version: "1.11", queues: true, instances: true, labelledAttd: "1"},
	}
	for _, tt := range tests {
		stop := e.startSim(Options{MetricsVersion: tt.version})
		var all model.Vector
		e.waitFor(condTimeout, "the managers of "+tt.version+" serve the volume", func() (bool, string) {
			pods := e.managerPods()
			if len(pods) != 3 {
				return false, fmt.Sprintf("%d managers", len(pods))
			}
			all = nil
			for _, p := range pods {
				body, err := client.ProxyGet(e.ctx, Namespace, p.Name, "", "/metrics")
				if err != nil {
					return false, err.Error()
				}
				v, err := metrics.Parse(bytes.NewReader(body), time.Now())
				if err != nil {
					return false, err.Error()
				}
				all = append(all, v...)
			}
			// A restarted simulator sees the volume "creating" for a moment.
			coded := find(all, "longhorn_volume_state", map[string]string{"volume": vol, "state": ""})
			labelled := find(all, "longhorn_volume_state", map[string]string{"volume": vol, "state": "detached"})
			detached := (len(coded) == 1 && coded[0].Value == 3) || (len(labelled) == 1 && labelled[0].Value == 1)
			return detached, fmt.Sprint("volume state ", find(all, "longhorn_volume_state", map[string]string{"volume": vol}))
		})
		if got := len(find(all, "longhorn_workqueue_depth", nil)) > 0; got != tt.queues {
			t.Errorf("%s: work queue metrics %v, want %v", tt.version, got, tt.queues)
		}
		if got := len(find(all, "longhorn_replica_state", map[string]string{"volume": vol})) > 0; got != tt.instances {
			t.Errorf("%s: replica metrics %v, want %v", tt.version, got, tt.instances)
		}
		states := find(all, "longhorn_volume_state", map[string]string{"volume": vol})
		if tt.coded != "" {
			if len(states) != 1 || states[0].Value.String() != tt.coded || states[0].Metric["state"] != "" {
				t.Errorf("%s: volume state %v, want one series with the code %s", tt.version, states, tt.coded)
			}
		} else {
			det := find(all, "longhorn_volume_state", map[string]string{"volume": vol, "state": "detached"})
			att := find(all, "longhorn_volume_state", map[string]string{"volume": vol, "state": "attached"})
			if len(states) != 6 || len(det) != 1 || det[0].Value.String() != tt.labelledAttd || len(att) != 1 || att[0].Value != 0 {
				t.Errorf("%s: volume state %v, want 6 series, detached 1", tt.version, states)
			}
		}
		stop()
	}
}
