package longhornsim

import (
	"context"
	"fmt"
	"strconv"
	"time"

	corev1 "k8s.io/api/core/v1"
	storagev1 "k8s.io/api/storage/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/tools/cache"
)

// Annotations the external provisioner and the PV controller use.
const (
	annProvisionedBy = "pv.kubernetes.io/provisioned-by"
	annSelectedNode  = "volume.kubernetes.io/selected-node"
)

// volumeSizeAlign is Longhorn's size granularity (util.RoundUpSize).
const volumeSizeAlign = 2 * 1024 * 1024

// roundUpSize rounds a size in bytes up to Longhorn's 2 MiB granularity.
func roundUpSize(size int64) int64 {
	if size <= 0 {
		return volumeSizeAlign
	}
	return (size + volumeSizeAlign - 1) / volumeSizeAlign * volumeSizeAlign
}

// syncClaim plays the CSI external provisioner with Longhorn's CreateVolume:
// a claim of a driver.longhorn.io class gets a Longhorn volume named
// pvc-<claim uid>, then, once the volume is created, a PV bound to the claim.
func (s *sim) syncClaim(ctx context.Context, key string) (time.Duration, error) {
	ns, name, err := cache.SplitMetaNamespaceKey(key)
	if err != nil {
		return 0, nil
	}
	pvc, err := s.pvcs.PersistentVolumeClaims(ns).Get(name)
	if apierrors.IsNotFound(err) {
		return 0, nil
	}
	if err != nil {
		return 0, err
	}
	if pvc.Spec.VolumeName != "" || pvc.DeletionTimestamp != nil || pvc.Spec.StorageClassName == nil {
		return 0, nil
	}
	sc, err := s.classes.Get(*pvc.Spec.StorageClassName)
	if err != nil {
		// The class may show up later: retry quietly.
		return 0, errRetry
	}
	if sc.Provisioner != DriverName {
		return 0, nil
	}
	if sc.VolumeBindingMode != nil && *sc.VolumeBindingMode == storagev1.VolumeBindingWaitForFirstConsumer && pvc.Annotations[annSelectedNode] == "" {
		return 0, nil
	}
	volName := volumeNameForClaim(string(pvc.UID))
	if _, err := s.pvs.Get(volName); err == nil {
		return 0, nil
	}

	if bi := sc.Parameters["backingImage"]; bi != "" {
		if exists, _ := s.backingImageReadyOn(bi, nil); !exists {
			s.recorder.Eventf(pvc, corev1.EventTypeWarning, "ProvisioningFailed",
				"failed to provision volume with StorageClass %q: rpc error: code = Internal desc = backing image %v not found", sc.Name, bi)
			return 0, errRetry
		}
	}

	vol, err := getLH[volume](s.volumes, volName)
	if err != nil {
		return 0, err
	}
	if vol == nil {
		s.recorder.Eventf(pvc, corev1.EventTypeNormal, "Provisioning", "External provisioner is provisioning volume for claim %q", key)
		s.watchVolumeFor(volName, key)
		if err := s.create(ctx, volumeGVR, newClaimVolume(volName, pvc, sc, int(s.settingInt(SettingDefaultReplicaCount)))); err != nil {
			return 0, err
		}
		return claimRecheck, nil
	}
	if vol.Status.State == "" || vol.Status.State == volStateCreating {
		// The volume's events bring the claim back; the recheck is a safety net.
		s.watchVolumeFor(volName, key)
		return claimRecheck, nil
	}
	s.unwatchVolume(volName)
	pv := newClaimPV(volName, pvc, sc)
	if _, err := s.kube.CoreV1().PersistentVolumes().Create(ctx, pv, metav1.CreateOptions{FieldManager: fieldManager}); err != nil && !apierrors.IsAlreadyExists(err) {
		return 0, fmt.Errorf("create PV %s for claim %s: %w", volName, key, err)
	}
	s.recorder.Eventf(pvc, corev1.EventTypeNormal, "ProvisioningSucceeded", "Successfully provisioned volume %s", volName)
	return 0, nil
}

// claimRecheck is how long a claim waiting for its volume waits at most
// before it is looked at again; normally the volume's events wake it first.
const claimRecheck = 5 * time.Second

// watchVolumeFor makes the volume's events enqueue the claim that waits for
// it (what Longhorn's CreateVolume does by waiting on the volume).
func (s *sim) watchVolumeFor(vol, claimKey string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.claimOf[vol] = claimKey
}

func (s *sim) unwatchVolume(vol string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.claimOf, vol)
}

// claimWaitingFor returns the key of the claim waiting for a volume.
func (s *sim) claimWaitingFor(vol string) (string, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	k, ok := s.claimOf[vol]
	return k, ok
}

func claimSize(pvc *corev1.PersistentVolumeClaim) int64 {
	q := pvc.Spec.Resources.Requests[corev1.ResourceStorage]
	return roundUpSize(q.Value())
}

