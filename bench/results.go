package bench

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// Tool names that the rendering keys on (the driver names the others).
const (
	// ToolRunnerDefaults is runner applying at its default client limit:
	// none where the API server has priority and fairness.
	ToolRunnerDefaults = "runner (defaults)"
	// ToolApplyLoop is the client-go server-side apply loop without a
	// client limit: the API server's own pace for what runner does.
	ToolApplyLoop    = "client-go apply loop, no QPS limit"
	ToolKubectl      = "kubectl apply"
	ToolRunnerWait   = "runner waitFor"
	ToolChainsawWait = "chainsaw error"
	ToolKubectlWait  = "kubectl wait"
)

// Results is everything one `make bench` measured; it is written as
// bench/results/<date>.json and rendered into docs/benchmarks.md.
type Results struct {
	Date     string            `json:"date"`
	Start    time.Time         `json:"start"`
	End      time.Time         `json:"end"`
	Machine  Machine           `json:"machine"`
	Versions map[string]string `json:"versions"`
	Settings Settings          `json:"settings"`
	// Commands are the command lines of each tool, with placeholders.
	Commands map[string]string `json:"commands"`
	// Host is how busy the machine was with others' work during the trials.
	Host    HostLoad      `json:"host"`
	Apply   []ApplySet    `json:"apply,omitempty"`
	Wait    *WaitSuite    `json:"wait,omitempty"`
	APILoad *APILoadSuite `json:"apiLoad,omitempty"`
	Memory  *MemorySuite  `json:"memory,omitempty"`
	Large   *LargeSuite   `json:"large,omitempty"`
	Seed    []SeedRun     `json:"seed,omitempty"`
	Exec    *ExecSuite    `json:"exec,omitempty"`
	Measure *MeasureSuite `json:"measure,omitempty"`
	// PlanSuite is the suites benchmark (many plans, list, merge, shards).
	PlanSuite *SuitesBench   `json:"planSuite,omitempty"`
	Errors    []string       `json:"errors,omitempty"`
	Notes     []string       `json:"notes,omitempty"`
	Suites    map[string]int `json:"suiteSeconds,omitempty"`
}

// Settings are the knobs of the run.
type Settings struct {
	Rounds              int     `json:"rounds"`
	ChainsawApplyRounds int     `json:"chainsawApplyRounds"`
	Parallel            int     `json:"parallel"`
	QPS                 float64 `json:"qps"`
	Burst               int     `json:"burst"`
	WaitTrials          int     `json:"waitTrials"`
	KubectlTrials       []int   `json:"kubectlWaitTrials"` // per wait size
	WaitSizes           []int   `json:"waitSizes"`
	APILoadSeconds      int     `json:"apiLoadSeconds"`
	APILoadObjects      int     `json:"apiLoadObjects"`
	MemoryObjects       int     `json:"memoryObjects"`
	MemoryRounds        int     `json:"memoryRounds"`
	LargeObjects        int     `json:"largeObjects,omitempty"`
	LargeTail           int     `json:"largeTail,omitempty"`
	LargeTrials         int     `json:"largeTrials,omitempty"`
	LargeChainsawTrials int     `json:"largeChainsawTrials,omitempty"`
	SeedReplicas        []int   `json:"seedReplicas"`
	MaxLoadAtStart      float64 `json:"maxLoadAtStart"`
	LoadAtStart         float64 `json:"loadAtStart"`
	WaitedForLoadMS     int64   `json:"waitedForLoadMs"`
}

// HostLoad summarises the machine's other work during trials: foreign
// cores (CPU of processes that are not ours, averaged over each trial) and
// the 1-minute load average at each trial's start (ours included).
type HostLoad struct {
	Foreign Summary `json:"foreignCores"`
	Load1   Summary `json:"load1"`
}

// Trial is what every measured run records about the machine.
type Trial struct {
	Round   int     `json:"round"`
	Tool    string  `json:"tool"`
	OK      bool    `json:"ok"`
	Error   string  `json:"error,omitempty"`
	Exit    int     `json:"exitCode"`
	CPU     float64 `json:"toolCpuSeconds"`
	Foreign float64 `json:"foreignCores"`
	Load1   float64 `json:"load1"`
}

// ApplySet is the apply benchmark for one workload.
type ApplySet struct {
	Workload string       `json:"workload"`
	Objects  int          `json:"objects"`
	Tools    []string     `json:"tools"`
	Trials   []ApplyTrial `json:"trials"`
}

// ApplyTrial is one tool applying the workload once.
type ApplyTrial struct {
	Trial
	Seconds  float64            `json:"seconds"`
	Created  int                `json:"created"`  // objects present afterwards
	Requests map[string]float64 `json:"requests"` // to the workload's resource, by verb
}

// WaitSuite is the wait detection latency benchmark.
type WaitSuite struct {
	Sizes  []WaitSize         `json:"sizes"`
	Checks []CorrectnessCheck `json:"checks"`
}

// WaitSize is the latency trials at one number of objects.
type WaitSize struct {
	Objects int         `json:"objects"`
	Tools   []string    `json:"tools"`
	Trials  []WaitTrial `json:"trials"`
}

// WaitTrial is one wait: LatencyMS = the tool's exit − the response to the
// last flip; LineMS, for runner, uses the arrival of its "step passed" log
// line instead of its exit.
type WaitTrial struct {
	Trial
	LatencyMS float64 `json:"latencyMs"`
	LineMS    float64 `json:"lineMs,omitempty"`
	FlipMS    float64 `json:"flipMs"` // how long flipping the objects took
	// SettleMS is how long the tool ran before the flip started: a fixed
	// time, or until its log said it held every object.
	SettleMS float64 `json:"settleMs,omitempty"`
}

