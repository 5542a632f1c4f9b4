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
	} {
		listKinds[gvr] = kind + "List"
	}
	dyn := dynamicfake.NewSimpleDynamicClientWithCustomListKinds(runtime.NewScheme(), listKinds)
	s := newSim(kubefake.NewClientset(), dyn, opts)
	t.Cleanup(func() {
		for _, c := range []*controller{s.biCtl, s.volCtl, s.repCtl, s.engCtl, s.pvcCtl, s.pvCtl, s.csiCtl} {
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

// TestBackingImageEventsEnqueueReplicas checks the heart of the queue-jam
// model: which replicas a backing image event puts in the replica queue.
func TestBackingImageEventsEnqueueReplicas(t *testing.T) {
	tests := []struct {
		name    string
		mode    string
		image   string
		changed bool
		want    int
	}{
		{"legacy: unused image enqueues every replica", ModeLegacyQueueJam, "bi-unused", true, 30},
		{"legacy: resync enqueues every replica", ModeLegacyQueueJam, "bi-unused", false, 30},
		{"legacy: used image enqueues every replica", ModeLegacyQueueJam, "bi-a", true, 30},
		{"default: unused image enqueues nothing", ModeDefault, "bi-unused", true, 0},
		{"default: used image enqueues its replicas", ModeDefault, "bi-a", true, 15},
		{"default: no change enqueues nothing", ModeDefault, "bi-a", false, 0},
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
					obj := lhObject("Replica", fmt.Sprintf("%s-r-%d", vol, r), map[string]any{"volumeName": vol, "backingImage": bi})
					if err := s.replicas.GetStore().Add(obj); err != nil {
						t.Fatal(err)
					}
				}
			}
			s.backingImageChanged(lhObject("BackingImage", tt.image, map[string]any{}), tt.changed)
			if got := s.repCtl.queue.Len(); got != tt.want {
				t.Errorf("replica queue holds %d keys, want %d", got, tt.want)
			}
		})
	}
}
