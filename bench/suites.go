package bench

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"strings"

	"github.com/scenario-runner/runner/suite"
)

// Goals of the suites benchmark (issue 18).
const (
	GoalSuiteOwnMSPerPlan  = 10.0 // runner's CPU per small plan, serial
	GoalSuiteSpeedup       = 5.0  // --parallel 8 against serial, 200 small plans
	GoalSuiteListSeconds   = 1.0  // runner list over 1,000 plan files
	GoalSuiteMergeSeconds  = 2.0  // runner report merge of 500 report.json files
	GoalSuiteBalance       = 1.15 // largest shard / mean, skewed 100-plan suite
	SuiteBalancePlans      = 100
	SuiteBalanceSeedOffset = 42
)

// SuitesBench is the suites benchmark: many small plans in one invocation,
// serial and in parallel; list, merge; the shard partition's balance.
type SuitesBench struct {
	Plans    int        `json:"plans"`
	Parallel int        `json:"parallel"`
	Runs     []SuiteRun `json:"runs"`
	// ListFiles plan files listed in ListSeconds (wall, one process).
	ListFiles   int     `json:"listFiles"`
	ListSeconds float64 `json:"listSeconds"`
	ListExit    int     `json:"listExit"`
	// MergeReports report.json files merged in MergeSeconds.
	MergeReports int            `json:"mergeReports"`
	MergeSeconds float64        `json:"mergeSeconds"`
	MergeExit    int            `json:"mergeExit"`
	Balance      []BalanceShard `json:"balance"`
}

// SuiteRun is one invocation over the small plans.
type SuiteRun struct {
	Trial
	Parallel    int     `json:"parallel"`
	WallSeconds float64 `json:"wallSeconds"`
	// OwnMSPerPlan is runner's CPU time per plan: its own work, the
	// encoding and decoding of its requests included, the waiting for the
	// API server excluded.
	OwnMSPerPlan float64 `json:"ownMsPerPlan"`
	// Requests to the API server during the run, by verb (whole cluster).
	Requests map[string]float64 `json:"requests,omitempty"`
}

// BalanceShard compares, for one shard count, the largest shard's estimate
// against the mean: runner's longest-first packing and chainsaw's
// contiguous slices of discovery order.
type BalanceShard struct {
	Shards       int     `json:"shards"`
	LongestFirst float64 `json:"longestFirst"`
	Contiguous   float64 `json:"contiguous"`
}

// SmallPlan is the suites benchmark's plan i: apply a ConfigMap, wait for
// it, delete it.
func SmallPlan(ns string, i int) string {
	return fmt.Sprintf(`name: small-%04d
labels: {bench: suites}
steps:
  - apply:
      manifest: |
        apiVersion: v1
        kind: ConfigMap
        metadata: {name: "small-${{ runID }}", namespace: %s, labels: {bench: suites}}
        data: {state: ready}
  - waitFor:
      apiVersion: v1
      kind: ConfigMap
      namespace: %s
      name: "small-${{ runID }}"
      condition: object.data?.state == "ready"
  - delete: {apiVersion: v1, kind: ConfigMap, namespace: %s, name: "small-${{ runID }}"}
`, i, ns, ns, ns)
}

// SkewedSuite is a synthetic suite of n cells whose durations are skewed:
// a tenth long (10-20 min), listed first as one area's plans sort
// together, a quarter medium (2-4 min), the rest short (5-60 s).
func SkewedSuite(n int, seed uint64) ([]suite.Cell, suite.Timings) {
	r := rand.New(rand.NewPCG(seed, 1))
	var cells []suite.Cell
	t := suite.Timings{}
	for i := range n {
		c := suite.Cell{ID: fmt.Sprintf("plan-%03d", i)}
		d := 5 + r.Float64()*55
		switch {
		case i < n/10:
			d = 600 + r.Float64()*600
		case i%4 == 0:
			d = 120 + r.Float64()*120
		}
		t[c.ID] = []float64{d}
		cells = append(cells, c)
	}
	return cells, t
}

// Balance measures the largest shard against the mean for each count.
func Balance(cells []suite.Cell, t suite.Timings, counts []int) []BalanceShard {
	var out []BalanceShard
	for _, n := range counts {
		var total, largest, contiguous float64
		for _, s := range suite.Partition(cells, n, t.Seconds) {
			total += s.EstimateSeconds
			largest = max(largest, s.EstimateSeconds)
		}
		per := (len(cells) + n - 1) / n
		for i := 0; i < len(cells); i += per {
			var sum float64
			for _, c := range cells[i:min(i+per, len(cells))] {
				sum += t.Seconds(c)
			}
			contiguous = max(contiguous, sum)
		}
		mean := total / float64(n)
		out = append(out, BalanceShard{Shards: n, LongestFirst: round2(largest / mean), Contiguous: round2(contiguous / mean)})
	}
	return out
}

func round2(x float64) float64 { return float64(int(x*100+0.5)) / 100 }

