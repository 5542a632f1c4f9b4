package report

import (
	"encoding/json"
	"fmt"
	"runtime"
	"slices"
	"time"

	"github.com/scenario-runner/runner/engine"
)

// SchemaVersion names the shape of report.json; it changes only when a
// field is removed or changes meaning (adding one keeps it).
const SchemaVersion = "runner.report/v1"

// SchemaID is the $id of report.json's JSON Schema.
const SchemaID = "https://github.com/scenario-runner/runner/schemas/report.schema.json"

// Meta is what the results alone do not say about the invocation.
type Meta struct {
	RunnerVersion string
	// ClusterHost and ClusterContext name the cluster the plans ran against.
	ClusterHost    string
	ClusterContext string
	// Args are the command line arguments, for the record.
	Args []string
	// Generated is when the report was made; zero means now.
	Generated time.Time
}

// Report is the whole run of one invocation: every plan, in order. It is
// report.json's document and the model the JUnit and HTML renderers use.
type Report struct {
	SchemaVersion   string         `json:"schemaVersion" doc:"Shape of this document: runner.report/v1." enum:"runner.report/v1"`
	Generated       time.Time      `json:"generated" doc:"When the report was written."`
	Outcome         engine.Outcome `json:"outcome" doc:"The worst outcome of the plans (interrupted > timed-out > failed > skipped > passed)."`
	Start           time.Time      `json:"start" doc:"Start of the first plan."`
	End             time.Time      `json:"end" doc:"End of the last plan."`
	DurationSeconds float64        `json:"durationSeconds" doc:"End minus start, in seconds."`
	Runner          Runner         `json:"runner"`
	Cluster         Cluster        `json:"cluster"`
	Plans           []Plan         `json:"plans" doc:"Every plan of the invocation, in the order they ran."`
}

// Runner describes the runner binary and how it was called.
type Runner struct {
	Version   string   `json:"version" doc:"runner's version."`
	GoVersion string   `json:"goVersion"`
	OS        string   `json:"os"`
	Arch      string   `json:"arch"`
	Args      []string `json:"args,omitempty" doc:"Command line arguments."`
}

// Cluster describes the cluster the plans ran against.
type Cluster struct {
	Host    string `json:"host,omitempty" doc:"API server URL."`
	Context string `json:"context,omitempty" doc:"kubeconfig context."`
	Version string `json:"version,omitempty" doc:"API server version, e.g. v1.33.1."`
}

// Plan is the run of one plan.
type Plan struct {
	Name            string         `json:"name"`
	File            string         `json:"file"`
	Outcome         engine.Outcome `json:"outcome"`
	Error           string         `json:"error,omitempty" doc:"Why the plan failed, as the console shows it."`
	Start           time.Time      `json:"start"`
	End             time.Time      `json:"end"`
	DurationSeconds float64        `json:"durationSeconds"`
	DryRun          bool           `json:"dryRun,omitempty"`
	ServerVersion   string         `json:"serverVersion,omitempty" doc:"API server version when the plan ran."`
	Vars            map[string]any `json:"vars" doc:"The variables the plan ran with, after --values and --set."`
	Warnings        []string       `json:"warnings,omitempty"`
	Steps           []Step         `json:"steps"`
	Cleanup         *Cleanup       `json:"cleanup,omitempty"`
}

// Step is the run of one step; a timeProbe's nested steps are its Steps.
type Step struct {
	Name            string         `json:"name"`
	Kind            string         `json:"kind" doc:"Step kind: apply, delete, scale, waitFor, timeProbe, sleep, ..."`
	Position        string         `json:"position" doc:"file:line:column of the step in the plan."`
	Outcome         engine.Outcome `json:"outcome"`
	Error           string         `json:"error,omitempty" doc:"Why the step failed, as the console shows it."`
	Start           *time.Time     `json:"start,omitempty" doc:"Absent for skipped steps."`
	End             *time.Time     `json:"end,omitempty" doc:"Absent for skipped steps."`
	DurationSeconds float64        `json:"durationSeconds" doc:"0 for skipped steps."`
	Apply           *Apply         `json:"apply,omitempty" doc:"apply and delete steps."`
	Wait            *Wait          `json:"wait,omitempty" doc:"waitFor steps: the final counts."`
	Probe           *Probe         `json:"probe,omitempty" doc:"timeProbe steps."`
	Progress        []Progress     `json:"progress,omitempty" doc:"How far the step had got over time (at most 2000 samples, thinned evenly)."`
	Steps           []Step         `json:"steps,omitempty" doc:"Nested steps (a timeProbe's), every run of them in order."`
}

