// Package result holds what running plans produced: the outcome of each
// plan and step, the detail a step kind adds to its step, progress samples
// and what cleanup did. It imports nothing from Kubernetes, so the console
// summary and the reports render results without a cluster client, and it
// names no step kind: a kind describes its own detail through Detail.
package result

import (
	"sync"
	"time"
)

// Outcome is how a step or plan ended.
type Outcome string

const (
	Passed      Outcome = "passed"
	Failed      Outcome = "failed"
	TimedOut    Outcome = "timed-out"
	Interrupted Outcome = "interrupted"
	Skipped     Outcome = "skipped"
)

// Outcomes lists every outcome, best first.
func Outcomes() []Outcome { return []Outcome{Passed, Skipped, Failed, TimedOut, Interrupted} }

// severity orders outcomes from best to worst.
var severity = map[Outcome]int{Passed: 0, Skipped: 1, Failed: 2, TimedOut: 3, Interrupted: 4}

// Worst returns the worse of two outcomes.
func Worst(a, b Outcome) Outcome {
	if severity[b] > severity[a] {
		return b
	}
	return a
}

// CleanupPolicy says when the objects a plan created are deleted.
type CleanupPolicy string

const (
	CleanupAlways    CleanupPolicy = "always"
	CleanupOnSuccess CleanupPolicy = "on-success"
	CleanupNever     CleanupPolicy = "never"
)

// Plan is the outcome of one plan run.
type Plan struct {
	Name string `json:"name"`
	// ID names the cell: the plan's name, with a matrix's values
	// (bi-scalability[replicas=25]).
	ID string `json:"id,omitempty"`
	// Labels and Locks are the plan's; Cell holds the cell's matrix values.
	Labels map[string]string `json:"labels,omitempty"`
	Locks  []string          `json:"locks,omitempty"`
	Cell   map[string]any    `json:"cell,omitempty"`
	// RunID names this run of the plan: every object it created carries
	// it in the label runner.io/run, for `runner cleanup --run ID`.
	RunID    string         `json:"runId,omitempty"`
	File     string         `json:"file"`
	Vars     map[string]any `json:"vars"`
	Start    time.Time      `json:"start"`
	End      time.Time      `json:"end"`
	Outcome  Outcome        `json:"outcome"`
	Error    string         `json:"error,omitempty"`
	Steps    []*Step        `json:"steps"`
	Cleanup  *Cleanup       `json:"cleanup,omitempty"`
	DryRun   bool           `json:"dryRun,omitempty"`
	Server   string         `json:"server,omitempty"`
	Warnings []string       `json:"warnings,omitempty"`
	// Outputs are the values steps bound, as they were at the end.
	Outputs map[string]any `json:"outputs,omitempty"`
	// Diagnostics were collected when a step failed, before cleanup.
	Diagnostics []Diagnostic `json:"diagnostics,omitempty"`
}

// Diagnostic is one piece of evidence collected after a failure: events,
// objects as YAML, a pod's log.
type Diagnostic struct {
	// Step is the failed step it was collected for.
	Step string `json:"step"`
	// What it is, e.g. "events in default", "Volume longhorn-system/pvc-1".
	What string `json:"what"`
	// File is where it was written, relative to the report folder.
	File string `json:"file,omitempty"`
	// Preview is its last lines, for the HTML report.
	Preview []string `json:"preview,omitempty"`
	// Error says why it could not be collected.
	Error string `json:"error,omitempty"`
}

// Duration is how long the plan ran.
func (r *Plan) Duration() time.Duration { return r.End.Sub(r.Start) }

