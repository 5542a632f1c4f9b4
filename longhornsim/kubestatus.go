package longhornsim

import (
	"sort"

	corev1 "k8s.io/api/core/v1"
)

// kubernetesStatusFor computes a volume's status.kubernetesStatus from the
// PV of the same name (the CSI driver names both after the claim), its claim
// and the pods using the claim; nil for a volume no PV ever used.
func (s *sim) kubernetesStatusFor(v *volume) *kubernetesStatus {
	var pv *corev1.PersistentVolume
	if p, err := s.pvs.Get(v.Name); err == nil && p.Spec.CSI != nil && p.Spec.CSI.VolumeHandle == v.Name {
		pv = p
	}
	var pods []*corev1.Pod
	if pv != nil && pv.Status.Phase == corev1.VolumeBound && pv.Spec.ClaimRef != nil {
		objs, _ := s.pods.GetIndexer().ByIndex(byClaim, pv.Spec.ClaimRef.Namespace+"/"+pv.Spec.ClaimRef.Name)
		for _, o := range objs {
			if p, ok := o.(*corev1.Pod); ok {
				pods = append(pods, p)
			}
		}
	}
	return nextKubernetesStatus(v.Status.KubernetesStatus, pv, pods, nowString())
}

// nextKubernetesStatus is longhorn-manager's KubernetesPVController
// (syncKubernetesStatus, setWorkloads, and the PV deletion handler in
// controller/kubernetes_pv_controller.go): the PV's name and phase, the
// bound claim, the pods using it with their owners; lastPVCRefAt and
// lastPodRefAt record when the claim and the last pod went away.
func nextKubernetesStatus(prev *kubernetesStatus, pv *corev1.PersistentVolume, pods []*corev1.Pod, now string) *kubernetesStatus {
	if pv == nil {
		if prev == nil || prev.PVName == "" {
			return prev
		}
		ks := *prev
		if ks.PVCName != "" && ks.LastPVCRefAt == "" {
			ks.LastPVCRefAt = now
		}
		if len(ks.WorkloadsStatus) != 0 && ks.LastPodRefAt == "" {
			ks.LastPodRefAt = now
		}
		ks.PVName, ks.PVStatus = "", ""
		return &ks
	}
	ks := kubernetesStatus{WorkloadsStatus: []workloadStatus{}}
	if prev != nil && prev.PVName == pv.Name {
		ks = *prev
		ks.WorkloadsStatus = append([]workloadStatus{}, prev.WorkloadsStatus...)
	}
	lastPVStatus := ks.PVStatus
	ks.PVName = pv.Name
	ks.PVStatus = string(pv.Status.Phase)
	switch {
	case pv.Spec.ClaimRef != nil && pv.Status.Phase == corev1.VolumeBound:
		ks.PVCName, ks.Namespace, ks.LastPVCRefAt = pv.Spec.ClaimRef.Name, pv.Spec.ClaimRef.Namespace, ""
	case (pv.Spec.ClaimRef != nil && lastPVStatus == string(corev1.VolumeBound) || pv.Spec.ClaimRef == nil && ks.PVCName != "") && ks.LastPVCRefAt == "":
		ks.LastPVCRefAt = now
		if len(ks.WorkloadsStatus) != 0 && ks.LastPodRefAt == "" {
			ks.LastPodRefAt = now
		}
	}
	if len(pods) == 0 {
		if len(ks.WorkloadsStatus) != 0 && ks.LastPodRefAt == "" {
			ks.LastPodRefAt = now
		}
		return &ks
	}
	sort.Slice(pods, func(i, j int) bool { return pods[i].Name < pods[j].Name })
	ks.WorkloadsStatus = ks.WorkloadsStatus[:0]
	ks.LastPodRefAt = ""
	for _, p := range pods {
		ws := workloadStatus{PodName: p.Name, PodStatus: string(p.Status.Phase)}
		for _, ref := range p.OwnerReferences {
			if ref.Name != "" && ref.Kind != "" {
				ws.WorkloadName, ws.WorkloadType = ref.Name, ref.Kind
				break
			}
		}
		ks.WorkloadsStatus = append(ks.WorkloadsStatus, ws)
	}
	return &ks
}

// kubernetesStatusEqual compares two statuses, a nil and an empty workload
// list alike.
func kubernetesStatusEqual(a, b *kubernetesStatus) bool {
	if a == nil || b == nil {
		return a == b
	}
	x, y := *a, *b
	if len(x.WorkloadsStatus) != len(y.WorkloadsStatus) {
		return false
	}
	for i := range x.WorkloadsStatus {
		if x.WorkloadsStatus[i] != y.WorkloadsStatus[i] {
			return false
		}
	}
	return x.PVName == y.PVName && x.PVStatus == y.PVStatus && x.Namespace == y.Namespace && x.PVCName == y.PVCName &&
		x.LastPVCRefAt == y.LastPVCRefAt && x.LastPodRefAt == y.LastPodRefAt
}