// Apply details an apply or delete step.
type Apply struct {
	Objects int `json:"objects" doc:"Objects rendered."`
	Created int `json:"created"`
	Changed int `json:"changed"`
	Deleted int `json:"deleted"`
}

// Wait details a waitFor step: its final counts.
type Wait struct {
	Matched    int      `json:"matched" doc:"Objects the target matched."`
	Satisfied  int      `json:"satisfied" doc:"Matched objects that satisfied the condition."`
	Needed     int      `json:"needed" doc:"Satisfied objects the quantifier needed."`
	Quantifier string   `json:"quantifier"`
	Unmet      []string `json:"unmet,omitempty" doc:"Objects that did not satisfy the condition, with the values it read."`
}

// Probe details a timeProbe: every sample, the statistics and the
// assertions.
type Probe struct {
	Name           string             `json:"name"`
	Runs           int                `json:"runs" doc:"Samples taken."`
	SamplesSeconds []float64          `json:"samplesSeconds" doc:"Each run's duration in seconds, in order."`
	StatsSeconds   map[string]float64 `json:"statsSeconds" doc:"duration (the last sample), min, max, mean, p50, p90, p99 (nearest rank) in seconds, rounded to three significant digits as the console shows them."`
	Assertions     []Assertion        `json:"assertions"`
}

// Assertion is one assertion of a timeProbe with the values it read.
type Assertion struct {
	Expr   string            `json:"expr"`
	Passed bool              `json:"passed"`
	Values map[string]string `json:"values" doc:"Each name the expression read and its value as text (durations as Go durations: 1.5s)."`
}

// Progress is one progress sample: Done of Total Unit at T.
type Progress struct {
	T       time.Time `json:"t"`
	Done    int       `json:"done"`
	Total   int       `json:"total"`
	Unit    string    `json:"unit,omitempty" doc:"applied, deleted, satisfied, runs, ..."`
	Matched int       `json:"matched,omitempty" doc:"For waits: objects the target matched."`
}

// Cleanup says what the plan's cleanup deleted, kept and failed to delete.
type Cleanup struct {
	Policy          engine.CleanupPolicy `json:"policy" enum:"always,on-success,never"`
	Ran             bool                 `json:"ran"`
	Start           time.Time            `json:"start"`
	End             time.Time            `json:"end"`
	DurationSeconds float64              `json:"durationSeconds"`
	Deleted         []ObjectRef          `json:"deleted,omitempty"`
	Changed         []ObjectRef          `json:"changed,omitempty" doc:"Objects the plan changed but did not create: kept."`
	Left            []ObjectRef          `json:"left,omitempty" doc:"Objects the plan created that are still there."`
	Errors          []string             `json:"errors,omitempty"`
}

// ObjectRef names one Kubernetes object.
type ObjectRef struct {
	APIVersion string `json:"apiVersion"`
	Kind       string `json:"kind"`
	Namespace  string `json:"namespace,omitempty"`
	Name       string `json:"name"`
}

func (r ObjectRef) String() string {
	if r.Namespace == "" {
		return r.Kind + "/" + r.Name
	}
	return r.Kind + "/" + r.Namespace + "/" + r.Name
}

// New builds the report of results, in order.
func New(results []*engine.Result, meta Meta) *Report {
	r := &Report{
		SchemaVersion: SchemaVersion,
		Generated:     meta.Generated,
		Outcome:       engine.Passed,
		Runner: Runner{
			Version: meta.RunnerVersion, GoVersion: runtime.Version(),
			OS: runtime.GOOS, Arch: runtime.GOARCH, Args: meta.Args,
		},
		Cluster: Cluster{Host: meta.ClusterHost, Context: meta.ClusterContext},
		Plans:   []Plan{},
	}
	if r.Generated.IsZero() {
		r.Generated = time.Now()
	}
	if r.Runner.Version == "" {
		r.Runner.Version = "dev"
	}
	for _, res := range results {
		p := newPlan(res)
		r.Plans = append(r.Plans, p)
		r.Outcome = Worst(r.Outcome, p.Outcome)
		if r.Start.IsZero() || p.Start.Before(r.Start) {
			r.Start = p.Start
		}
		if p.End.After(r.End) {
			r.End = p.End
		}
		if r.Cluster.Version == "" {
			r.Cluster.Version = res.Server
		}
	}
	if r.Start.IsZero() {
		r.Start, r.End = r.Generated, r.Generated
	}
	r.DurationSeconds = seconds(r.End.Sub(r.Start))
	return r
}