// Step is the outcome of one step.
type Step struct {
	Name    string    `json:"name"`
	Kind    string    `json:"kind"`
	Pos     string    `json:"position"`
	Start   time.Time `json:"start"`
	End     time.Time `json:"end"`
	Outcome Outcome   `json:"outcome"`
	Error   string    `json:"error,omitempty"`
	// Skip says why a skipped step did not run.
	Skip  string  `json:"skip,omitempty"`
	Steps []*Step `json:"steps,omitempty"` // nested (timeProbe)
	// Runs counts the runs of the nested steps (a repeated timeProbe's);
	// Run is which run of its parent's a nested step belongs to (1-based).
	Runs int `json:"runs,omitempty"`
	Run  int `json:"run,omitempty"`
	// Detail is what the step's kind adds; nil for kinds that add nothing.
	Detail Detail `json:"detail,omitempty"`
	// Retried counts requests the step sent again after a transient error;
	// LastRetried is the last such error.
	Retried     int    `json:"retried,omitempty"`
	LastRetried string `json:"lastRetried,omitempty"`

	mu       sync.Mutex
	Progress []Progress `json:"progress,omitempty"`
}

// Duration is how long the step ran.
func (s *Step) Duration() time.Duration { return s.End.Sub(s.Start) }

// maxProgress bounds the samples kept per step; later ones are thinned.
const maxProgress = 2000

// AddProgress records a progress sample, thinning old ones evenly past
// maxProgress.
func (s *Step) AddProgress(p Progress) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if n := len(s.Progress); n > 0 && n >= maxProgress {
		kept := s.Progress[:0]
		for i, q := range s.Progress {
			if i%2 == 0 {
				kept = append(kept, q)
			}
		}
		s.Progress = kept
	}
	s.Progress = append(s.Progress, p)
}

// LastProgress returns the latest progress report, if any.
func (s *Step) LastProgress() (Progress, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.Progress) == 0 {
		return Progress{}, false
	}
	return s.Progress[len(s.Progress)-1], true
}

// ProgressSamples returns a copy of the progress samples.
func (s *Step) ProgressSamples() []Progress {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Progress(nil), s.Progress...)
}

// Progress is how far a step has got: Done of Total Unit (e.g. 242/250 satisfied).
type Progress struct {
	Time  time.Time `json:"t"`
	Done  int       `json:"done"`
	Total int       `json:"total"`
	Unit  string    `json:"unit,omitempty"`
	// Matched is, for waits, how many objects the target matched.
	Matched int `json:"matched,omitempty"`
}

// ObjectRef names one object a plan touched.
type ObjectRef struct {
	APIVersion string `json:"apiVersion"`
	Kind       string `json:"kind"`
	// Resource is the plural resource name (configmaps), for the client.
	Resource  string `json:"-"`
	Namespace string `json:"namespace,omitempty"`
	Name      string `json:"name"`
}

func (r ObjectRef) String() string {
	if r.Namespace == "" {
		return r.Kind + "/" + r.Name
	}
	return r.Kind + "/" + r.Namespace + "/" + r.Name
}

// Cleanup says what cleanup deleted, restored, kept and failed to delete.
type Cleanup struct {
	Policy CleanupPolicy `json:"policy"`
	Ran    bool          `json:"ran"`
	// Deleted were created by the plan and are gone.
	Deleted []ObjectRef `json:"deleted,omitempty"`
	// Restored were changed, not created, by the plan and have the fields
	// it changed back as they were before.
	Restored []ObjectRef `json:"restored,omitempty"`
	// Changed were changed, not created, by the plan and kept as they are
	// (restore: false, or the restore failed).
	Changed []ObjectRef `json:"changed,omitempty"`
	// Left were created by the plan and are still there.
	Left []ObjectRef `json:"left,omitempty"`
	// LeftUnverified is set when cleanup was stopped and the last check of
	// what is left could not reach the cluster: Left may then list objects
	// that are gone.
	LeftUnverified bool `json:"leftUnverified,omitempty"`
	// Absent counts objects recorded as being created that were not there
	// when cleanup deleted them (a create that failed or never went out).
	Absent int      `json:"absent,omitempty"`
	Errors []string `json:"errors,omitempty"`
	// Retried counts requests cleanup sent again after a transient error
	// (connection refused, 429, 5xx, a webhook's refusal); LastRetried is
	// the last such error.
	Retried     int       `json:"retried,omitempty"`
	LastRetried string    `json:"lastRetried,omitempty"`
	Start       time.Time `json:"start"`
	End         time.Time `json:"end"`
}
