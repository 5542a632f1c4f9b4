package suite

import (
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"testing"
	"time"

	"github.com/scenario-runner/runner/report"
)

func write(t *testing.T, dir string, files map[string]string) {
	t.Helper()
	for name, body := range files {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

func TestDiscover(t *testing.T) {
	dir := t.TempDir()
	write(t, dir, map[string]string{
		"b.yaml":                     "name: b\nsteps: [{sleep: 1s}]\n",
		"a.yml":                      "# yaml-language-server: $schema=x\nname: a\nsteps: []\n",
		"bi/workload.yaml":           "apiVersion: v1\nkind: ConfigMap\n",
		"bi/bi.yaml":                 "name: bi\nvars: {}\nsteps:\n  - sleep: 1s\n",
		"bi/values.yaml":             "replicas: 3\n",
		"broken.yaml":                "name: broken\nsteps:\n  - apply: {manifest: [\n",
		"broken-manifest.yaml":       "kind: [\n",
		"second-doc.yaml":            "kind: ConfigMap\n---\nsteps: []\n",
		"empty.yaml":                 "",
		"notes.txt":                  "steps: []\n",
		".hidden/plan.yaml":          "name: h\nsteps: []\n",
		"deep/er/c.yaml":             "{name: c, steps: []}\n",
		"list.yaml":                  "- steps: []\n",
		"deep/er/manifests/cm.yaml":  "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: steps}\n",
		"deep/er/manifests/cm2.yaml": "apiVersion: v1\ndata:\n  steps: x\n",
	})
	rel := func(ps []string) []string {
		var out []string
		for _, p := range ps {
			r, _ := filepath.Rel(dir, p)
			out = append(out, r)
		}
		return out
	}
	cases := []struct {
		name    string
		paths   []string
		plans   []string
		skipped int
	}{
		{"folder", []string{dir}, []string{"a.yml", "b.yaml", "bi/bi.yaml", "broken.yaml", "deep/er/c.yaml"}, 8},
		{"file given by name is a plan", []string{filepath.Join(dir, "bi/workload.yaml")}, []string{"bi/workload.yaml"}, 0},
		{"paths in the order given, each once", []string{filepath.Join(dir, "deep"), filepath.Join(dir, "b.yaml"), dir}, []string{"deep/er/c.yaml", "b.yaml", "a.yml", "bi/bi.yaml", "broken.yaml"}, 10},
		{"a hidden folder given is entered", []string{filepath.Join(dir, ".hidden")}, []string{".hidden/plan.yaml"}, 0},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			f, err := Discover(tc.paths)
			if err != nil {
				t.Fatal(err)
			}
			if got := rel(f.Plans); !reflect.DeepEqual(got, tc.plans) {
				t.Errorf("plans %q, want %q", got, tc.plans)
			}
			if len(f.Skipped) != tc.skipped {
				t.Errorf("skipped %q, want %d", rel(f.Skipped), tc.skipped)
			}
		})
	}
	if _, err := Discover([]string{filepath.Join(dir, "nope")}); err == nil {
		t.Error("a missing path is not an error")
	}
}

func TestSelect(t *testing.T) {
	cells := []Cell{
		{ID: "a", Labels: map[string]string{"tier": "nightly", "area": "volume"}},
		{ID: "b", Labels: map[string]string{"tier": "nightly", "area": "node", "slow": "true"}},
		{ID: "c", Labels: map[string]string{"tier": "pr", "area": "backing-image", "longhorn": ">=1.9"}},
		{ID: "d"},
	}
	cases := []struct {
		sel  string
		want []string
	}{
		{"", []string{"a", "b", "c", "d"}},
		{"tier=nightly", []string{"a", "b"}},
		{"tier=nightly,area in (volume,node),!slow", []string{"a"}},
		{"area notin (volume)", []string{"b", "c", "d"}},
		{"longhorn", []string{"c"}},
		{"tier!=nightly", []string{"c", "d"}},
	}
	for _, tc := range cases {
		sel, err := ParseSelector(tc.sel)
		if err != nil {
			t.Fatalf("%q: %v", tc.sel, err)
		}
		var got []string
		for _, c := range Select(cells, sel) {
			got = append(got, c.ID)
		}
		if !reflect.DeepEqual(got, tc.want) {
			t.Errorf("%q: got %q, want %q", tc.sel, got, tc.want)
		}
	}
	for _, bad := range []string{"tier in (", "tier==a==b", "!", "a b"} {
		if _, err := ParseSelector(bad); err == nil {
			t.Errorf("%q: no error", bad)
		}
	}
}

