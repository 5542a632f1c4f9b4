package report

import (
	"encoding/json"
	"fmt"
	"maps"
	"reflect"
	"runtime"
	"slices"
	"time"

	"github.com/scenario-runner/runner/result"
)

// SchemaVersion names the shape of report.json; it changes only when a
// field is removed or changes meaning (adding one keeps it).
const SchemaVersion = "runner.report/v2"

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
	// Labels are the --meta key=value pairs given at run time (e.g.
	// longhorn=v1.9.2), for comparisons and trends.
	Labels map[string]string
	// Shard is the --shard I/N this invocation ran, if any.
	Shard string
}

// Report is the whole run of one invocation: every plan, in order. It is
// report.json's document and the model the JUnit and HTML renderers use.
type Report struct {
	SchemaVersion   string            `json:"schemaVersion" doc:"Shape of this document: runner.report/v2 (v2: a step's kind-specific results moved under detail)." enum:"runner.report/v2"`
	Generated       time.Time         `json:"generated" doc:"When the report was written."`
	Outcome         result.Outcome    `json:"outcome" doc:"The worst outcome of the plans (interrupted > timed-out > failed > skipped > passed)."`
	Start           time.Time         `json:"start" doc:"Start of the first plan."`
	End             time.Time         `json:"end" doc:"End of the last plan."`
	DurationSeconds float64           `json:"durationSeconds" doc:"End minus start, in seconds."`
	Runner          Runner            `json:"runner"`
	Cluster         Cluster           `json:"cluster"`
	Meta            map[string]string `json:"meta,omitempty" doc:"The --meta key=value pairs given at run time (e.g. longhorn: v1.9.2), shown by report trend and compare."`
	Shard           string            `json:"shard,omitempty" doc:"The --shard I/N this invocation ran."`
	Sources         []Source          `json:"sources,omitempty" doc:"In a merged report (runner report merge): the reports it was made from."`
	Plans           []Plan            `json:"plans" doc:"Every plan of the invocation, in the order they ran."`
}

// Source is one report a merged report was made from.
type Source struct {
	File      string            `json:"file" doc:"The report.json merged, as given."`
	Shard     string            `json:"shard,omitempty" doc:"Its --shard I/N."`
	Generated time.Time         `json:"generated"`
	Outcome   result.Outcome    `json:"outcome"`
	Meta      map[string]string `json:"meta,omitempty"`
	Cells     int               `json:"cells" doc:"Plans (cells) taken from it."`
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
	Name            string            `json:"name"`
	ID              string            `json:"id,omitempty" doc:"The cell's id: the plan's name and, for a cell of a matrix, its values (bi-scalability[replicas=25]). Absent in reports of runner before suites: the name is the id."`
	Labels          map[string]string `json:"labels,omitempty" doc:"The plan's labels."`
	Locks           []string          `json:"locks,omitempty" doc:"The plan's locks."`
	Cell            map[string]any    `json:"cell,omitempty" doc:"The cell's matrix values."`
	Source          string            `json:"source,omitempty" doc:"In a merged report: the report.json it came from (see sources)."`
	File            string            `json:"file"`
	RunID           string            `json:"runId,omitempty" doc:"This run's id: the objects it created carry it in the label runner.io/run (runner cleanup --run ID)."`
	Outcome         result.Outcome    `json:"outcome"`
	Error           string            `json:"error,omitempty" doc:"Why the plan failed, as the console shows it."`
	Start           time.Time         `json:"start"`
	End             time.Time         `json:"end"`
	DurationSeconds float64           `json:"durationSeconds"`
	DryRun          bool              `json:"dryRun,omitempty"`
	ServerVersion   string            `json:"serverVersion,omitempty" doc:"API server version when the plan ran."`
	Vars            map[string]any    `json:"vars" doc:"The variables the plan ran with, after --values and --set."`
	Warnings        []string          `json:"warnings,omitempty"`
	Steps           []Step            `json:"steps"`
	Outputs         map[string]any    `json:"outputs,omitempty" doc:"The values steps bound, as they were at the end."`
	Diagnostics     []Diagnostic      `json:"diagnostics,omitempty" doc:"Evidence collected when a step failed, before cleanup (files relative to the report folder)."`
	Cleanup         *Cleanup          `json:"cleanup,omitempty"`
}

// Title names the plan's run for people: its cell id, or its name.
func (p *Plan) Title() string {
	if p.ID != "" {
		return p.ID
	}
	return p.Name
}

