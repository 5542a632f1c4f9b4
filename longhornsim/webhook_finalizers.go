package longhornsim

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/tools/cache"
)

// The finalizer controller removes the longhorn.io finalizer that the
// mutator adds, when Longhorn's controllers would:
//
//   - a volume being deleted: its engines, replicas and VolumeAttachment are
//     deleted, and once no engine or replica is left the finalizer goes
//     (controller/volume_controller.go, syncVolume, the DeletionTimestamp
//     branch, ending in RemoveFinalizerForVolume);
//   - a VolumeAttachment being deleted: once its volume is gone
//     (controller/volume_attachment_controller.go, reconcile,
//     RemoveFinalizerForLHVolumeAttachment);
//   - a backing image being deleted: once no replica uses it
//     (controller/backing_image_controller.go, syncBackingImage,
//     RemoveFinalizerForBackingImage; the data-source and manager cleanup
//     have nothing to clean in the simulator).
//
// Keys are "<resource>/<name>".

// addFinalizerHandlers creates the controller and feeds it from the
// simulator's informers; call it from newSim.
func (s *sim) addFinalizerHandlers() {
	s.finCtl = newController("finalizers", s.opts.Workers, 0, s.log, s.syncFinalizer)
	deleting := func(inf cache.SharedIndexInformer, name string) bool {
		obj, ok, _ := inf.GetStore().GetByKey(Namespace + "/" + name)
		m, isMeta := obj.(metav1.Object)
		return ok && isMeta && m.GetDeletionTimestamp() != nil
	}
	s.volumes.AddEventHandler(handlerFunc(func(obj any) { s.finCtl.add("volumes/" + nameOf(obj)) }))
	s.lhvas.AddEventHandler(handlerFunc(func(obj any) { s.finCtl.add("volumeattachments/" + nameOf(obj)) }))
	s.backingImages.AddEventHandler(handlerFunc(func(obj any) { s.finCtl.add("backingimages/" + nameOf(obj)) }))
	instance := handlerFunc(func(obj any) {
		if vol := specString(obj, "volumeName"); vol != "" && deleting(s.volumes, vol) {
			s.finCtl.add("volumes/" + vol)
		}
		if bi := specString(obj, "backingImage"); bi != "" && deleting(s.backingImages, bi) {
			s.finCtl.add("backingimages/" + bi)
		}
	})
	s.replicas.AddEventHandler(instance)
	s.engines.AddEventHandler(instance)
}

func (s *sim) syncFinalizer(ctx context.Context, key string) (time.Duration, error) {
	resource, name, ok := strings.Cut(key, "/")
	if !ok {
		return 0, nil
	}
	var inf cache.SharedIndexInformer
	switch resource {
	case "volumes":
		inf = s.volumes
	case "volumeattachments":
		inf = s.lhvas
	case "backingimages":
		inf = s.backingImages
	default:
		return 0, nil
	}
	obj, exists, err := inf.GetStore().GetByKey(Namespace + "/" + name)
	if err != nil {
		return 0, err
	}
	if !exists {
		if resource == "volumes" {
			// A VolumeAttachment being deleted waits for its volume to go.
			s.finCtl.add("volumeattachments/" + name)
		}
		return 0, nil
	}
	u := obj.(*unstructured.Unstructured)
	if u.GetDeletionTimestamp() == nil || !slices.Contains(u.GetFinalizers(), longhornFinalizer) {
		return 0, nil
	}
	switch resource {
	case "volumes":
		left, err := s.deleteVolumeParts(ctx, name)
		if err != nil || left > 0 {
			// The parts' delete events bring the volume back.
			return 0, err
		}
	case "volumeattachments":
		vol, _, _ := unstructured.NestedString(u.Object, "spec", "volume")
		if vol == "" {
			vol = name
		}
		if _, ok, _ := s.volumes.GetStore().GetByKey(Namespace + "/" + vol); ok {
			return 0, nil
		}
	case "backingimages":
		if reps, _ := s.replicas.GetIndexer().ByIndex(byBackingImage, name); len(reps) > 0 {
			return 0, nil
		}
	}
	return 0, s.removeFinalizer(ctx, lhGVR(resource), u)
}

// deleteVolumeParts deletes a volume's engines, replicas and VolumeAttachment
// and returns how many engines and replicas the cache still shows.
func (s *sim) deleteVolumeParts(ctx context.Context, vol string) (left int, err error) {
	var errs []error
	del := func(gvr schema.GroupVersionResource, name string) {
		if err := s.dyn.Resource(gvr).Namespace(Namespace).Delete(ctx, name, metav1.DeleteOptions{}); err != nil && !apierrors.IsNotFound(err) {
			errs = append(errs, fmt.Errorf("delete %s %s of deleted volume %s: %w", gvr.Resource, name, vol, err))
		}
	}
	for _, part := range []struct {
		inf cache.SharedIndexInformer
		gvr schema.GroupVersionResource
	}{{s.engines, engineGVR}, {s.replicas, replicaGVR}} {
		objs, _ := part.inf.GetIndexer().ByIndex(byVolume, vol)
		for _, o := range objs {
			left++
			if m := o.(metav1.Object); m.GetDeletionTimestamp() == nil {
				del(part.gvr, m.GetName())
			}
		}
	}
	if va, ok, _ := s.lhvas.GetStore().GetByKey(Namespace + "/" + vol); ok && va.(metav1.Object).GetDeletionTimestamp() == nil {
		del(lhvaGVR, vol)
	}
	return left, errors.Join(errs...)
}

// removeFinalizer drops longhorn.io from an object's finalizers, guarded by
// its resourceVersion.
func (s *sim) removeFinalizer(ctx context.Context, gvr schema.GroupVersionResource, u *unstructured.Unstructured) error {
	fins := slices.DeleteFunc(slices.Clone(u.GetFinalizers()), func(f string) bool { return f == longhornFinalizer })
	body, err := json.Marshal(map[string]any{"metadata": map[string]any{"finalizers": fins, "resourceVersion": u.GetResourceVersion()}})
	if err != nil {
		return err
	}
	_, err = s.dyn.Resource(gvr).Namespace(Namespace).Patch(ctx, u.GetName(), types.MergePatchType, body, metav1.PatchOptions{FieldManager: fieldManager})
	if err != nil && !apierrors.IsNotFound(err) {
		return fmt.Errorf("remove finalizer %s of %s %s: %w", longhornFinalizer, gvr.Resource, u.GetName(), err)
	}
	return nil
}