func TestParseShard(t *testing.T) {
	for s, want := range map[string]ShardRef{"1/1": {1, 1}, "2/4": {2, 4}} {
		got, err := ParseShard(s)
		if err != nil || got != want {
			t.Errorf("%q: %v %v", s, got, err)
		}
	}
	for _, bad := range []string{"0/3", "4/3", "1", "a/b", "1/0", "-1/2", ""} {
		if _, err := ParseShard(bad); err == nil {
			t.Errorf("%q: no error", bad)
		}
	}
}

// skewed is a synthetic suite: ten long cells listed first (one area's
// plans sort together), a quarter of medium ones and many short ones, with
// estimates in seconds.
func skewed(n int, seed uint64) ([]Cell, Timings) {
	r := rand.New(rand.NewPCG(seed, 1))
	var cells []Cell
	tm := Timings{}
	for i := range n {
		c := Cell{ID: fmt.Sprintf("plan-%03d", i)}
		d := 5 + r.Float64()*55 // 5s..1m
		switch {
		case i < n/10:
			d = 600 + r.Float64()*600 // 10..20m
		case i%4 == 0:
			d = 120 + r.Float64()*120
		}
		tm[c.ID] = []float64{d}
		cells = append(cells, c)
	}
	return cells, tm
}

func TestPartitionEveryCellOnce(t *testing.T) {
	cells, tm := skewed(23, 7)
	cells[5].ID, cells[6].ID = "same-estimate-b", "same-estimate-a"
	tm[cells[5].ID], tm[cells[6].ID] = []float64{30}, []float64{30}
	for n := 1; n <= len(cells)+1; n++ {
		shards := Partition(cells, n, tm.Seconds)
		if len(shards) != n {
			t.Fatalf("n=%d: %d shards", n, len(shards))
		}
		count := map[string]int{}
		for i, s := range shards {
			if s.Index != i+1 {
				t.Errorf("n=%d: shard %d has index %d", n, i+1, s.Index)
			}
			var sum float64
			for j, c := range s.Cells {
				count[c.ID]++
				sum += tm.Seconds(c)
				if j > 0 && slices.IndexFunc(cells, func(x Cell) bool { return x.ID == c.ID }) < slices.IndexFunc(cells, func(x Cell) bool { return x.ID == s.Cells[j-1].ID }) {
					t.Errorf("n=%d: shard %d is not in listing order", n, s.Index)
				}
			}
			if diff := sum - s.EstimateSeconds; diff > 1e-6 || diff < -1e-6 {
				t.Errorf("n=%d: shard %d estimate %v, cells sum to %v", n, s.Index, s.EstimateSeconds, sum)
			}
		}
		for _, c := range cells {
			if count[c.ID] != 1 {
				t.Errorf("n=%d: cell %s is in %d shards", n, c.ID, count[c.ID])
			}
		}
		// Deterministic: the same inputs, in another order of the map
		// iteration and a fresh call, give the same partition.
		again := Partition(slices.Clone(cells), n, Timings(cloneTimings(tm)).Seconds)
		if !reflect.DeepEqual(shards, again) {
			t.Errorf("n=%d: two partitions of the same input differ", n)
		}
	}
}

func cloneTimings(t Timings) Timings {
	out := Timings{}
	for k, v := range t {
		out[k] = slices.Clone(v)
	}
	return out
}