// suitesSection renders the suites benchmark.
func suitesSection(b *strings.Builder, r *Results) {
	s := r.PlanSuite
	if s == nil {
		return
	}
	p := func(format string, a ...any) { fmt.Fprintf(b, format, a...) }
	p("### Suites: many plans in one invocation\n\n")
	p("%d small plans (apply a ConfigMap named by `runID`, wait for it, delete it) in one `runner` invocation over their folder, serially and with `--parallel %d`; runner's CPU per plan is its own time, the encoding and decoding of its requests included, the waiting for the API server not.\n\n", s.Plans, s.Parallel)
	p("| run | wall s | per plan | runner CPU per plan | requests (whole cluster) | exit |\n|---|---|---|---|---|---|\n")
	for _, run := range s.Runs {
		name := "serial"
		if run.Parallel > 1 {
			name = fmt.Sprintf("--parallel %d", run.Parallel)
		}
		p("| %s | %.1f | %.1f ms | %.1f ms | %s | %d |\n", name, run.WallSeconds, run.WallSeconds/float64(s.Plans)*1000, run.OwnMSPerPlan, verbs(run.Requests), run.Exit)
	}
	p("\n`runner list` over %d plan files: %.2f s (exit %d). `runner report merge` of %d report.json files: %.2f s (exit %d).\n\n", s.ListFiles, s.ListSeconds, s.ListExit, s.MergeReports, s.MergeSeconds, s.MergeExit)
	p("Shard balance on a skewed synthetic suite of %d plans (a tenth of 10–20 min listed first, a quarter of 2–4 min, the rest 5–60 s): the largest shard's estimate over the mean.\n\n", SuiteBalancePlans)
	p("| shards | runner (longest first, from timings) | contiguous slices of discovery order (chainsaw) |\n|---|---|---|\n")
	for _, x := range s.Balance {
		p("| %d | %.2f× | %.2f× |\n", x.Shards, x.LongestFirst, x.Contiguous)
	}
	p("\n")
}

// suitesGoals adds the suites goals to the goals table.
func suitesGoals(row func(goal, measured, status string), r *Results) {
	s := r.PlanSuite
	own := fmt.Sprintf("suites: runner's own time per small plan ≤ %.0f ms", GoalSuiteOwnMSPerPlan)
	speed := fmt.Sprintf("suites: 200 small plans, `--parallel 8` ≥ %.0f× serial", GoalSuiteSpeedup)
	list := fmt.Sprintf("suites: `runner list` over 1,000 plan files ≤ %.0f s", GoalSuiteListSeconds)
	merge := fmt.Sprintf("suites: merging 500 report.json files ≤ %.0f s", GoalSuiteMergeSeconds)
	bal := fmt.Sprintf("suites: largest shard ≤ %.2f× the mean, skewed 100-plan suite", GoalSuiteBalance)
	var serial, par *SuiteRun
	for i := range s.Runs {
		if s.Runs[i].Parallel <= 1 {
			serial = &s.Runs[i]
		} else {
			par = &s.Runs[i]
		}
	}
	if serial != nil {
		row(own, fmt.Sprintf("%.1f ms", serial.OwnMSPerPlan), yesNo(serial.OwnMSPerPlan <= GoalSuiteOwnMSPerPlan))
	}
	if serial != nil && par != nil && par.WallSeconds > 0 {
		x := serial.WallSeconds / par.WallSeconds
		row(speed, fmt.Sprintf("%.2f× (%.1f s → %.1f s)", x, serial.WallSeconds, par.WallSeconds), yesNo(x >= GoalSuiteSpeedup))
	}
	row(list, fmt.Sprintf("%.2f s", s.ListSeconds), yesNo(s.ListSeconds <= GoalSuiteListSeconds && s.ListExit == 0))
	row(merge, fmt.Sprintf("%.2f s", s.MergeSeconds), yesNo(s.MergeSeconds <= GoalSuiteMergeSeconds && s.MergeExit == 0))
	worst := 0.0
	for _, x := range s.Balance {
		worst = max(worst, x.LongestFirst)
	}
	row(bal, fmt.Sprintf("%.2f× at worst (contiguous slices: up to %.2f×)", worst, maxContiguous(s.Balance)), yesNo(worst <= GoalSuiteBalance))
}

func maxContiguous(b []BalanceShard) float64 {
	m := 0.0
	for _, x := range b {
		m = max(m, x.Contiguous)
	}
	return m
}

// SplitReport cuts a report.json into its header (everything before
// "plans", as text ending in a comma) and each plan's JSON, so that
// benchmarks can build many reports without knowing their shape.
func SplitReport(data []byte) (struct {
	Head  string
	Plans []string
}, error) {
	var out struct {
		Head  string
		Plans []string
	}
	var doc map[string]json.RawMessage
	if err := json.Unmarshal(data, &doc); err != nil {
		return out, err
	}
	var plans []json.RawMessage
	if err := json.Unmarshal(doc["plans"], &plans); err != nil {
		return out, err
	}
	delete(doc, "plans")
	head, err := json.Marshal(doc)
	if err != nil {
		return out, err
	}
	out.Head = strings.TrimSuffix(string(head), "}") + ","
	for _, p := range plans {
		var b bytes.Buffer
		if err := json.Indent(&b, p, "", "  "); err != nil {
			return out, err
		}
		out.Plans = append(out.Plans, b.String())
	}
	return out, nil
}
