package longhornsim

import (
	"hash/fnv"
	"sort"
)

// placeReplicas picks nodes for want replicas of a volume among the
// schedulable nodes, skipping nodes that already hold one (taken). It starts
// at a position derived from the volume name so volumes spread evenly over
// the nodes. It returns fewer nodes than asked when there are not enough:
// with replica-soft-anti-affinity false (Longhorn's default) the replicas of
// a volume go to distinct nodes, and the rest stay unscheduled. With soft
// anti-affinity the rest go to nodes that already hold one, in the same
// order. This is the part of longhorn-manager's
// scheduler/replica_scheduler.go (FindDiskCandidates → getDiskCandidates)
// that matters for nodes with one disk each and no zones: unused nodes
// first, used ones only when nodeSoftAntiAffinity is true (zone soft
// anti-affinity and disk soft anti-affinity are Longhorn's defaults, true).
func placeReplicas(vol string, nodes []string, taken map[string]bool, want int, soft bool) []string {
	if want <= 0 || len(nodes) == 0 {
		return nil
	}
	sorted := append([]string(nil), nodes...)
	sort.Strings(sorted)
	h := fnv.New32a()
	_, _ = h.Write([]byte(vol))
	start := int(h.Sum32() % uint32(len(sorted)))
	var out []string
	for i := 0; i < len(sorted) && len(out) < want; i++ {
		n := sorted[(start+i)%len(sorted)]
		if taken[n] {
			continue
		}
		out = append(out, n)
	}
	for i := 0; soft && len(out) < want; i++ {
		out = append(out, sorted[(start+i)%len(sorted)])
	}
	return out
}