// TestPartitionBalance checks the balance on a skewed suite of 100 cells
// against chainsaw's contiguous slices of discovery order.
func TestPartitionBalance(t *testing.T) {
	for _, n := range []int{2, 3, 4, 8} {
		cells, tm := skewed(100, 42)
		shards := Partition(cells, n, tm.Seconds)
		var total, largest float64
		for _, s := range shards {
			total += s.EstimateSeconds
			largest = max(largest, s.EstimateSeconds)
		}
		mean := total / float64(n)
		// Contiguous slices, as chainsaw's --shard-index/--shard-count.
		var contiguous float64
		per := (len(cells) + n - 1) / n
		for i := 0; i < len(cells); i += per {
			var sum float64
			for _, c := range cells[i:min(i+per, len(cells))] {
				sum += tm.Seconds(c)
			}
			contiguous = max(contiguous, sum)
		}
		t.Logf("n=%d: largest shard %.3fx the mean (contiguous slices: %.3fx)", n, largest/mean, contiguous/mean)
		if largest > 1.15*mean {
			t.Errorf("n=%d: the largest shard is %.3fx the mean, want <= 1.15", n, largest/mean)
		}
	}
}

func TestEstimate(t *testing.T) {
	tm := TimingsFrom([]*report.Report{
		{Plans: []report.Plan{{ID: "a", Outcome: "passed", DurationSeconds: 10}, {ID: "b", Outcome: "interrupted", DurationSeconds: 1}}},
		{Plans: []report.Plan{{ID: "a", Outcome: "failed", DurationSeconds: 30}, {ID: "a", Outcome: "passed", DurationSeconds: 20, DryRun: true}}},
		{Plans: []report.Plan{{ID: "a", Outcome: "timed-out", DurationSeconds: 100}}},
	})
	cases := []struct {
		cell Cell
		want float64
		src  string
	}{
		{Cell{ID: "a"}, 30, "timings"},
		{Cell{ID: "b", Timeout: time.Minute}, 60, "timeout"},
		{Cell{ID: "c"}, DefaultEstimate.Seconds(), "default"},
	}
	for _, tc := range cases {
		got, src := tm.Estimate(tc.cell)
		if got != tc.want || src != tc.src {
			t.Errorf("%s: %v %s, want %v %s", tc.cell.ID, got, src, tc.want, tc.src)
		}
	}
}

func TestUnfinished(t *testing.T) {
	r := &report.Report{Plans: []report.Plan{
		{ID: "a", Outcome: "passed"}, {ID: "b", Outcome: "failed"}, {ID: "c", Outcome: "timed-out"},
		{ID: "d", Outcome: "interrupted"}, {ID: "e", Outcome: "skipped"},
	}}
	if got := Unfinished(r); !reflect.DeepEqual(got, map[string]bool{"b": true, "c": true, "d": true}) {
		t.Errorf("got %v", got)
	}
}

func TestPartitionParallel(t *testing.T) {
	cells, tm := skewed(17, 3)
	for p := 1; p <= 4; p++ {
		for n := 1; n <= len(cells)+1; n++ {
			shards := PartitionParallel(cells, n, p, tm.Seconds)
			seen := map[string]int{}
			for _, s := range shards {
				var sum, longest float64
				for _, c := range s.Cells {
					seen[c.ID]++
					sum += tm.Seconds(c)
					longest = max(longest, tm.Seconds(c))
				}
				if s.EstimateSeconds > sum+1e-9 || s.EstimateSeconds < longest-1e-9 || (p == 1 && math.Abs(s.EstimateSeconds-sum) > 1e-9) {
					t.Errorf("p=%d n=%d shard %d: estimate %v, cells sum %v, longest %v", p, n, s.Index, s.EstimateSeconds, sum, longest)
				}
			}
			if len(seen) != len(cells) {
				t.Errorf("p=%d n=%d: %d of %d cells", p, n, len(seen), len(cells))
			}
			for id, k := range seen {
				if k != 1 {
					t.Errorf("p=%d n=%d: %s in %d shards", p, n, id, k)
				}
			}
			if !reflect.DeepEqual(shards, PartitionParallel(cells, n, p, tm.Seconds)) {
				t.Errorf("p=%d n=%d: not deterministic", p, n)
			}
		}
	}
	order := LongestFirst(cells, tm.Seconds)
	for i := 1; i < len(order); i++ {
		if tm.Seconds(cells[order[i]]) > tm.Seconds(cells[order[i-1]]) {
			t.Fatalf("LongestFirst: %v", order)
		}
	}
}
