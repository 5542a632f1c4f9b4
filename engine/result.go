package engine

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

// Result is the outcome of one plan run; reports render it.
type Result struct {
	Name     string         `json:"name"`
	File     string         `json:"file"`
	Vars     map[string]any `json:"vars"`
	Start    time.Time      `json:"start"`
	End      time.Time      `json:"end"`
	Outcome  Outcome        `json:"outcome"`
	Error    string         `json:"error,omitempty"`
	Steps    []*StepResult  `json:"steps"`
	Cleanup  *CleanupResult `json:"cleanup,omitempty"`
	DryRun   bool           `json:"dryRun,omitempty"`
	Server   string         `json:"server,omitempty"`
	Warnings []string       `json:"warnings,omitempty"`
}

// Duration is how long the plan ran.
func (r *Result) Duration() time.Duration { return r.End.Sub(r.Start) }

// StepResult is the outcome of one step.
type StepResult struct {
	Name    string        `json:"name"`
	Kind    string        `json:"kind"`
	Pos     string        `json:"position"`
	Start   time.Time     `json:"start"`
	End     time.Time     `json:"end"`
	Outcome Outcome       `json:"outcome"`
	Error   string        `json:"error,omitempty"`
	Steps   []*StepResult `json:"steps,omitempty"` // nested (timeProbe)

	Apply *ApplyResult `json:"apply,omitempty"`
	Wait  *WaitResult  `json:"wait,omitempty"`
	Probe *ProbeResult `json:"probe,omitempty"`

	mu       sync.Mutex
	Progress []Progress `json:"progress,omitempty"`
}

// Duration is how long the step ran.
func (s *StepResult) Duration() time.Duration { return s.End.Sub(s.Start) }

// maxProgress bounds the samples kept per step; later ones are thinned.
const maxProgress = 2000

func (s *StepResult) addProgress(p Progress) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if n := len(s.Progress); n > 0 && n >= maxProgress {
		// keep every other sample, then go on
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
func (s *StepResult) LastProgress() (Progress, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.Progress) == 0 {
		return Progress{}, false
	}
	return s.Progress[len(s.Progress)-1], true
}

// ApplyResult details an apply or delete step.
type ApplyResult struct {
	Objects int `json:"objects"`
	Created int `json:"created"`
	Changed int `json:"changed"`
	Deleted int `json:"deleted,omitempty"`
}

// WaitResult details a waitFor step: its final counts.
type WaitResult struct {
	Matched   int      `json:"matched"`
	Satisfied int      `json:"satisfied"`
	Needed    int      `json:"needed"`
	Quantifer string   `json:"quantifier"`
	Unmet     []string `json:"unmet,omitempty"`
}

// ProbeResult details a timeProbe: every sample and the statistics.
type ProbeResult struct {
	Name       string            `json:"name"`
	Samples    []time.Duration   `json:"samples"`
	Stats      map[string]string `json:"stats"`
	Assertions []AssertionResult `json:"assertions"`
}

// AssertionResult is one assertion of a timeProbe with the values it saw.
type AssertionResult struct {
	Expr   string            `json:"expr"`
	Passed bool              `json:"passed"`
	Values map[string]string `json:"values"`
}

// CleanupResult says what cleanup deleted, kept and failed to delete.
type CleanupResult struct {
	Policy  CleanupPolicy `json:"policy"`
	Ran     bool          `json:"ran"`
	Deleted []ObjectRef   `json:"deleted,omitempty"`
	Changed []ObjectRef   `json:"changed,omitempty"`
	Left    []ObjectRef   `json:"left,omitempty"`
	Errors  []string      `json:"errors,omitempty"`
	Start   time.Time     `json:"start"`
	End     time.Time     `json:"end"`
}
