package longhornsim

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/rs/zerolog"
)

// TestSyncData: a creating volume gets its folder, which outlives a failed
// replica and goes when every replica has failed or the volume is deleted.
func TestSyncData(t *testing.T) {
	t.Parallel()
	root := t.TempDir()
	s := &sim{opts: Options{DataDir: root}, log: zerolog.Nop()}
	dir := filepath.Join(root, DriverName, "pvc-1")
	exists := func() bool { _, err := os.Stat(dir); return err == nil }
	replica := func(failed bool) *instance {
		r := &instance{}
		r.Spec.NodeID = "node-1"
		if failed {
			r.Spec.FailedAt = "2026-12-06T21:00:00Z"
		}
		return r
	}
	steps := []struct {
		state    string
		replicas []*instance
		want     bool
	}{
		{volStateAttached, nil, false}, // made only while creating
		{volStateCreating, []*instance{replica(false), replica(false)}, true},
		{volStateAttached, []*instance{replica(true), replica(false)}, true},
		{volStateDetached, []*instance{replica(true), replica(true)}, false},
		{volStateAttached, []*instance{replica(false)}, false}, // lost stays lost
	}
	for i, st := range steps {
		if i == 2 {
			if err := os.WriteFile(filepath.Join(dir, "file"), []byte("data"), 0o644); err != nil {
				t.Fatal(err)
			}
		}
		s.syncData("pvc-1", st.state, st.replicas)
		if exists() != st.want {
			t.Fatalf("step %d (%s): folder exists %v, want %v", i, st.state, exists(), st.want)
		}
	}
	// Every replica deleted, already gone from the cache: lost too.
	s.syncData("pvc-4", volStateCreating, []*instance{replica(false)})
	s.syncData("pvc-4", volStateAttached, nil)
	if _, err := os.Stat(filepath.Join(root, DriverName, "pvc-4")); err == nil {
		t.Error("a volume without replicas kept its data")
	}
	// A replica never placed holds nothing: it keeps the folder of a volume
	// none of whose replicas had a node, not of one whose placed replicas
	// all failed.
	unscheduled := &instance{}
	s.syncData("pvc-5", volStateCreating, []*instance{unscheduled})
	s.syncData("pvc-5", volStateDetached, []*instance{unscheduled})
	if _, err := os.Stat(filepath.Join(root, DriverName, "pvc-5")); err != nil {
		t.Error("a volume with only an unscheduled replica lost its folder")
	}
	s.syncData("pvc-5", volStateDetached, []*instance{unscheduled, replica(true)})
	if _, err := os.Stat(filepath.Join(root, DriverName, "pvc-5")); err == nil {
		t.Error("a volume whose placed replicas all failed kept its data")
	}
	s.syncData("pvc-2", volStateCreating, nil)
	s.dropData("pvc-2")
	if _, err := os.Stat(filepath.Join(root, DriverName, "pvc-2")); err == nil {
		t.Error("a deleted volume kept its data")
	}
	(&sim{log: zerolog.Nop()}).syncData("pvc-3", volStateCreating, nil) // no DataDir: nothing
}
