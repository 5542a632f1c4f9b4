package longhornsim

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"time"

	storagev1 "k8s.io/api/storage/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
)

// attacherFinalizer is the finalizer the CSI external attacher puts on the
// VolumeAttachments it handles.
const attacherFinalizer = "external-attacher/driver-longhorn-io"

// syncCSIAttachment plays the CSI external attacher with Longhorn's
// ControllerPublishVolume/ControllerUnpublishVolume: attaching adds a
// csi-attacher ticket to the volume's longhorn.io VolumeAttachment and marks
// the storage VolumeAttachment attached once the ticket is satisfied;
// detaching removes the ticket and, once the volume left the node, the
// finalizer.
func (s *sim) syncCSIAttachment(ctx context.Context, name string) (time.Duration, error) {
	obj, ok, err := s.csiVAs.GetStore().GetByKey(name)
	if err != nil || !ok {
		return 0, err
	}
	va := obj.(*storagev1.VolumeAttachment)
	if va.Spec.Attacher != DriverName || va.Spec.Source.PersistentVolumeName == nil {
		return 0, nil
	}
	volName := *va.Spec.Source.PersistentVolumeName
	if pv, err := s.pvs.Get(volName); err == nil && pv.Spec.CSI != nil {
		volName = pv.Spec.CSI.VolumeHandle
	}
	node := va.Spec.NodeName
	id := csiTicketID(volName, node)
	lhva, err := getLH[lhVolumeAttachment](s.lhvas, volName)
	if err != nil {
		return 0, err
	}

	if va.DeletionTimestamp == nil {
		if !slices.Contains(va.Finalizers, attacherFinalizer) {
			return 0, s.setFinalizers(ctx, va, append(slices.Clone(va.Finalizers), attacherFinalizer))
		}
		if lhva == nil {
			// The volume or its VolumeAttachment does not exist yet; the
			// lhva informer brings this key back when it appears.
			return 0, nil
		}
		if t := lhva.Spec.AttachmentTickets[id]; t == nil || t.NodeID != node {
			ticket := map[string]any{"id": id, "type": AttacherTypeCSIAttacher, "nodeID": node,
				"parameters": map[string]any{"disableFrontend": "false", "lastAttachedBy": ""}, "generation": 0}
			if t != nil {
				ticket["generation"] = t.Generation + 1
			}
			return 0, s.patch(ctx, lhvaGVR, volName, map[string]any{"spec": map[string]any{"attachmentTickets": map[string]any{id: ticket}}})
		}
		if ticketSatisfied(id, lhva) && !va.Status.Attached {
			return 0, s.setAttached(ctx, va, true)
		}
		return 0, nil
	}

	// Detach.
	if lhva != nil {
		if _, ok := lhva.Spec.AttachmentTickets[id]; ok {
			return 0, s.patch(ctx, lhvaGVR, volName, map[string]any{"spec": map[string]any{"attachmentTickets": map[string]any{id: nil}}})
		}
	}
	if vol, err := getLH[volume](s.volumes, volName); err == nil && vol != nil && vol.Status.CurrentNodeID == node &&
		vol.Status.State != volStateDetached && lhva != nil && desiredNode(lhva.Spec.AttachmentTickets, vol.Spec.NodeID) != node {
		// Still attached there; volume events bring this key back.
		return 0, nil
	}
	if slices.Contains(va.Finalizers, attacherFinalizer) {
		return 0, s.setFinalizers(ctx, va, slices.DeleteFunc(slices.Clone(va.Finalizers), func(f string) bool { return f == attacherFinalizer }))
	}
	return 0, nil
}

func (s *sim) setFinalizers(ctx context.Context, va *storagev1.VolumeAttachment, finalizers []string) error {
	body, err := json.Marshal(map[string]any{"metadata": map[string]any{"finalizers": finalizers, "resourceVersion": va.ResourceVersion}})
	if err != nil {
		return fmt.Errorf("marshal finalizers: %w", err)
	}
	_, err = s.kube.StorageV1().VolumeAttachments().Patch(ctx, va.Name, types.MergePatchType, body, metav1.PatchOptions{FieldManager: fieldManager})
	if err != nil && !apierrors.IsNotFound(err) {
		return fmt.Errorf("set finalizers of VolumeAttachment %s: %w", va.Name, err)
	}
	return nil
}

func (s *sim) setAttached(ctx context.Context, va *storagev1.VolumeAttachment, attached bool) error {
	body, err := json.Marshal(map[string]any{"status": map[string]any{"attached": attached}})
	if err != nil {
		return fmt.Errorf("marshal attach status: %w", err)
	}
	_, err = s.kube.StorageV1().VolumeAttachments().Patch(ctx, va.Name, types.MergePatchType, body, metav1.PatchOptions{FieldManager: fieldManager}, "status")
	if err != nil && !apierrors.IsNotFound(err) {
		return fmt.Errorf("mark VolumeAttachment %s attached=%v: %w", va.Name, attached, err)
	}
	return nil
}
