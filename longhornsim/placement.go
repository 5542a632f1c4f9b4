package longhornsim

import (
	"hash/fnv"
	"sort"
)

// placeReplicas picks want distinct nodes for a volume's replicas, skipping
// nodes that already hold one (taken). It starts at a position derived from
// the volume name so volumes spread evenly over the nodes, and returns fewer
// nodes than asked when there are not enough (Longhorn's hard anti-affinity
// leaves the volume degraded then).
func placeReplicas(vol string, nodes []string, taken map[string]bool, want int) []string {
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
	return out
}
