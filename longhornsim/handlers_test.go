package longhornsim

import (
	"fmt"
	"testing"

	"github.com/rs/zerolog"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	dynamicfake "k8s.io/client-go/dynamic/fake"
	kubefake "k8s.io/client-go/kubernetes/fake"
)

func fakeSim(t *testing.T, mode string) *sim {
	t.Helper()
	opts, err := Options{Mode: mode, Logger: zerolog.Nop()}.withDefaults()
	if err != nil {
		t.Fatal(err)
	}
	listKinds := map[schema.GroupVersionResource]string{}
	for gvr, kind := range map[schema.GroupVersionResource]string{
		backingImageGVR: "BackingImage", volumeGVR: "Volume", replicaGVR: "Replica", engineGVR: "Engine", lhvaGVR: "VolumeAttachment",
		lhNodeGVR: "Node", settingGVR: "Setting", imGVR: "InstanceManager",
	} {
		listKinds[gvr] = kind + "List"
	}
	dyn := dynamicfake.NewSimpleDynamicClientWithCustomListKinds(runtime.NewScheme(), listKinds)
	s := newSim(kubefake.NewClientset(), dyn, opts)
	t.Cleanup(func() {
		for _, c := range s.controllers() {
			c.queue.ShutDown()
		}
	})
	return s
}

func lhObject(kind, name string, spec map[string]any) *unstructured.Unstructured {
	return &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "longhorn.io/v1beta2", "kind": kind,
		"metadata": map[string]any{"name": name, "namespace": Namespace, "resourceVersion": "1"},
		"spec":     spec,
	}}
}

// enqueued counts the replicas a backing image event put in the replica
// queue: the queued keys, or, for the rate-limited legacy queue whose keys
// first wait in its delay heap, the keys the limiter saw.
func enqueued(s *sim) int {
	if !s.repCtl.rateLimited {
		return s.repCtl.queue.Len()
	}
	n := 0
	for _, k := range s.replicas.GetStore().ListKeys() {
		if s.repCtl.queue.NumRequeues(nameFromKey(k)) > 0 {
			n++
		}
	}
	return n
}

// TestBackingImageEventsEnqueueReplicas checks the heart of the queue-jam
// model: which replicas a backing image event puts in the replica queue.
// Thirty replicas (ten volumes, half on bi-a, half on bi-b) sit on the disks
// of node-1..3; a backing image has files on the disks given.
func TestBackingImageEventsEnqueueReplicas(t *testing.T) {
	all := []string{"node-1", "node-2", "node-3"}
	tests := []struct {
		name    string
		mode    string
		image   string
		disks   []string
		changed bool
		want    int
	}{
		{"legacy: unused image enqueues every replica on its disks", ModeLegacyQueueJam, "bi-unused", all, true, 30},
		{"legacy: resync enqueues every replica on its disks", ModeLegacyQueueJam, "bi-unused", all, false, 30},
		{"legacy: used image enqueues every replica on its disks", ModeLegacyQueueJam, "bi-a", all, true, 30},
		{"legacy: a file on one disk enqueues that disk's replicas", ModeLegacyQueueJam, "bi-unused", all[:1], true, 10},
		{"legacy: no files yet enqueues nothing", ModeLegacyQueueJam, "bi-unused", nil, true, 0},
		{"default: unused image enqueues nothing", ModeDefault, "bi-unused", all, true, 0},
		{"default: used image enqueues its replicas", ModeDefault, "bi-a", all, true, 15},
		{"default: no change enqueues nothing", ModeDefault, "bi-a", all, false, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := fakeSim(t, tt.mode)
			for i := 0; i < 10; i++ {
				bi := "bi-a"
				if i%2 == 1 {
					bi = "bi-b"
				}
				vol := fmt.Sprintf("pvc-%d", i)
				for r := 0; r < 3; r++ {
					obj := lhObject("Replica", fmt.Sprintf("%s-r-%d", vol, r), map[string]any{
						"volumeName": vol, "backingImage": bi, "nodeID": all[r], "diskID": diskUUID(all[r])})
					if err := s.replicas.GetStore().Add(obj); err != nil {
						t.Fatal(err)
					}
				}
			}
			img := lhObject("BackingImage", tt.image, map[string]any{})
			files := map[string]any{}
			for _, n := range tt.disks {
				files[diskUUID(n)] = map[string]any{"state": "ready"}
			}
			img.Object["status"] = map[string]any{"diskFileStatusMap": files}
			s.backingImageChanged(img, tt.changed)
			if got := enqueued(s); got != tt.want {
				t.Errorf("replica queue got %d keys, want %d", got, tt.want)
			}
		})
	}
}
