package suite

import (
	"cmp"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"k8s.io/apimachinery/pkg/labels"
)

// Cell is one plan run with one combination of its matrix values: what
// list prints and what a shard runs.
type Cell struct {
	// ID is the plan's name with the cell's values:
	// bi-scalability[replicas=25].
	ID string `json:"id"`
	// Plan is the plan's file.
	Plan   string            `json:"plan"`
	Name   string            `json:"name"`
	Labels map[string]string `json:"labels"`
	// Vars are the cell's matrix values (empty for a plan without a matrix).
	Vars  map[string]any `json:"vars"`
	Locks []string       `json:"locks,omitempty"`
	// Timeout is the plan's timeout (0: none), an estimate of last resort.
	Timeout time.Duration `json:"-"`
}

// ParseSelector parses a label selector in Kubernetes syntax
// (tier=nightly,area in (volume,node),!slow). An empty one matches all.
func ParseSelector(s string) (labels.Selector, error) {
	sel, err := labels.Parse(s)
	if err != nil {
		return nil, fmt.Errorf("selector %q: %w", s, err)
	}
	return sel, nil
}

// Select returns the cells whose labels sel matches, in order.
func Select(cells []Cell, sel labels.Selector) []Cell {
	if sel == nil || sel.Empty() {
		return cells
	}
	var out []Cell
	for _, c := range cells {
		if sel.Matches(labels.Set(c.Labels)) {
			out = append(out, c)
		}
	}
	return out
}

// Only returns the cells whose ids are in ids, in order.
func Only(cells []Cell, ids map[string]bool) []Cell {
	var out []Cell
	for _, c := range cells {
		if ids[c.ID] {
			out = append(out, c)
		}
	}
	return out
}

// ShardRef is one shard of a partition, as --shard I/N names it.
type ShardRef struct{ Index, Count int }

func (s ShardRef) String() string { return fmt.Sprintf("%d/%d", s.Index, s.Count) }

// ParseShard reads I/N with 1 <= I <= N.
func ParseShard(s string) (ShardRef, error) {
	a, b, ok := strings.Cut(s, "/")
	i, err1 := strconv.Atoi(a)
	n, err2 := strconv.Atoi(b)
	if !ok || err1 != nil || err2 != nil || n < 1 || i < 1 || i > n {
		return ShardRef{}, fmt.Errorf("shard %q: expected I/N with 1 <= I <= N, e.g. 2/4", s)
	}
	return ShardRef{Index: i, Count: n}, nil
}

// Shard is one part of a partition: its number (1..N), its cells in the
// order they were listed, and the sum of their estimates.
type Shard struct {
	Index           int     `json:"shard"`
	Cells           []Cell  `json:"cells"`
	EstimateSeconds float64 `json:"estimateSeconds"`
}

// Partition packs cells into n shards so that they end together: longest
// estimate first, each into the shard with the least estimated time so far
// (ties: the lower shard; equal estimates: the lower id first). It is a
// pure function of the cells and estimates: every CI job of a matrix
// computes the same partition. Every cell is in exactly one shard; with
// more shards than cells some are empty. Within a shard cells keep the
// order they were given in.
func Partition(cells []Cell, n int, estimate func(Cell) float64) []Shard {
	return PartitionParallel(cells, n, 1, estimate)
}

// PartitionParallel is Partition for shards that each run p cells at once
// (runner --parallel p): a shard is p lanes, each cell goes, longest first,
// into the lane with the least estimated time so far, and a shard's
// estimate is its longest lane. With p = 1 it is Partition.
func PartitionParallel(cells []Cell, n, p int, estimate func(Cell) float64) []Shard {
	if n < 1 {
		n = 1
	}
	if p < 1 {
		p = 1
	}
	order := make([]int, len(cells))
	est := make([]float64, len(cells))
	for i, c := range cells {
		order[i], est[i] = i, estimate(c)
	}
	slices.SortStableFunc(order, func(a, b int) int {
		if c := cmp.Compare(est[b], est[a]); c != 0 {
			return c
		}
		return cmp.Compare(cells[a].ID, cells[b].ID)
	})
	lanes := make([]float64, n*p) // lane l belongs to shard l/p
	members := make([][]int, n)
	for _, ci := range order {
		best := 0
		for l := 1; l < len(lanes); l++ {
			if lanes[l] < lanes[best] {
				best = l
			}
		}
		lanes[best] += est[ci]
		members[best/p] = append(members[best/p], ci)
	}
	shards := make([]Shard, n)
	for s := range shards {
		shards[s].Index = s + 1
		shards[s].EstimateSeconds = slices.Max(lanes[s*p : (s+1)*p])
		slices.Sort(members[s])
		shards[s].Cells = []Cell{}
		for _, ci := range members[s] {
			shards[s].Cells = append(shards[s].Cells, cells[ci])
		}
	}
	return shards
}

// LongestFirst returns the indexes of cells ordered by estimate, longest
// first (ties keep their order): the order in which a parallel run starts
// them, so that a long cell does not start last.
func LongestFirst(cells []Cell, estimate func(Cell) float64) []int {
	order := make([]int, len(cells))
	for i := range order {
		order[i] = i
	}
	slices.SortStableFunc(order, func(a, b int) int { return cmp.Compare(estimate(cells[b]), estimate(cells[a])) })
	return order
}