// severity orders outcomes from best to worst.
var severity = map[engine.Outcome]int{
	engine.Passed: 0, engine.Skipped: 1, engine.Failed: 2, engine.TimedOut: 3, engine.Interrupted: 4,
}

// Worst returns the worse of two outcomes.
func Worst(a, b engine.Outcome) engine.Outcome {
	if severity[b] > severity[a] {
		return b
	}
	return a
}

func newPlan(res *engine.Result) Plan {
	p := Plan{
		Name: res.Name, File: res.File, Outcome: res.Outcome, Error: res.Error,
		Start: res.Start, End: res.End, DurationSeconds: seconds(res.Duration()),
		DryRun: res.DryRun, ServerVersion: res.Server, Vars: jsonVars(res.Vars),
		Warnings: slices.Clone(res.Warnings), Steps: newSteps(res.Steps),
	}
	if c := res.Cleanup; c != nil {
		p.Cleanup = &Cleanup{
			Policy: c.Policy, Ran: c.Ran, Start: c.Start, End: c.End,
			DurationSeconds: seconds(c.End.Sub(c.Start)),
			Deleted:         refs(c.Deleted), Changed: refs(c.Changed), Left: refs(c.Left),
			Errors: slices.Clone(c.Errors),
		}
	}
	return p
}

func newSteps(list []*engine.StepResult) []Step {
	out := make([]Step, 0, len(list))
	for _, s := range list {
		st := Step{
			Name: s.Name, Kind: s.Kind, Position: s.Pos, Outcome: s.Outcome, Error: s.Error,
		}
		if !s.Start.IsZero() {
			start, end := s.Start, s.End
			if end.IsZero() {
				end = start
			}
			st.Start, st.End = &start, &end
			st.DurationSeconds = seconds(end.Sub(start))
		}
		if a := s.Apply; a != nil {
			st.Apply = &Apply{Objects: a.Objects, Created: a.Created, Changed: a.Changed, Deleted: a.Deleted}
		}
		if w := s.Wait; w != nil {
			st.Wait = &Wait{Matched: w.Matched, Satisfied: w.Satisfied, Needed: w.Needed, Quantifier: w.Quantifer, Unmet: slices.Clone(w.Unmet)}
		}
		if pr := s.Probe; pr != nil {
			st.Probe = newProbe(pr)
		}
		for _, p := range s.Progress {
			st.Progress = append(st.Progress, Progress{T: p.Time, Done: p.Done, Total: p.Total, Unit: p.Unit, Matched: p.Matched})
		}
		if len(s.Steps) > 0 {
			st.Steps = newSteps(s.Steps)
		}
		out = append(out, st)
	}
	return out
}

func newProbe(pr *engine.ProbeResult) *Probe {
	p := &Probe{
		Name: pr.Name, Runs: len(pr.Samples), SamplesSeconds: make([]float64, len(pr.Samples)),
		StatsSeconds: map[string]float64{}, Assertions: []Assertion{},
	}
	for i, d := range pr.Samples {
		p.SamplesSeconds[i] = seconds(d)
	}
	// The statistics are the ones the console shows; parsing them back keeps
	// one definition of percentiles (the timeProbe's).
	for name, v := range pr.Stats {
		if d, err := time.ParseDuration(v); err == nil {
			p.StatsSeconds[name] = seconds(d)
		}
	}
	for _, a := range pr.Assertions {
		vals := map[string]string{}
		for k, v := range a.Values {
			vals[k] = v
		}
		p.Assertions = append(p.Assertions, Assertion{Expr: a.Expr, Passed: a.Passed, Values: vals})
	}
	return p
}

func refs(in []engine.ObjectRef) []ObjectRef {
	var out []ObjectRef
	for _, r := range in {
		out = append(out, ObjectRef{APIVersion: r.APIVersion, Kind: r.Kind, Namespace: r.Namespace, Name: r.Name})
	}
	return out
}

// jsonVars keeps each variable as it is when it encodes as JSON, and as its
// text otherwise, so that one odd value cannot lose the report.
func jsonVars(vars map[string]any) map[string]any {
	out := make(map[string]any, len(vars))
	for k, v := range vars {
		if d, ok := v.(time.Duration); ok {
			out[k] = d.String()
			continue
		}
		if _, err := json.Marshal(v); err != nil {
			out[k] = fmt.Sprint(v)
			continue
		}
		out[k] = v
	}
	return out
}

func seconds(d time.Duration) float64 { return d.Seconds() }
