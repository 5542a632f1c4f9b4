package longhornsim

import (
	"context"
	"reflect"
	"slices"
	"time"
)

// Default backing image facts: Longhorn's webhook fills minNumberOfCopies
// from the setting default-min-number-of-backing-image-copies (3; the
// simulator reads the setting live); the size is
// that of the parrot.qcow2 image the seed test downloads.
const (
	defaultMinNumberOfCopies = 3
	simulatedImageSize       = 34037760
	simulatedVirtualSize     = 32 << 20
)

// Backing image disk file states.
const (
	biStatePending    = "pending"
	biStateInProgress = "in-progress"
	biStateReady      = "ready"
)

// diskFileState is the simulated state of a backing image file on one disk
// after elapsed of a download taking total: pending for the first tenth, then
// in-progress with a growing progress, then ready.
func diskFileState(elapsed, total time.Duration) (state string, progress int) {
	switch {
	case elapsed >= total:
		return biStateReady, 100
	case elapsed < total/10:
		return biStatePending, 0
	default:
		return biStateInProgress, int(100 * elapsed / total)
	}
}

func (s *sim) backingImageStart(name string) time.Time {
	s.mu.Lock()
	defer s.mu.Unlock()
	t, ok := s.biStart[name]
	if !ok {
		t = time.Now()
		s.biStart[name] = t
	}
	return t
}

// syncBackingImage defaults spec.minNumberOfCopies and moves the image's
// file on each node's disk from pending through in-progress to ready.
func (s *sim) syncBackingImage(ctx context.Context, name string) (time.Duration, error) {
	bi, err := getLH[backingImage](s.backingImages, name)
	if err != nil || bi == nil {
		if bi == nil && err == nil {
			s.mu.Lock()
			delete(s.biStart, name)
			s.mu.Unlock()
		}
		return 0, err
	}
	if bi.DeletionTimestamp != nil {
		// The backing image controller drops Longhorn's finalizer (the
		// admission webhook adds it) once the files are cleaned up.
		if slices.Contains(bi.Finalizers, longhornFinalizer) {
			return 0, s.removeFinalizer(ctx, backingImageGVR, name, bi.Finalizers, bi.ResourceVersion)
		}
		return 0, nil
	}
	if bi.Spec.MinNumberOfCopies == 0 {
		n := s.settingInt(SettingDefaultMinNumberOfBackingImageCopies)
		if n < 1 {
			n = defaultMinNumberOfCopies
		}
		return 0, s.patch(ctx, backingImageGVR, name, map[string]any{"spec": map[string]any{"minNumberOfCopies": n}})
	}
	nodes := s.nodeNames()
	if len(nodes) == 0 {
		return time.Second, nil
	}
	elapsed := time.Since(s.backingImageStart(name))
	now := nowString()
	files := map[string]any{}
	allReady := true
	changed := false
	for _, n := range nodes {
		disk := diskUUID(n)
		prev := bi.Status.DiskFileStatusMap[disk]
		state, progress := diskFileState(elapsed, s.opts.DownloadTime)
		if prev != nil && prev.State == biStateReady {
			state, progress = biStateReady, 100
		}
		allReady = allReady && state == biStateReady
		ts := now
		if prev != nil && prev.State == state && prev.LastStateTransitionTime != "" {
			ts = prev.LastStateTransitionTime
		}
		want := &diskFileStatus{DataEngine: "v1", State: state, Progress: progress, Message: "", LastStateTransitionTime: ts}
		if prev == nil || !reflect.DeepEqual(*prev, *want) {
			changed = true
		}
		files[disk] = map[string]any{"dataEngine": "v1", "state": state, "progress": progress, "message": "", "lastStateTransitionTime": ts}
	}
	status := map[string]any{}
	if changed {
		status["diskFileStatusMap"] = files
	}
	if bi.Status.UUID == "" {
		status["uuid"] = backingImageUUID(string(bi.UID))
	}
	if bi.Status.OwnerID == "" {
		status["ownerID"] = nodes[0]
	}
	if allReady {
		sum := backingImageChecksum(bi.Spec.Checksum, name, bi.Spec.SourceParameters)
		if bi.Status.Checksum != sum {
			status["checksum"] = sum
		}
		if bi.Status.Size != simulatedImageSize {
			status["size"] = simulatedImageSize
			status["virtualSize"] = simulatedVirtualSize
			status["realSize"] = simulatedImageSize
		}
	}
	if len(status) > 0 {
		if err := s.patch(ctx, backingImageGVR, name, map[string]any{"status": status}, "status"); err != nil {
			return 0, err
		}
	}
	if !allReady {
		step := s.opts.DownloadTime / 5
		if step < 50*time.Millisecond {
			step = 50 * time.Millisecond
		}
		return step, nil
	}
	return 0, nil
}

// backingImageReadyOn reports whether a backing image exists and its file is
// ready on the disks of all the given nodes (any disk when nodes is empty).
func (s *sim) backingImageReadyOn(name string, nodes []string) (exists, ready bool) {
	bi, err := getLH[backingImage](s.backingImages, name)
	if err != nil || bi == nil {
		return false, false
	}
	if len(nodes) == 0 {
		for _, f := range bi.Status.DiskFileStatusMap {
			if f != nil && f.State == biStateReady {
				return true, true
			}
		}
		return true, false
	}
	for _, n := range nodes {
		f := bi.Status.DiskFileStatusMap[diskUUID(n)]
		if f == nil || f.State != biStateReady {
			return true, false
		}
	}
	return true, true
}
