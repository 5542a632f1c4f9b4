package longhornsim

import (
	"fmt"
	"slices"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/types"
)

// TestIntegrationDeletedVolumeAttachment models what longhorn-manager does
// when a Longhorn VolumeAttachment is deleted while its volume exists
// (controller/volume_attachment_controller.go at 5ddaa369, reconcile: the
// longhorn.io finalizer is removed only once the volume is gone; nothing
// else looks at the deletion, and the webhook does not validate DELETE):
// the attachment stays Terminating and keeps deciding the volume's node
// from its tickets, so the volume stays attached until its last ticket is
// removed; the volume's deletion (volume_controller.go, which deletes the
// attachment with it) then lets the attachment go.
func TestIntegrationDeletedVolumeAttachment(t *testing.T) {
	e := newEnv(t, Options{})
	const vol = "it-va-delete"
	nodes, _ := e.failureVolume(vol, 2)
	e.attach(vol, "longhorn-ui", nodes[0], nil)
	e.waitVolume(30*time.Second, vol, "attached and healthy", attachedHealthy(nodes[0]))

	if err := e.dyn.Resource(lhvaGVR).Namespace(Namespace).Delete(e.ctx, vol, metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	// Give the simulator time to act on the deletion; it must not detach.
	time.Sleep(2 * time.Second)
	va := e.getLH(lhvaGVR, vol)
	if va == nil || va.GetDeletionTimestamp() == nil || !slices.Contains(va.GetFinalizers(), longhornFinalizer) {
		t.Fatalf("the deleted VolumeAttachment: %v, want it Terminating with the longhorn.io finalizer", va)
	}
	e.waitVolume(time.Second, vol, "still attached", attachedHealthy(nodes[0]))

	// Removing its ticket from the Terminating attachment detaches.
	patch := []byte(`[{"op": "remove", "path": "/spec/attachmentTickets/longhorn-ui"}]`)
	if _, err := e.dyn.Resource(lhvaGVR).Namespace(Namespace).Patch(e.ctx, vol, types.JSONPatchType, patch, metav1.PatchOptions{}); err != nil {
		t.Fatal(err)
	}
	e.waitVolume(30*time.Second, vol, "detached", func(v *unstructured.Unstructured) bool { return str(v, "status", "state") == "detached" })

	if err := e.dyn.Resource(volumeGVR).Namespace(Namespace).Delete(e.ctx, vol, metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	e.waitFor(30*time.Second, "the volume and its VolumeAttachment gone", func() (bool, string) {
		v, a := e.getLH(volumeGVR, vol), e.getLH(lhvaGVR, vol)
		return v == nil && a == nil, fmt.Sprintf("volume %v, attachment %v", v != nil, a != nil)
	})
}
