package longhornsim

import (
	"os"
	"path/filepath"
)

// Volume data. Longhorn replicates a block device; the simulator keeps a
// volume's files in one folder, <DataDir>/driver.longhorn.io/<volume>/,
// which the local cluster's exec endpoint (localcluster/podexec) binds at
// the mount path of a pod that uses the volume while the volume is attached
// to the pod's node. The folder is made with the volume, outlives pods,
// node failures and rebuilds as long as one replica has not failed (a
// rebuilt replica copies the data, as Longhorn's rebuild does), and is
// removed when every replica has failed (the volume is faulted: its data is
// lost, reads fail) and when the volume is deleted. A replica without a node
// (unscheduled) holds no data: it keeps the folder only of a volume none of
// whose replicas was ever placed, which has no data yet.

// dataDir is the folder of vol's files; "" when volumes keep no data.
func (s *sim) dataDir(vol string) string {
	if s.opts.DataDir == "" {
		return ""
	}
	return filepath.Join(s.opts.DataDir, DriverName, vol)
}

// syncData makes a creating volume's folder and removes it once no replica
// of the volume that holds data is left that has not failed.
func (s *sim) syncData(vol, state string, replicas []*instance) {
	dir := s.dataDir(vol)
	if dir == "" {
		return
	}
	switch {
	case state == volStateCreating:
		if err := os.MkdirAll(dir, 0o755); err != nil {
			s.log.Error().Err(err).Str("volume", vol).Msg("cannot make the volume's data folder")
		}
	case dataLost(replicas):
		// Every replica failed or was deleted (a deleted one may already be
		// gone from the cache): the volume is faulted, its data lost.
		if _, err := os.Stat(dir); err == nil {
			s.log.Info().Str("volume", vol).Msg("every replica failed: the volume's data is lost")
			s.dropData(vol)
		}
	}
}

// dropData removes vol's files (a deleted volume, a faulted one).
func (s *sim) dropData(vol string) {
	if dir := s.dataDir(vol); dir != "" {
		if err := os.RemoveAll(dir); err != nil {
			s.log.Error().Err(err).Str("volume", vol).Msg("cannot remove the volume's data")
		}
	}
}

// dataLost reports whether no replica that has not failed holds the
// volume's data: none on a node is usable, unless no replica was ever placed
// on a node and an unscheduled one waits (nothing was written yet).
func dataLost(replicas []*instance) bool {
	usable := usableReplicas(replicas)
	if len(scheduledReplicas(usable)) > 0 {
		return false
	}
	return len(usable) == 0 || len(scheduledReplicas(replicas)) > 0
}