// CorrectnessCheck says whether a tool refused to report done when it
// should not have.
type CorrectnessCheck struct {
	Tool    string `json:"tool"`
	Case    string `json:"case"`
	Correct bool   `json:"correct"`
	// Inconclusive: the tool failed, but before it had seen every object.
	Inconclusive bool    `json:"inconclusive,omitempty"`
	Exit         int     `json:"exitCode"`
	Seconds      float64 `json:"seconds"`
	Detail       string  `json:"detail"`
}

// APILoadSuite is the request count of a wait that never ends.
type APILoadSuite struct {
	Objects int          `json:"objects"`
	Seconds float64      `json:"seconds"`
	Idle    APILoadRun   `json:"idle"`
	Runs    []APILoadRun `json:"runs"`
}

// APILoadRun is the API server's request counters across one tool's wait.
type APILoadRun struct {
	Tool    string             `json:"tool"`
	Seconds float64            `json:"seconds"` // between the two scrapes
	Total   float64            `json:"total"`   // every request
	Target  map[string]float64 `json:"target"`  // to configmaps, by verb
	// Own are the tool's own requests, from the audit log (by user agent):
	// "VERB resource" or "GET /path" for discovery.
	Own  map[string]float64 `json:"own,omitempty"`
	Exit int                `json:"exitCode"`
	CPU  float64            `json:"toolCpuSeconds"`
}

// TargetTotal sums the requests to the target resource.
func (r APILoadRun) TargetTotal() float64 {
	t := 0.0
	for _, v := range r.Target {
		t += v
	}
	return t
}

// OwnTotal sums the tool's own requests.
func (r APILoadRun) OwnTotal() float64 {
	t := 0.0
	for _, v := range r.Own {
		t += v
	}
	return t
}

// OwnResource sums the tool's own requests to one resource.
func (r APILoadRun) OwnResource(resource string) float64 {
	t := 0.0
	for k, v := range r.Own {
		if strings.HasSuffix(k, " "+resource) {
			t += v
		}
	}
	return t
}

// MemorySuite is the peak memory of a wait on many objects.
type MemorySuite struct {
	Objects int         `json:"objects"`
	Seconds float64     `json:"seconds"`
	Runs    []MemoryRun `json:"runs"`
}

// MemoryRun is one tool's peak resident set (ru_maxrss) during the wait.
type MemoryRun struct {
	Trial
	MaxRSSMB float64 `json:"maxRssMB"`
	Seconds  float64 `json:"seconds"`
}

// LargeSuite is the wait benchmarks of issue 12 at one large number of
// ConfigMaps, created once: peak memory, detection latency when the last
// Tail objects change, and correctness.
type LargeSuite struct {
	Objects       int     `json:"objects"`
	Tail          int     `json:"tail"`          // objects flipped in each latency trial
	CreateSeconds float64 `json:"createSeconds"` // creating the objects, once
	DeleteSeconds float64 `json:"deleteSeconds"` // deleting them at the end
	// MemorySeconds is the length of each wait on the objects;
	// EmptySeconds that of each wait on none (the empty process).
	MemorySeconds float64            `json:"memorySeconds"`
	EmptySeconds  float64            `json:"emptySeconds"`
	Memory        []LargeMemoryRun   `json:"memory"`
	Latency       WaitSize           `json:"latency"`
	Checks        []CorrectnessCheck `json:"checks"`
	// NotRun says, per tool, why it was left out.
	NotRun map[string]string `json:"notRun,omitempty"`
}

// LargeMemoryRun is one tool's peak resident set waiting on Objects
// ConfigMaps (0: the empty process) whose condition never holds.
type LargeMemoryRun struct {
	MemoryRun
	Objects int `json:"objects"`
	// ListedSeconds is when the tool's log first said it held every
	// object (runner's progress line; 0 if it has none or never said so).
	// Those lines are rate-limited, so it is an upper bound on the list.
	ListedSeconds float64 `json:"listedSeconds,omitempty"`
}

// SeedRun is one run of scenarios/bi-scalability.yaml.
type SeedRun struct {
	Replicas int     `json:"replicas"`
	Volumes  int     `json:"volumes"`
	Outcome  string  `json:"outcome"`
	Exit     int     `json:"exitCode"`
	Seconds  float64 `json:"seconds"`
	CPU      float64 `json:"cpuSeconds"`
	MaxRSSMB float64 `json:"maxRssMB"`
	Foreign  float64 `json:"foreignCores"`
	Phases   []Phase `json:"phases"`
	Source   string  `json:"phaseSource"` // report.json or log
	Profile  string  `json:"profileTop,omitempty"`
	Command  string  `json:"command"`
}

// Phase is one step (or the cleanup) of a seed run.
type Phase struct {
	Name    string  `json:"name"`
	Seconds float64 `json:"seconds"`
	Outcome string  `json:"outcome,omitempty"`
}

// Write writes r as indented JSON to dir/<date>.json and returns the path.
func (r *Results) Write(dir string) (string, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", err
	}
	data, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return "", err
	}
	path := filepath.Join(dir, r.Date+".json")
	return path, os.WriteFile(path, append(data, '\n'), 0o644)
}

// ExecSuite is the exec round trip on the local cluster: Commands runs of
// `true` in one pod, runner's exec step (its time in report.json) against
// kubectl exec (a process per call), in milliseconds.
type ExecSuite struct {
	Commands int     `json:"commands"`
	Runner   Summary `json:"runnerMs"`
	Kubectl  Summary `json:"kubectlMs"`
}
