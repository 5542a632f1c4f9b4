package longhornsim

import (
	"context"
	"fmt"
	"os"
	"strconv"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// jamVolumes is how many volumes the queue-jam test creates before it
// measures; RUNNER_JAM_VOLUMES overrides it.
func jamVolumes(t *testing.T) int {
	if v := os.Getenv("RUNNER_JAM_VOLUMES"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n <= 0 {
			t.Fatalf("RUNNER_JAM_VOLUMES=%q: want a positive number", v)
		}
		return n
	}
	return 150
}

// probe creates a volume using a backing image, attaches it to node-1 with
// a longhorn-ui ticket once its VolumeAttachment exists, and returns the
// time from creation to attached and from the ticket to attached.
func (e *env) probe(name, bi string, timeout time.Duration) (total, attach time.Duration) {
	e.t.Helper()
	start := time.Now()
	e.createLH(volumeGVR, volumeObj(name, bi))
	e.waitFor(timeout, "VolumeAttachment of "+name, func() (bool, string) {
		return e.getLH(lhvaGVR, name) != nil, "missing"
	})
	ticketAt := time.Now()
	e.patchLH(lhvaGVR, name, map[string]any{"spec": map[string]any{"attachmentTickets": map[string]any{
		"longhorn-ui": map[string]any{"id": "longhorn-ui", "type": "longhorn-api", "nodeID": "node-1", "generation": 0}}}})
	e.waitFor(timeout, name+" attached", func() (bool, string) {
		v := e.getLH(volumeGVR, name)
		return str(v, "status", "state") == "attached", "state=" + str(v, "status", "state")
	})
	return time.Since(start), time.Since(ticketAt)
}

// deleteProbe deletes a volume and returns how long it took to be gone
// (its replicas' finalizers go through the replica queue).
func (e *env) deleteProbe(name string, timeout time.Duration) time.Duration {
	e.t.Helper()
	start := time.Now()
	if err := e.dyn.Resource(volumeGVR).Namespace(Namespace).Delete(e.ctx, name, metav1.DeleteOptions{}); err != nil {
		e.t.Fatalf("delete volume %s: %v", name, err)
	}
	e.waitFor(timeout, name+" gone", func() (bool, string) {
		v := e.getLH(volumeGVR, name)
		return v == nil, "state=" + str(v, "status", "state")
	})
	return time.Since(start)
}

// TestIntegrationLegacyQueueJam measures, with 150 volumes and ten
// backing images of which five are unused, how long a new volume takes to be
// created and attached, then deleted, by the default simulator and by the
// legacy-queue-jam one (Longhorn issue 3242), once the legacy queue's jam is
// established. The legacy simulator runs four times faster (SpeedFactor 4):
// the jam's growth per second does not depend on the speed (resyncs and the
// token bucket scale alike). Default mode's times are only logged: how fast
// a shared machine runs decides them.
func TestIntegrationLegacyQueueJam(t *testing.T) {
	e := connect(t)
	n := jamVolumes(t)
	stop := e.startSim(Options{DownloadTime: time.Second})

	for i := 1; i <= 10; i++ {
		e.createLH(backingImageGVR, backingImageObj(fmt.Sprintf("it-jam-bi-%d", i)))
	}
	for i := 1; i <= 10; i++ {
		name := fmt.Sprintf("it-jam-bi-%d", i)
		e.waitFor(condTimeout, name+" ready", func() (bool, string) { return backingImageReady(e.getLH(backingImageGVR, name)) })
	}

	start := time.Now()
	for i := 0; i < n; i++ {
		obj := volumeObj(fmt.Sprintf("it-jam-vol-%04d", i), fmt.Sprintf("it-jam-bi-%d", 1+i%5))
		obj["metadata"].(map[string]any)["labels"] = map[string]any{"it-jam": "true"}
		u := obj
		if _, err := e.dyn.Resource(volumeGVR).Namespace(Namespace).Create(e.ctx, toUnstructuredMust(u), metav1.CreateOptions{}); err != nil {
			t.Fatalf("create volume %d: %v", i, err)
		}
	}
	t.Cleanup(func() {
		_ = e.dyn.Resource(volumeGVR).Namespace(Namespace).DeleteCollection(context.Background(), metav1.DeleteOptions{}, metav1.ListOptions{LabelSelector: "it-jam=true"})
	})
	e.waitDetached("it-jam=true", n, time.Minute+time.Duration(n)*200*time.Millisecond)
	t.Logf("default mode: %d volumes (%d replicas) created in %v", n, 3*n, time.Since(start))

	defTotal, defAttach := e.probe("it-jam-probe-default", "it-jam-bi-1", time.Minute)
	defDelete := e.deleteProbe("it-jam-probe-default", time.Minute)
	t.Logf("default mode: new volume created+attached in %v (ticket to attached %v), deleted in %v", defTotal, defAttach, defDelete)
	stop()

	// The jam is established when a replica enqueued now waits longer than
	// jamBudget plus one resync period: the wait falls by at most a period
	// before the next resync adds more than that back (above ~250 replicas),
	// so every probe from then on waits more than jamBudget for its
	// replicas, however fast or slow the machine is. Wait for that state,
	// as the simulator's meter reads it, not for time.
	const speed = 4
	const jamBudget = 3 * time.Second
	established := jamBudget + 30*time.Second/speed + 1500*time.Millisecond
	meter := &Meter{}
	e.startSim(Options{Mode: ModeLegacyQueueJam, DownloadTime: time.Second, SpeedFactor: speed, Meter: meter})
	took := e.waitFor(10*time.Minute, fmt.Sprintf("the legacy replica queue to make a replica wait %v", established), func() (bool, string) {
		w := meter.ReplicaQueueWait()
		return w >= established, "it waits " + w.String()
	})
	t.Logf("legacy-queue-jam mode (speed %d): the replica queue jammed %v after start", speed, took.Round(100*time.Millisecond))
	legTotal, legAttach := e.probe("it-jam-probe-legacy", "it-jam-bi-1", 10*time.Minute)
	legDelete := e.deleteProbe("it-jam-probe-legacy", 10*time.Minute)
	t.Logf("legacy-queue-jam mode: new volume created+attached in %v (ticket to attached %v), deleted in %v; the queue now makes a replica wait %v",
		legTotal, legAttach, legDelete, meter.ReplicaQueueWait().Round(100*time.Millisecond))
	if legTotal < jamBudget {
		t.Errorf("legacy-queue-jam new volume took %v: want more than %v, as its replicas waited in the jammed queue", legTotal, jamBudget)
	}
	if legDelete < jamBudget {
		t.Errorf("legacy-queue-jam deletion took %v: want more than %v, as the replicas' finalizers wait in the jammed queue", legDelete, jamBudget)
	}
}
