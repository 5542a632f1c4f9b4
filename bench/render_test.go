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
		Settings: Settings{Rounds: 2, ChainsawApplyRounds: 1, Parallel: 16, QPS: 200, Burst: 400}}
	set := ApplySet{Workload: "configmaps", Objects: 100, Tools: []string{"runner", "client-go loop", "kubectl apply"}}
	for round, times := range [][3]float64{{1, 1.1, 4}, {1.2, 1.2, 4.8}} {
		for i, tool := range set.Tools {
			set.Trials = append(set.Trials, ApplyTrial{Trial: Trial{Round: round + 1, Tool: tool, OK: true}, Seconds: times[i], Requests: map[string]float64{"APPLY": 100}})
		}
	}
	r.Apply = []ApplySet{set}
	size := WaitSize{Objects: 250, Tools: []string{"runner waitFor", "chainsaw error"}}
	for i := 1; i <= 3; i++ {
		size.Trials = append(size.Trials,
			WaitTrial{Trial: Trial{Round: i, Tool: "runner waitFor", OK: true}, LatencyMS: float64(i)},
			WaitTrial{Trial: Trial{Round: i, Tool: "chainsaw error", OK: true}, LatencyMS: float64(50 * i)})
	}
	r.Wait = &WaitSuite{Sizes: []WaitSize{size}, Checks: []CorrectnessCheck{{Tool: "chainsaw error", Case: "no object has the label", Detail: "reported done after 0.2 s"}}}
	r.APILoad = &APILoadSuite{Objects: 2500, Seconds: 60, Runs: []APILoadRun{{Tool: "runner waitFor", Target: map[string]float64{"WATCH": 1}, Own: map[string]float64{"GET /api": 1, "WATCH configmaps": 1}}}}
	r.Memory = &MemorySuite{Objects: 10000, Runs: []MemoryRun{{Trial: Trial{Round: 1, Tool: "runner waitFor", OK: true}, MaxRSSMB: 80}}}
	r.Seed = []SeedRun{{Replicas: 25, Volumes: 250, Seconds: 40, CPU: 0.8, Phases: []Phase{{Name: "a | b", Seconds: 1}}}}
	return r
}

func TestMarkdown(t *testing.T) {
	md := Markdown(sampleResults(), "bench/results/2026-01-02.json")
	for _, want := range []string{
		"| apply configmaps: runner ≥ 0.9× the client-go loop | 1.05× (rounds 1.10 1.00) | **met** |",
		"| apply configmaps: runner ≥ 3× `kubectl apply` | 4.0× | **met** |",
		"| kubectl apply | 4.40 | 23 | 18% | 4.00–4.80 | 4.00 (4.00 4.00) |",
		"| wait on 250 objects: runner p50 ≤ 20 ms | 2.0 ms | **met** |",
		"| chainsaw error | 3 | 100 | 150 | 50.0–150 | 50× (50–50) |",
		"**wrong**: reported done after 0.2 s",
		"| API load: runner ≤ 5 requests per target | 1 to configmaps in 0 s (audit log); 2 in all with discovery | **met** |",
		"| memory: runner ≤ 150 MB waiting on 10000 objects | 80 MB",
		"| seed scenario, 250 volumes: runner CPU ≤ 5% of wall time | 2.00% (0.8 CPU s in 40 s) | **met** |",
		"| a \\| b | 1.00 |",
	} {
		if !strings.Contains(md, want) {
			t.Errorf("missing %q in:\n%s", want, md)
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
