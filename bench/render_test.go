package bench

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func sampleResults() *Results {
	start := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	r := &Results{Date: "2026-01-02", Start: start, End: start.Add(30 * time.Minute), Versions: map[string]string{"runner": "dev"},
		Settings: Settings{Rounds: 2, ChainsawApplyRounds: 1, Parallel: 16, Burst: 400}}
	set := ApplySet{Workload: "configmaps", Objects: 2000, Tools: []string{ToolRunnerDefaults, ToolApplyLoop, "runner, no QPS limit", ToolKubectl}}
	for round, times := range [][4]float64{{2, 1.9, 2.1, 8}, {2.2, 2.2, 2, 8.8}} {
		for i, tool := range set.Tools {
			set.Trials = append(set.Trials, ApplyTrial{Trial: Trial{Round: round + 1, Tool: tool, OK: true}, Seconds: times[i], Requests: map[string]float64{"APPLY": 2000}})
		}
	}
	r.Apply = []ApplySet{set}
	size := WaitSize{Objects: 250, Tools: []string{ToolRunnerWait, ToolChainsawWait}}
	for i := 1; i <= 3; i++ {
		size.Trials = append(size.Trials,
			WaitTrial{Trial: Trial{Round: i, Tool: ToolRunnerWait, OK: true}, LatencyMS: float64(i)},
			WaitTrial{Trial: Trial{Round: i, Tool: ToolChainsawWait, OK: true}, LatencyMS: float64(50 * i)})
	}
	r.Wait = &WaitSuite{Sizes: []WaitSize{size}, Checks: []CorrectnessCheck{{Tool: ToolChainsawWait, Case: "no object has the label", Detail: "reported done after 0.2 s"}}}
	r.APILoad = &APILoadSuite{Objects: 2500, Seconds: 60, Runs: []APILoadRun{{Tool: ToolRunnerWait, Target: map[string]float64{"WATCH": 1}, Own: map[string]float64{"GET /api": 1, "WATCH configmaps": 1}}}}
	r.Memory = &MemorySuite{Objects: 10000, Runs: []MemoryRun{{Trial: Trial{Round: 1, Tool: ToolRunnerWait, OK: true}, MaxRSSMB: 80}}}
	r.Large = sampleLarge(100000)
	r.Seed = []SeedRun{
		{Replicas: 25, Volumes: 250, Outcome: "passed", Seconds: 40, CPU: 0.8, Phases: []Phase{{Name: "a | b", Seconds: 1}}},
		{Replicas: 250, Volumes: 2500, Outcome: "passed", Seconds: 80, CPU: 2, Phases: []Phase{{Name: "a | b", Seconds: 50}, {Name: "cleanup", Seconds: 20}}},
		{Replicas: 1000, Volumes: 10000, Outcome: "failed: exit code 1", Exit: 1, Seconds: 1500, CPU: 30},
	}
	return r
}

// sampleLarge is a large suite at n objects: runner in two rounds,
// chainsaw in one, a wait on none and on all in each.
func sampleLarge(n int) *LargeSuite {
	l := &LargeSuite{Objects: n, Tail: 100, CreateSeconds: 95, DeleteSeconds: 70, MemorySeconds: 45, EmptySeconds: 15,
		NotRun: map[string]string{ToolKubectlWait: "not run: it takes hours"}}
	mem := func(tool string, round, objects int, mb, listed float64) LargeMemoryRun {
		return LargeMemoryRun{MemoryRun: MemoryRun{Trial: Trial{Round: round, Tool: tool, OK: true, CPU: 2}, MaxRSSMB: mb}, Objects: objects, ListedSeconds: listed}
	}
	l.Memory = []LargeMemoryRun{
		mem(ToolRunnerWait, 1, 0, 50, 0), mem(ToolRunnerWait, 1, n, 140, 30.5),
		mem(ToolChainsawWait, 1, 1, 60, 0), mem(ToolChainsawWait, 1, n, 1500, 0),
		mem(ToolRunnerWait, 2, 0, 49, 0), mem(ToolRunnerWait, 2, n, 134, 30.1),
	}
	l.Latency = WaitSize{Objects: n, Tools: []string{ToolRunnerWait, ToolChainsawWait}}
	for i, ms := range []float64{10, 20, 30} {
		l.Latency.Trials = append(l.Latency.Trials, WaitTrial{Trial: Trial{Round: i + 1, Tool: ToolRunnerWait, OK: true}, LatencyMS: ms, FlipMS: 60, SettleMS: 30500})
	}
	l.Latency.Trials = append(l.Latency.Trials, WaitTrial{Trial: Trial{Round: 1, Tool: ToolChainsawWait, OK: true}, LatencyMS: 5000, FlipMS: 60, SettleMS: 51000})
	l.Checks = []CorrectnessCheck{
		{Tool: ToolRunnerWait, Case: "1 of 100000 objects not done", Correct: true, Exit: 1, Detail: "failed after 45.0 s (exit 1)"},
		{Tool: ToolRunnerWait, Case: "no object has the label", Correct: false, Inconclusive: true, Detail: "failed after 5.0 s (exit 1) before its log showed all"},
	}
	return l
}

