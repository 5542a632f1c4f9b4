package engine

import (
	"time"

	"github.com/scenario-runner/runner/engine/diag"
	"github.com/scenario-runner/runner/engine/eval"
	"github.com/scenario-runner/runner/result"
)

// PlanSpec is the YAML shape of a plan file (format v1). It is the source of
// truth for schemas/scenario.schema.json.
type PlanSpec struct {
	Name        string            `yaml:"name" required:"true" doc:"Name of the scenario: lower-case letters, digits and dashes."`
	Description string            `yaml:"description" doc:"What the scenario tests, for people."`
	Labels      map[string]string `yaml:"labels" doc:"What the plan is, as key: value strings (tier: nightly, area: backing-image); --selector picks plans by them with Kubernetes label-selector syntax."`
	Matrix      MatrixSpec        `yaml:"matrix" doc:"Variables the plan declares in vars, each with a list of values: the plan runs once per combination (a cell, e.g. bi-scalability[replicas=25]). --set of one pins it."`
	Locks       []string          `yaml:"locks" doc:"Shared things the plan changes that no other plan may use at the same time under --parallel (e.g. longhorn-settings, node-drain); cluster: the plan runs alone."`
	Vars        Node              `yaml:"vars" doc:"Variables and their defaults; --values FILE, then --set name=value override them. Every expression can read them."`
	Timeout     Duration          `yaml:"timeout" doc:"Bound on the whole scenario, cleanup excluded (e.g. 2h)."`
	Cleanup     string            `yaml:"cleanup" enum:"always,on-success,never" doc:"When to delete what the scenario created (default always); --cleanup overrides."`
	Defaults    DefaultsSpec      `yaml:"defaults" doc:"Defaults for every step."`
	Steps       []Node            `yaml:"steps" required:"true" doc:"The steps, run in order. Each has exactly one step kind key."`
	Collect     *CollectSpec      `yaml:"collect" doc:"Evidence gathered when a step fails or times out, before cleanup, into --report-dir (default with --report-dir: events and the failed step's objects)."`
	Finally     []Node            `yaml:"finally" doc:"Steps run after the steps, whatever their outcome (also after Ctrl-C or a timeout, within the cleanup budget), before cleanup: e.g. remove a taint, scale back."`
}

// DefaultsSpec holds plan-wide defaults.
type DefaultsSpec struct {
	Timeout   Duration `yaml:"timeout" doc:"Per-step timeout unless a step sets its own (default 5m)."`
	Namespace string   `yaml:"namespace" doc:"Namespace for namespaced objects that name none (default: default)."`
}

// StepCommon are the keys every step may have beside its kind key.
type StepCommon struct {
	Name        string       `yaml:"name" doc:"A readable name; a default is derived from the step."`
	Timeout     Duration     `yaml:"timeout" doc:"Bound on this step (default: defaults.timeout)."`
	If          Expr         `yaml:"if" doc:"Run the step only when this boolean expression over vars and outputs holds; otherwise it is skipped, shown as skipped (if: ...)."`
	Collect     *CollectSpec `yaml:"collect" doc:"Evidence gathered when this step fails, added to the plan's collect."`
	ExpectError *ExpectError `yaml:"expectError" doc:"The step must fail with this error (apply, patch, delete, scale); succeeding fails it."`
}

// CollectSpec says what to gather when a step fails, before cleanup
// deletes the evidence. Secret values are never written.
type CollectSpec struct {
	Events    *bool           `yaml:"events" doc:"Events of the namespaces involved: those of the objects the plan touched and the failed step watched (default true)."`
	Objects   *bool           `yaml:"objects" doc:"The objects the failed step watched or acted on, as YAML (default true)."`
	PodLogs   []PodLogsSpec   `yaml:"podLogs" doc:"Logs of the pods a label selector matches (where the cluster has them: KWOK pods have none)."`
	Resources []SelectionSpec `yaml:"resources" doc:"Any other objects to keep as YAML, e.g. every Longhorn Volume."`
}