// Diagnostic is one piece of evidence collected after a failure.
type Diagnostic struct {
	Step    string   `json:"step" doc:"The failed step it was collected for."`
	What    string   `json:"what" doc:"e.g. events in default, Volume in longhorn-system."`
	File    string   `json:"file,omitempty" doc:"Where it was written, relative to the report folder."`
	Preview []string `json:"preview,omitempty" doc:"Its last lines."`
	Error   string   `json:"error,omitempty" doc:"Why it could not be collected."`
}

// Step is the run of one step; a timeProbe's nested steps are its Steps.
type Step struct {
	Name            string         `json:"name"`
	Kind            string         `json:"kind" doc:"Step kind: the step's key in the plan."`
	Position        string         `json:"position" doc:"file:line:column of the step in the plan."`
	Outcome         result.Outcome `json:"outcome"`
	Error           string         `json:"error,omitempty" doc:"Why the step failed, as the console shows it."`
	Start           *time.Time     `json:"start,omitempty" doc:"Absent for skipped steps."`
	End             *time.Time     `json:"end,omitempty" doc:"Absent for skipped steps."`
	DurationSeconds float64        `json:"durationSeconds" doc:"0 for skipped steps."`
	Summary         string         `json:"summary,omitempty" doc:"The step's detail as the console summary shows it, e.g. 242/250 satisfied, 250 matched."`
	Detail          any            `json:"detail,omitempty" doc:"What the step's kind adds to the result, in the kind's own shape (see the $defs named <kind>Detail)."`
	Skip            string         `json:"skip,omitempty" doc:"Why a skipped step did not run."`
	Retried         int            `json:"retried,omitempty" doc:"Requests the step sent again after a transient error (connection refused, 429, 5xx)."`
	LastRetried     string         `json:"lastRetried,omitempty" doc:"The last error that made the step retry."`
	Progress        []Progress     `json:"progress,omitempty" doc:"How far the step had got over time (at most 2000 samples, thinned evenly)."`
	Steps           []Step         `json:"steps,omitempty" doc:"Nested steps (a timeProbe's), every run of them in order."`

	// detail is Detail as its kind gave it, for the renderers; nil in a
	// report read back from JSON.
	detail result.Detail
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
	Policy          result.CleanupPolicy `json:"policy" enum:"always,on-success,never"`
	Ran             bool                 `json:"ran"`
	Start           time.Time            `json:"start"`
	End             time.Time            `json:"end"`
	DurationSeconds float64              `json:"durationSeconds"`
	Deleted         []ObjectRef          `json:"deleted,omitempty"`
	Restored        []ObjectRef          `json:"restored,omitempty" doc:"Objects the plan changed but did not create, with the fields it changed put back."`
	Changed         []ObjectRef          `json:"changed,omitempty" doc:"Objects the plan changed but did not create and kept as they are (restore: false, or the restore failed)."`
	Left            []ObjectRef          `json:"left,omitempty" doc:"Objects the plan created that are still there."`
	Errors          []string             `json:"errors,omitempty"`
	Retried         int                  `json:"retried,omitempty" doc:"Requests sent again after a transient error (connection refused, 429, 5xx, a webhook's refusal)."`
	LastRetried     string               `json:"lastRetried,omitempty" doc:"The last error that made cleanup retry."`
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
func New(results []*result.Plan, meta Meta) *Report {
	r := &Report{
		SchemaVersion: SchemaVersion,
		Generated:     meta.Generated,
		Outcome:       result.Passed,
		Runner: Runner{
			Version: meta.RunnerVersion, GoVersion: runtime.Version(),
			OS: runtime.GOOS, Arch: runtime.GOARCH, Args: meta.Args,
		},
		Cluster: Cluster{Host: meta.ClusterHost, Context: meta.ClusterContext},
		Plans:   []Plan{},
		Meta:    maps.Clone(meta.Labels),
		Shard:   meta.Shard,
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
		r.Outcome = result.Worst(r.Outcome, p.Outcome)
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

func newPlan(res *result.Plan) Plan {
	p := Plan{
		Name: res.Name, ID: res.ID, Labels: maps.Clone(res.Labels), Locks: slices.Clone(res.Locks), File: res.File, RunID: res.RunID, Outcome: res.Outcome, Error: res.Error,
		Start: res.Start, End: res.End, DurationSeconds: seconds(res.Duration()),
		DryRun: res.DryRun, ServerVersion: res.Server, Vars: jsonVars(res.Vars),
		Warnings: slices.Clone(res.Warnings), Steps: newSteps(res.Steps),
	}
	if len(res.Cell) > 0 {
		p.Cell = jsonVars(res.Cell)
	}
	if p.ID == "" {
		p.ID = p.Name
	}
	if len(res.Outputs) > 0 {
		p.Outputs = jsonVars(res.Outputs)
	}
	for _, d := range res.Diagnostics {
		p.Diagnostics = append(p.Diagnostics, Diagnostic{Step: d.Step, What: d.What, File: d.File, Preview: slices.Clone(d.Preview), Error: d.Error})
	}
	if c := res.Cleanup; c != nil {
		p.Cleanup = &Cleanup{
			Policy: c.Policy, Ran: c.Ran, Start: c.Start, End: c.End,
			DurationSeconds: seconds(c.End.Sub(c.Start)),
			Deleted:         refs(c.Deleted), Restored: refs(c.Restored), Changed: refs(c.Changed), Left: refs(c.Left),
			Errors: slices.Clone(c.Errors), Retried: c.Retried, LastRetried: c.LastRetried,
		}
	}
	return p
}

func newSteps(list []*result.Step) []Step {
	out := make([]Step, 0, len(list))
	for _, s := range list {
		st := Step{
			Name: s.Name, Kind: s.Kind, Position: s.Pos, Outcome: s.Outcome, Error: s.Error, Skip: s.Skip,
			Retried: s.Retried, LastRetried: s.LastRetried,
		}
		if !s.Start.IsZero() {
			start, end := s.Start, s.End
			if end.IsZero() {
				end = start
			}
			st.Start, st.End = &start, &end
			st.DurationSeconds = seconds(end.Sub(start))
		}
		if s.Detail != nil {
			st.Detail, st.detail, st.Summary = s.Detail, s.Detail, s.Detail.Summary()
		}
		for _, p := range s.ProgressSamples() {
			st.Progress = append(st.Progress, Progress{T: p.Time, Done: p.Done, Total: p.Total, Unit: p.Unit, Matched: p.Matched})
		}
		if len(s.Steps) > 0 {
			st.Steps = newSteps(s.Steps)
		}
		out = append(out, st)
	}
	return out
}

func refs(in []result.ObjectRef) []ObjectRef {
	var out []ObjectRef
	for _, r := range in {
		out = append(out, ObjectRef{APIVersion: r.APIVersion, Kind: r.Kind, Namespace: r.Namespace, Name: r.Name})
	}
	return out
}

// jsonVars keeps each variable as it is when it encodes as JSON, with maps
// whose keys are not strings (expr's groupBy) given string keys, so that
// every report shows every value as JSON, never in Go's syntax; a value
// that still cannot encode becomes its text, so that one odd value cannot
// lose the report.
func jsonVars(vars map[string]any) map[string]any {
	out := make(map[string]any, len(vars))
	for k, v := range vars {
		v = jsonable(v)
		if _, err := json.Marshal(v); err != nil {
			out[k] = fmt.Sprint(v)
			continue
		}
		out[k] = v
	}
	return out
}

// jsonable returns v with durations as text and every map keyed by
// strings, recursively, so that encoding/json accepts it.
func jsonable(v any) any {
	switch x := v.(type) {
	case nil, string, bool, int, int64, float64:
		return v
	case time.Duration:
		return x.String()
	case map[string]any:
		out := make(map[string]any, len(x))
		for k, e := range x {
			out[k] = jsonable(e)
		}
		return out
	case []any:
		out := make([]any, len(x))
		for i, e := range x {
			out[i] = jsonable(e)
		}
		return out
	}
	rv := reflect.ValueOf(v)
	switch rv.Kind() {
	case reflect.Map:
		out := make(map[string]any, rv.Len())
		it := rv.MapRange()
		for it.Next() {
			k := it.Key().Interface()
			ks, ok := k.(string)
			if !ok {
				ks = fmt.Sprint(k)
			}
			out[ks] = jsonable(it.Value().Interface())
		}
		return out
	case reflect.Slice, reflect.Array:
		if rv.Kind() == reflect.Slice && rv.Type().Elem().Kind() == reflect.Uint8 {
			return v // []byte encodes as base64
		}
		out := make([]any, rv.Len())
		for i := range out {
			out[i] = jsonable(rv.Index(i).Interface())
		}
		return out
	}
	return v
}

func seconds(d time.Duration) float64 { return d.Seconds() }
