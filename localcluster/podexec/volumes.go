package podexec

import (
	"context"
	"crypto/sha256"
	"fmt"
	"os"
	"path/filepath"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// mount is a host folder bound at a path of the sandbox.
type mount struct {
	Source, Target string
	ReadOnly       bool
}

// sandboxUID and sandboxGID are nobody's: the user commands run as.
const sandboxUID, sandboxGID = 65534, 65534

// mounts resolves the container's volume mounts to host folders (see the
// package comment).
func (s *Server) mounts(ctx context.Context, pod *corev1.Pod, c *corev1.Container) ([]mount, error) {
	vols := map[string]*corev1.Volume{}
	for i := range pod.Spec.Volumes {
		vols[pod.Spec.Volumes[i].Name] = &pod.Spec.Volumes[i]
	}
	empty := filepath.Join(s.opts.StateDir, "empty")
	var out []mount
	for _, vm := range c.VolumeMounts {
		if !filepath.IsAbs(vm.MountPath) {
			continue
		}
		m := mount{Source: empty, Target: filepath.Clean(vm.MountPath), ReadOnly: true}
		if v := vols[vm.Name]; v != nil {
			src, err := s.volumeSource(ctx, pod, v)
			if err != nil {
				return nil, err
			}
			if src != "" {
				m.Source, m.ReadOnly = src, vm.ReadOnly
			}
		}
		if vm.SubPath != "" && m.Source != empty {
			if !filepath.IsLocal(vm.SubPath) {
				return nil, fmt.Errorf("volume mount %s: subPath %q leaves the volume", vm.Name, vm.SubPath)
			}
			m.Source = filepath.Join(m.Source, vm.SubPath)
			if err := ownedDir(m.Source); err != nil {
				return nil, err
			}
		}
		out = append(out, m)
	}
	return out, nil
}

// volumeSource is the host folder of v for pod, or "" when the pod may not
// read it (not attached, data lost, a kind that is not modelled).
func (s *Server) volumeSource(ctx context.Context, pod *corev1.Pod, v *corev1.Volume) (string, error) {
	switch {
	case v.EmptyDir != nil:
		if !safeName(string(pod.UID)) || !safeName(v.Name) {
			return "", nil
		}
		dir := filepath.Join(s.opts.StateDir, "pods", string(pod.UID), v.Name)
		return dir, ownedDir(dir)
	case v.PersistentVolumeClaim != nil:
		return s.claimSource(ctx, pod, v.PersistentVolumeClaim.ClaimName)
	}
	return "", nil
}

func (s *Server) claimSource(ctx context.Context, pod *corev1.Pod, claim string) (string, error) {
	pvc, err := s.client.CoreV1().PersistentVolumeClaims(pod.Namespace).Get(ctx, claim, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return "", nil
	}
	if err != nil {
		return "", fmt.Errorf("claim %s/%s: %w", pod.Namespace, claim, err)
	}
	if pvc.Spec.VolumeName == "" {
		return "", nil
	}
	pv, err := s.client.CoreV1().PersistentVolumes().Get(ctx, pvc.Spec.VolumeName, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return "", nil
	}
	if err != nil {
		return "", fmt.Errorf("volume %s: %w", pvc.Spec.VolumeName, err)
	}
	csi := pv.Spec.CSI
	if csi == nil || !safeName(csi.Driver) || !safeName(csi.VolumeHandle) {
		return "", nil
	}
	// The attach-detach controller's name for the attachment
	// (pkg/volume/csi/csi_attacher.go, getAttachmentName).
	va := fmt.Sprintf("csi-%x", sha256.Sum256([]byte(csi.VolumeHandle+csi.Driver+pod.Spec.NodeName)))
	att, err := s.client.StorageV1().VolumeAttachments().Get(ctx, va, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return "", nil
	}
	if err != nil {
		return "", fmt.Errorf("volume attachment %s: %w", va, err)
	}
	if !att.Status.Attached {
		return "", nil
	}
	dir := filepath.Join(s.opts.DataDir, csi.Driver, csi.VolumeHandle)
	if fi, err := os.Stat(dir); err != nil || !fi.IsDir() {
		return "", nil // the driver holds no data for it (lost, or never made)
	}
	return dir, os.Chown(dir, sandboxUID, sandboxGID)
}

// safeName reports whether s can be one element of a path.
func safeName(s string) bool {
	return s != "" && s != "." && s != ".." && filepath.Base(s) == s && filepath.IsLocal(s)
}

// ownedDir makes dir, writable by the sandbox's user.
func ownedDir(dir string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("podexec: %w", err)
	}
	if err := os.Chown(dir, sandboxUID, sandboxGID); err != nil {
		return fmt.Errorf("podexec: %w", err)
	}
	return nil
}
