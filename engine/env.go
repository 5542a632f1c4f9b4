package engine

import (
	"context"
	"sync"
	"time"

	"github.com/rs/zerolog"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/dynamic"

	"github.com/scenario-runner/runner/engine/eval"
)

// Cluster is what steps use of a cluster: the dynamic client and a REST
// mapper that learns new kinds (a CRD created earlier in the same plan).
type Cluster interface {
	Dynamic() dynamic.Interface
	// Mapping finds the REST mapping of gvk, refreshing discovery when the
	// kind is not known yet and waiting (bounded by ctx) for it to be served.
	Mapping(ctx context.Context, gvk schema.GroupVersionKind) (*meta.RESTMapping, error)
	// ResourceMapping resolves a resource name such as "pods" or
	// "backingimages.longhorn.io" (optionally "backingimages.v1beta2.longhorn.io").
	ResourceMapping(ctx context.Context, resource string) (*meta.RESTMapping, error)
}

// ObjectRef names one object the plan touched.
type ObjectRef struct {
	GVR        schema.GroupVersionResource `json:"-"`
	APIVersion string                      `json:"apiVersion"`
	Kind       string                      `json:"kind"`
	Namespace  string                      `json:"namespace,omitempty"`
	Name       string                      `json:"name"`
}

func (r ObjectRef) String() string {
	if r.Namespace == "" {
		return r.Kind + "/" + r.Name
	}
	return r.Kind + "/" + r.Namespace + "/" + r.Name
}

// Recorder is told about every object a step created or changed, so that
// cleanup can delete the first and list the second.
type Recorder interface {
	Created(ref ObjectRef)
	Changed(ref ObjectRef)
}

// Observer hears about steps as they run (live progress, reports).
type Observer interface {
	StepStarted(s *StepResult)
	StepProgress(s *StepResult, p Progress)
	StepFinished(s *StepResult)
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

// Env is what a step sees while it runs.
type Env struct {
	Cluster  Cluster
	Log      zerolog.Logger
	Recorder Recorder
	Defaults Defaults
	// DryRun asks applies to be server-side dry runs, and other steps to do
	// nothing that changes the cluster.
	DryRun bool
	// Result is this step's entry in the run result; kinds fill their details.
	Result *StepResult

	run *run
}

// Values returns the variables and the outputs set so far.
func (e *Env) Values() eval.Values { return e.run.values() }

// SetOutput binds name for the steps that follow.
func (e *Env) SetOutput(name string, v any) { e.run.setOutput(name, v) }

// Progress reports how far the step has got.
func (e *Env) Progress(done, total int, unit string, matched int) {
	p := Progress{Time: time.Now(), Done: done, Total: total, Unit: unit, Matched: matched}
	e.Result.addProgress(p)
	if e.run.observer != nil {
		e.run.observer.StepProgress(e.Result, p)
	}
}

// RunSteps runs nested steps (a timeProbe's) in order, each under its own
// timeout; their results become children of this step's result.
func (e *Env) RunSteps(ctx context.Context, steps []*Step) error {
	for _, s := range steps {
		if err := e.run.step(ctx, s, &e.Result.Steps); err != nil {
			return err
		}
	}
	return nil
}

// values and outputs shared by the steps of one run.
type run struct {
	mu       sync.RWMutex
	vals     eval.Values
	observer Observer
	env      Env // template for each step's env
}

func (r *run) values() eval.Values {
	r.mu.RLock()
	defer r.mu.RUnlock()
	return r.vals
}

func (r *run) setOutput(name string, v any) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.vals = r.vals.With(name, v)
}