// PodLogsSpec selects pod logs to collect.
type PodLogsSpec struct {
	Namespace     string `yaml:"namespace" doc:"Namespace (default: defaults.namespace)."`
	LabelSelector string `yaml:"labelSelector" required:"true" doc:"Pods by label selector, e.g. app=nginx."`
	Container     string `yaml:"container" doc:"One container (default: every container)."`
	Tail          int    `yaml:"tail" doc:"Last lines of each log (default 200)."`
}

// SelectionSpec selects objects to collect.
type SelectionSpec struct {
	APIVersion    string `yaml:"apiVersion" doc:"API version, e.g. longhorn.io/v1beta2."`
	Kind          string `yaml:"kind" doc:"Kind, e.g. Volume."`
	Resource      string `yaml:"resource" doc:"Resource instead of apiVersion and kind, e.g. volumes.longhorn.io."`
	Namespace     string `yaml:"namespace" doc:"Namespace (default: every namespace)."`
	Name          string `yaml:"name" doc:"One object by name."`
	LabelSelector string `yaml:"labelSelector" doc:"Objects by label selector."`
}

// ExpectError says which error a step must fail with. Every key given must
// match; with none, any error does.
type ExpectError struct {
	Message string `yaml:"message" doc:"A substring of the error message, e.g. 'there are replicas using it'."`
	Pattern string `yaml:"pattern" doc:"A regular expression (RE2) the error message must match."`
	Reason  string `yaml:"reason" doc:"The API server's reason, e.g. Forbidden, Invalid, NotFound, AlreadyExists, Conflict."`
}

// Defaults are the resolved plan-wide defaults.
type Defaults struct {
	Timeout   time.Duration
	Namespace string
}

// Plan is a loaded, validated plan with every expression compiled.
type Plan struct {
	File        string
	Dir         string
	Name        string
	Description string
	// Vars are the final values of the variables (defaults, then overrides).
	Vars     eval.Values
	VarNames []string
	Timeout  time.Duration
	Cleanup  result.CleanupPolicy
	Defaults Defaults
	Steps    []*Step
	// Finally are run after Steps whatever their outcome.
	Finally []*Step
	// Collect is what to gather when a step fails (nil: the default).
	Collect *CollectSpec
	// Beside are plan-level blocks of Beside kinds (a measure), run along
	// Steps.
	Beside []*Step
	// Outputs are the names the plan's steps bind.
	Outputs []string
	// All are every step of the plan, nested ones included, in the order
	// they were built.
	All []*Step
	// Local are the steps (nested ones too) of kinds that run programs on
	// this machine (Kind.Local), as errors to show when that is not allowed.
	Local []*diag.Error
	// Files are the real paths of the files the plan read at load time
	// (file: manifests), each once; not the plan file itself.
	Files []string
	// Labels, Locks and Matrix are the plan's suite keys (see Cells).
	Labels map[string]string
	Locks  []string
	Matrix []Axis
	// ID names the cell: the plan's name, and for a cell of a matrix the
	// values it runs with (bi-scalability[replicas=25]).
	ID string
	// Cell holds the matrix values of this cell (nil for a plan without a
	// matrix, or before Cells).
	Cell map[string]any
}

// RefuseLocal is the error of a run of p that may not run local programs:
// nil when p has none, else an *InvalidError naming each such step.
func (p *Plan) RefuseLocal() error {
	if len(p.Local) == 0 {
		return nil
	}
	var errs diag.List
	for _, e := range p.Local {
		errs.Add(e)
	}
	return &InvalidError{File: p.File, Errs: errs.Err()}
}

// Step is one compiled step of a plan.
type Step struct {
	Name    string
	Kind    string
	Pos     diag.Pos
	Timeout time.Duration // zero: Defaults.Timeout
	Action  Action
	// If, when set, decides at run time whether the step runs.
	If *eval.Program
	// Expect, when set, is the error the step must fail with.
	Expect *expectation
	// Collect adds to the plan's collect when this step fails.
	Collect *CollectSpec
	// Local is set for kinds that run programs on this machine.
	Local bool
}
