package engine

import (
	"context"
	"slices"
	"sync"
	"time"

	"github.com/rs/zerolog"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/dynamic"

	"github.com/scenario-runner/runner/engine/eval"
	"github.com/scenario-runner/runner/kube"
	"github.com/scenario-runner/runner/redact"
	"github.com/scenario-runner/runner/result"
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

// Recorder is told about every object a step creates or changes, so that
// cleanup can delete the first and restore the second. A step records an
// object it is about to create before sending the request (Creating): a
// request whose answer never came (Ctrl-C, a timeout, a lost connection)
// may still have created it, and cleanup deletes it by name, NotFound
// being success.
type Recorder interface {
	// Known reports whether the plan has recorded ref already.
	Known(ref result.ObjectRef) bool
	// Creating records that the plan is about to create ref.
	Creating(ref result.ObjectRef)
	// Created records that the plan created ref.
	Created(ref result.ObjectRef)
	// Changed records that the plan changed ref, which it did not create:
	// before is the object before the change (the first one counts; nil
	// when the plan had recorded ref already) and paths are the fields the
	// change set (e.g. [spec replicas]); cleanup puts those fields back to
	// their values before the plan's first change.
	Changed(ref result.ObjectRef, before map[string]any, paths [][]string)
	// Keep records that the plan changed paths of ref and must not put
	// them back (restore: false); other changes are still restored.
	Keep(ref result.ObjectRef, before map[string]any, paths [][]string)
	// Owned reports whether the plan created ref or is creating it, and
	// its place in the run's order of creation (1, 2, ...), for the
	// kube.SeqAnnotation a step puts on what it creates. An empty name (an
	// object named by generateName) gets the next place.
	Owned(ref result.ObjectRef) (seq int, owned bool)
	// Restoring returns the merge patch cleanup would send to put ref back
	// if a change to paths were recorded too, before being the object
	// before this change (the first recorded one wins), for the restore
	// record a step leaves on the object (kube.RestoreAnnotation).
	Restoring(ref result.ObjectRef, before map[string]any, paths [][]string) map[string]any
}

// Observer hears about steps as they run (live progress, reports).
type Observer interface {
	StepStarted(s *result.Step)
	StepProgress(s *result.Step, p result.Progress)
	StepFinished(s *result.Step)
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
	Result *result.Step
	// RunID and Plan name the run; a step labels what it creates with them
	// (kube.RunLabel, kube.PlanLabel).
	RunID, Plan string

	run *run
}

// Redact returns the run's redaction set: what its messages and files
// must mask. Secrets a step reads are added to it.
func (e *Env) Redact() *redact.Set { return e.run.redact }

// Values returns the variables and the outputs set so far.
func (e *Env) Values() eval.Values { return e.run.values() }

// SetOutput binds name for the steps that follow.
func (e *Env) SetOutput(name string, v any) { e.run.setOutput(name, v) }

// Progress reports how far the step has got.
func (e *Env) Progress(done, total int, unit string, matched int) {
	p := result.Progress{Time: time.Now(), Done: done, Total: total, Unit: unit, Matched: matched}
	e.Result.AddProgress(p)
	if e.run.observer != nil {
		e.run.observer.StepProgress(e.Result, p)
	}
}

// RunSteps runs nested steps (a timeProbe's) in order, each under its own
// timeout; their results become children of this step's result. Each call
// is one run of them: the children carry its number (Step.Run), so that
// summaries can show the last run of a repeated step.
func (e *Env) RunSteps(ctx context.Context, steps []*Step) error {
	e.Result.Runs++
	for _, s := range steps {
		err := e.run.step(ctx, s, &e.Result.Steps)
		e.Result.Steps[len(e.Result.Steps)-1].Run = e.Result.Runs
		if err != nil {
			return err
		}
	}
	return nil
}

// Watch records that the step acts on or watches the objects of sel, so
// that a failure's diagnostics include them.
func (e *Env) Watch(sel kube.Selection) { e.run.watch(e.Result, sel) }

// Memo returns the value kept under key for this run of the plan, made by
// init the first time: state a step keeps across its repeats (an inner
// timeProbe's samples over every run of the outer one).
func (e *Env) Memo(key any, init func() any) any {
	v, _ := e.run.memo.LoadOrStore(key, sync.OnceValue(init))
	return v.(func() any)()
}

// values and outputs shared by the steps of one run.
type run struct {
	memo     sync.Map // key -> func() any (sync.OnceValue)
	watchMu  sync.Mutex
	watched  map[*result.Step][]kube.Selection
	mu       sync.RWMutex
	vals     eval.Values
	observer Observer
	env      Env // template for each step's env
	// allowLocal lets Local kinds run (RunOptions.AllowLocal).
	allowLocal bool
	// redact is the run's redaction set (RunOptions.Redact).
	redact *redact.Set
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

func (r *run) watch(s *result.Step, sel kube.Selection) {
	r.watchMu.Lock()
	defer r.watchMu.Unlock()
	if r.watched == nil {
		r.watched = map[*result.Step][]kube.Selection{}
	}
	if !slices.Contains(r.watched[s], sel) {
		r.watched[s] = append(r.watched[s], sel)
	}
}

// watchedBy lists what s and its nested steps watched.
func (r *run) watchedBy(s *result.Step) []kube.Selection {
	r.watchMu.Lock()
	out := slices.Clone(r.watched[s])
	r.watchMu.Unlock()
	for _, c := range s.Steps {
		for _, w := range r.watchedBy(c) {
			if !slices.Contains(out, w) {
				out = append(out, w)
			}
		}
	}
	return out
}