func TestMarkdown(t *testing.T) {
	md := Markdown(sampleResults(), "bench/results/2026-01-02.json")
	for _, want := range []string{
		// Goals of issue 12, from runner at its defaults, per round.
		"| apply 2,000 ConfigMaps: runner (defaults) ≥ 3× `kubectl apply` (client-side) | 4.00× (median of rounds 4.00 4.00) | **met** |",
		"| apply 2,000 ConfigMaps: runner (defaults) ≥ 0.95× the client-go server-side apply loop, no client limit | 0.97× (median of rounds 0.95 1.00) | **met** |",
		"| waitFor on 100,000 ConfigMaps: peak RSS ≤ 200 MB | 140 MB (worst of 2 rounds; median 137) | **met** |",
		"| waitFor on 100,000 ConfigMaps: ≤ 1 KB/object beyond the empty process | 900 bytes/object (worst of 2 rounds; median 875) | **met** |",
		"| detection latency at 100,000 objects: runner p50 ≤ 50 ms | 20.0 ms (3 trials; the last 100 objects change) | **met** |",
		"| detection latency at 100,000 objects: runner p99 ≤ 200 ms | 30.0 ms (nearest rank of 3 trials: the maximum) | **met** |",
		"| seed scenario, 2,500 volumes: ≤ 90 s wall | 80 s, the process (of which runner's cleanup 20 s) | **met** |",
		"| seed scenario, 2,500 volumes: runner CPU ≤ 3% of wall time | 2.50% (2.0 CPU s in 1m20s) | **met** |",
		"| seed scenario, 10,000 volumes: completes | failed: exit code 1 in 25m00s | **missed** |",
		"| API load (issue 7): runner ≤ 5 requests per target | 1 to configmaps in 0 s (audit log); 2 in all with discovery | **met** |",
		// The apply table compares with runner at its defaults.
		"| kubectl apply | 8.40 | 238 | 10% | 8.00–8.80 | 4.00 (4.00 4.00) |",
		"| runner, no QPS limit | 2.05 | 976 | 5% | 2.00–2.10 | 0.98 (1.05 0.91) |",
		// The wait suite.
		"| chainsaw error | 3 | 100 | 150 | 50.0–150 | 50× (50–50) |",
		"**wrong**: reported done after 0.2 s",
		"| runner waitFor | 80 | 80 | 0.0 | 0 |",
		"| a \\| b | 1.00 | 50.00 | — |",
		// The large suite.
		"### 6. Waits on 100,000 objects",
		"`kubectl wait` is not run: it takes hours.",
		"| runner waitFor | 0 | 50 49 | 50 | — | — | 2.0 | 0 of 2 |",
		"| runner waitFor | 100,000 | 140 134 | 137 | 900 850 | 30.3 | 2.0 | 0 of 2 |",
		"| chainsaw error | 1 | 60 | 60 | — | — | 2.0 | 0 of 1 |",
		"| chainsaw error | 100,000 | 1500 | 1500 | 14400 | — | 2.0 | 0 of 1 |",
		"runner waitFor is given until its log says it holds all 100,000 objects, 30.5 s median; chainsaw error is given a fixed 1 s + 0.5 ms per object",
		"| runner waitFor | correct: failed after 45.0 s (exit 1) | **inconclusive**: failed after 5.0 s",
		"| runner waitFor | 3 | 20.0 | 30.0 | 10.0–30.0 | — | — | 60 | 0 |",
		"| chainsaw error | 1 | 5000 | 5000 | 5000–5000 | 500× (500–500) |",
	} {
		if !strings.Contains(md, want) {
			t.Errorf("missing %q in:\n%s", want, md)
		}
	}
	if !strings.Contains(md, "2 rounds (chainsaw in the first 1 only") {
		t.Errorf("the rounds are not described:\n%s", md)
	}
	if strings.Contains(md, "QPS 0") {
		t.Errorf("the fixed-limit pair is described although it did not run:\n%s", md)
	}
}

