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
// legacy-queue-jam one (Longhorn issue 3242). The legacy simulator runs four
// times faster (SpeedFactor 4): the jam's growth per second does not depend
// on the speed (resyncs and the token bucket scale alike), its start does.
func TestIntegrationLegacyQueueJam(t *testing.T) {
	e := connect(t)
	n := jamVolumes(t)
	stop := e.startSim(Options{DownloadTime: time.Second})

	for i := 1; i <= 10; i++ {
		e.createLH(backingImageGVR, backingImageObj(fmt.Sprintf("it-jam-bi-%d", i)))
	}
	for i := 1; i <= 10; i++ {
		name := fmt.Sprintf("it-jam-bi-%d", i)
		e.waitFor(time.Minute, name+" ready", func() (bool, string) { return backingImageReady(e.getLH(backingImageGVR, name)) })
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
	e.waitEvery(time.Second, time.Minute+time.Duration(n)*200*time.Millisecond, fmt.Sprintf("%d volumes detached", n), func() (bool, string) {
		vols, err := e.dyn.Resource(volumeGVR).Namespace(Namespace).List(e.ctx, metav1.ListOptions{LabelSelector: "it-jam=true"})
		if err != nil {
			return false, err.Error()
		}
		detached := 0
		for _, v := range vols.Items {
			if str(&v, "status", "state") == "detached" {
				detached++
			}
		}
		return detached == n, fmt.Sprintf("%d of %d detached", detached, n)
	})
	t.Logf("default mode: %d volumes (%d replicas) created in %v", n, 3*n, time.Since(start))

	defTotal, defAttach := e.probe("it-jam-probe-default", "it-jam-bi-1", time.Minute)
	defDelete := e.deleteProbe("it-jam-probe-default", time.Minute)
	t.Logf("default mode: new volume created+attached in %v (ticket to attached %v), deleted in %v", defTotal, defAttach, defDelete)
	stop()

	// The jam builds up with time: each resync (every 30 s, 7.5 s at speed
	// 4) adds more token reservations than the bucket grants. Probe one
	// volume after another until three resyncs have passed; the waits grow.
	const speed = 4
	legacyStart := time.Now()
	e.startSim(Options{Mode: ModeLegacyQueueJam, DownloadTime: time.Second, SpeedFactor: speed})
	// The worst probe counts: the jam comes with the resyncs, so one probe
	// can fall between two of them (a create right after a deletion that
	// waited out the backlog).
	var legTotal, legDelete time.Duration
	for i := 0; i < 2 || time.Since(legacyStart) < 3*30*time.Second/speed; i++ {
		name := fmt.Sprintf("it-jam-probe-legacy-%d", i)
		at := time.Since(legacyStart).Round(100 * time.Millisecond)
		total, legAttach := e.probe(name, "it-jam-bi-1", 10*time.Minute)
		del := e.deleteProbe(name, 10*time.Minute)
		legTotal, legDelete = max(legTotal, total), max(legDelete, del)
		t.Logf("legacy-queue-jam mode (speed %d), %v after start: new volume created+attached in %v (ticket to attached %v), deleted in %v",
			speed, at, total, legAttach, del)
	}

	if legTotal < 3*defTotal || legTotal < 3*time.Second {
		t.Errorf("legacy-queue-jam new volume took at most %v, default %v: want the jam measurably slower", legTotal, defTotal)
	}
	if legDelete < 3*defDelete || legDelete < 3*time.Second {
		t.Errorf("legacy-queue-jam deletion took at most %v, default %v: want the jam to slow deletion too", legDelete, defDelete)
	}
}