// newClaimVolume is the Longhorn volume CreateVolume makes for a claim.
func newClaimVolume(name string, pvc *corev1.PersistentVolumeClaim, sc *storagev1.StorageClass, defaultReplicas int) map[string]any {
	replicas := defaultReplicas
	if n, err := strconv.Atoi(sc.Parameters["numberOfReplicas"]); err == nil && n > 0 {
		replicas = n
	}
	spec := map[string]any{
		"size":             strconv.FormatInt(claimSize(pvc), 10),
		"numberOfReplicas": replicas,
		"frontend":         "blockdev",
		"dataEngine":       "v1",
		"accessMode":       "rwo",
		"backingImage":     sc.Parameters["backingImage"],
		"fromBackup":       sc.Parameters["fromBackup"],
	}
	if n, err := strconv.Atoi(sc.Parameters["staleReplicaTimeout"]); err == nil {
		spec["staleReplicaTimeout"] = n
	}
	for _, m := range pvc.Spec.AccessModes {
		if m == corev1.ReadWriteMany {
			spec["accessMode"] = "rwx"
		}
	}
	return map[string]any{
		"apiVersion": "longhorn.io/v1beta2",
		"kind":       "Volume",
		"metadata":   map[string]any{"name": name, "namespace": Namespace, "finalizers": []any{longhornFinalizer}},
		"spec":       spec,
	}
}

// newClaimPV is the PV the external provisioner creates for a claim.
func newClaimPV(name string, pvc *corev1.PersistentVolumeClaim, sc *storagev1.StorageClass) *corev1.PersistentVolume {
	reclaim := corev1.PersistentVolumeReclaimDelete
	if sc.ReclaimPolicy != nil {
		reclaim = *sc.ReclaimPolicy
	}
	fsType := sc.Parameters["fsType"]
	if fsType == "" {
		fsType = "ext4"
	}
	attrs := map[string]string{}
	for k, v := range sc.Parameters {
		attrs[k] = v
	}
	return &corev1.PersistentVolume{
		ObjectMeta: metav1.ObjectMeta{
			Name:        name,
			Annotations: map[string]string{annProvisionedBy: DriverName},
		},
		Spec: corev1.PersistentVolumeSpec{
			Capacity:                      corev1.ResourceList{corev1.ResourceStorage: *resource.NewQuantity(claimSize(pvc), resource.BinarySI)},
			AccessModes:                   pvc.Spec.AccessModes,
			VolumeMode:                    pvc.Spec.VolumeMode,
			PersistentVolumeReclaimPolicy: reclaim,
			StorageClassName:              sc.Name,
			MountOptions:                  sc.MountOptions,
			ClaimRef: &corev1.ObjectReference{
				APIVersion: "v1", Kind: "PersistentVolumeClaim",
				Namespace: pvc.Namespace, Name: pvc.Name, UID: pvc.UID, ResourceVersion: pvc.ResourceVersion,
			},
			PersistentVolumeSource: corev1.PersistentVolumeSource{CSI: &corev1.CSIPersistentVolumeSource{
				Driver:           DriverName,
				VolumeHandle:     name,
				FSType:           fsType,
				VolumeAttributes: attrs,
			}},
		},
	}
}

// syncPV plays the external provisioner's deleter: a released Longhorn PV
// with reclaim policy Delete loses its Longhorn volume (whose replicas,
// engine and VolumeAttachment the garbage collector removes), then itself.
func (s *sim) syncPV(ctx context.Context, name string) (time.Duration, error) {
	pv, err := s.pvs.Get(name)
	if apierrors.IsNotFound(err) {
		return 0, nil
	}
	if err != nil {
		return 0, err
	}
	if pv.Spec.CSI == nil || pv.Spec.CSI.Driver != DriverName || pv.DeletionTimestamp != nil {
		return 0, nil
	}
	if pv.Status.Phase != corev1.VolumeReleased || pv.Spec.PersistentVolumeReclaimPolicy != corev1.PersistentVolumeReclaimDelete {
		return 0, nil
	}
	bg := metav1.DeletePropagationBackground
	err = s.dyn.Resource(volumeGVR).Namespace(Namespace).Delete(ctx, pv.Spec.CSI.VolumeHandle, metav1.DeleteOptions{PropagationPolicy: &bg})
	if err != nil && !apierrors.IsNotFound(err) {
		return 0, fmt.Errorf("delete volume %s of PV %s: %w", pv.Spec.CSI.VolumeHandle, name, err)
	}
	err = s.kube.CoreV1().PersistentVolumes().Delete(ctx, name, metav1.DeleteOptions{Preconditions: &metav1.Preconditions{UID: &pv.UID}})
	if err != nil && !apierrors.IsNotFound(err) {
		return 0, fmt.Errorf("delete PV %s: %w", name, err)
	}
	return 0, nil
}