// A goal measured at another size than its own is not judged; one not
// measured says so.
func TestGoalsAtOtherSizes(t *testing.T) {
	r := sampleResults()
	r.Large = sampleLarge(3000)
	r.Apply[0].Objects = 500
	r.Seed = r.Seed[:1]
	r.APILoad = nil
	r.Settings.Rounds, r.Settings.ChainsawApplyRounds = 1, 0
	r.Apply[0].Tools = append(r.Apply[0].Tools, "chainsaw apply")
	md := Markdown(r, "x.json")
	for _, want := range []string{
		"| waitFor on 100,000 ConfigMaps: peak RSS ≤ 200 MB | 140 MB (worst of 2 rounds; median 137) | n/a: run at 3,000 objects |",
		"| detection latency at 100,000 objects: runner p50 ≤ 50 ms | 20.0 ms (3 trials; the last 100 objects change) | n/a: run at 3,000 objects |",
		"| apply 2,000 ConfigMaps: runner (defaults) ≥ 3× `kubectl apply` (client-side) | 4.00× (median of rounds 4.00 4.00) | n/a: run at 500 ConfigMaps |",
		"| seed scenario, 2,500 volumes: ≤ 90 s wall | — | not measured |",
		"| seed scenario, 10,000 volumes: completes | — | not measured |",
		"### 6. Waits on 3,000 objects",
		"1 round (chainsaw not run).",
		"| chainsaw apply | — | — | — | — | — | — | — | not run |",
	} {
		if !strings.Contains(md, want) {
			t.Errorf("missing %q in:\n%s", want, md)
		}
	}
	if strings.Contains(md, "API load (issue 7)") {
		t.Error("the API load goal is shown without the suite")
	}
	r = &Results{}
	md = Markdown(r, "x.json")
	if got := strings.Count(md, "| — | not measured |"); got != 9 {
		t.Errorf("%d goals not measured in an empty run, want 9:\n%s", got, md)
	}
	if strings.Contains(md, "### 6.") {
		t.Error("the large suite is rendered without results")
	}
}

func TestThousands(t *testing.T) {
	for n, want := range map[int]string{0: "0", 999: "999", 1000: "1,000", 100000: "100,000", 1234567: "1,234,567", -2500: "-2,500"} {
		if got := Thousands(n); got != want {
			t.Errorf("Thousands(%d) = %q, want %q", n, got, want)
		}
	}
}

// The old results' apply rows ("runner" at the then default limit) still
// compare with their own runner.
func TestRefRunnerOldResults(t *testing.T) {
	old := ApplySet{Tools: []string{"runner", "client-go loop", "runner, no QPS limit", "client-go loop, no QPS limit"}}
	for tool, want := range map[string]string{"client-go loop": "runner", "client-go loop, no QPS limit": "runner, no QPS limit"} {
		if got := refRunner(old, tool); got != want {
			t.Errorf("old %q: ref %q, want %q", tool, got, want)
		}
	}
	cur := ApplySet{Tools: []string{ToolRunnerDefaults, ToolApplyLoop, "runner, QPS 200 burst 400", "client-go loop, QPS 200 burst 400"}}
	for tool, want := range map[string]string{ToolApplyLoop: ToolRunnerDefaults, "client-go loop, QPS 200 burst 400": "runner, QPS 200 burst 400", ToolKubectl: ToolRunnerDefaults} {
		if got := refRunner(cur, tool); got != want {
			t.Errorf("%q: ref %q, want %q", tool, got, want)
		}
	}
}

// UpdateDoc rewrites only what lies between the markers.
func TestUpdateDocKeepsHandWrittenText(t *testing.T) {
	path := filepath.Join(t.TempDir(), "benchmarks.md")
	if err := UpdateDoc(path, sampleResults(), "x.json"); err != nil {
		t.Fatal(err)
	}
	data, _ := os.ReadFile(path)
	doc := strings.Replace(string(data), "# Benchmarks\n", "# Benchmarks\n\nHand-written analysis.\n", 1) + "\nAfter the table.\n"
	if err := os.WriteFile(path, []byte(doc), 0o644); err != nil {
		t.Fatal(err)
	}
	r := sampleResults()
	r.Date = "2026-02-03"
	if err := UpdateDoc(path, r, "y.json"); err != nil {
		t.Fatal(err)
	}
	data, _ = os.ReadFile(path)
	got := string(data)
	for _, want := range []string{"Hand-written analysis.", "After the table.", "Run of 2026-02-03"} {
		if !strings.Contains(got, want) {
			t.Errorf("missing %q", want)
		}
	}
	if strings.Contains(got, "Run of 2026-01-02") || strings.Count(got, beginMarker) != 1 {
		t.Errorf("the old section was not replaced:\n%s", got)
	}
	if err := os.WriteFile(path, []byte("no markers"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := UpdateDoc(path, r, "y.json"); err == nil {
		t.Error("a file without markers was overwritten")
	}
}
