package steps

import (
	"cmp"
	"context"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/scenario-runner/runner/engine"
	"github.com/scenario-runner/runner/engine/eval"
	"github.com/scenario-runner/runner/engine/manifest"
	"github.com/scenario-runner/runner/kube"
	"github.com/scenario-runner/runner/result"
)

// FieldManager is the server-side apply field manager of every apply.
const FieldManager = "runner"

// ApplySpec applies manifests with server-side apply.
type ApplySpec struct {
	Manifest engine.Text            `yaml:"manifest" doc:"Inline YAML, one or more documents separated by ---; strings may embed ${{ expr }}."`
	File     engine.Text            `yaml:"file" doc:"A manifest file or glob, relative to the plan file."`
	ForEach  engine.Expr            `yaml:"forEach" doc:"An expression yielding a list (e.g. 1..10); the manifest is applied once per element."`
	As       string                 `yaml:"as" doc:"Name of the forEach element in expressions (default item)."`
	Parallel engine.IntOrExpr       `yaml:"parallel" doc:"How many objects to apply at once (default 1 without forEach, 16 with it)."`
	Force    bool                   `yaml:"force" doc:"Take ownership of conflicting fields (server-side apply force)."`
	MaxItems int                    `yaml:"maxItems" doc:"Most forEach elements the step may render (default 100000); more is a step failure."`
	Outputs  map[string]engine.Expr `yaml:"outputs" doc:"Names bound for later steps, from expressions over objects (the applied objects as the server returned them)."`
	Restore  *bool                  `yaml:"restore" doc:"Put back, at cleanup, the fields this step set on objects that existed before the plan (default true)."`
}

// Describe implements engine.Describer.
func (s *ApplySpec) Describe() string {
	switch {
	case s.File.IsSet():
		return "apply " + s.File.Value
	case s.ForEach.IsSet():
		return "apply forEach " + strings.TrimSpace(s.ForEach.Src)
	}
	return "apply manifest"
}

type applyAction struct {
	restore  bool
	docs     []*manifest.Doc
	forEach  forEach
	parallel engine.IntValue
	force    bool
	maxItems int
	outputs  outputs
}

// ApplyDetail is an apply step's result: how many objects it applied.
type ApplyDetail struct {
	Objects int `json:"objects" doc:"Objects rendered."`
	Created int `json:"created"`
	Changed int `json:"changed" doc:"Objects that existed and were applied over."`
}

// Summary implements result.Detail.
func (d *ApplyDetail) Summary() string {
	return fmt.Sprintf("%d/%d applied (%d created, %d changed)", d.Created+d.Changed, d.Objects, d.Created, d.Changed)
}

// Properties implements result.Detail.
func (d *ApplyDetail) Properties() []result.Property {
	return []result.Property{
		{Name: "objects", Value: strconv.Itoa(d.Objects)}, {Name: "created", Value: strconv.Itoa(d.Created)},
		{Name: "changed", Value: strconv.Itoa(d.Changed)},
	}
}

// Build implements engine.Spec.
func (s *ApplySpec) Build(b *engine.Builder) (engine.Action, error) {
	a := &applyAction{force: s.Force, restore: s.Restore == nil || *s.Restore, maxItems: cmp.Or(s.MaxItems, DefaultMaxItems)}
	if s.MaxItems < 0 {
		b.Errorf(b.Here(), "maxItems must be positive, got %d", s.MaxItems)
	}
	var scope *eval.Scope
	a.forEach, scope = buildForEach(b, s.ForEach, s.As)
	a.docs = loadManifests(b, s.Manifest, s.File, scope)
	a.parallel = b.Int(s.Parallel, b.Scope())
	a.outputs = buildOutputs(b, s.Outputs)
	return a, nil
}

// DefaultMaxItems bounds a forEach unless the step sets maxItems: a list of
// a million elements renders gigabytes.
const DefaultMaxItems = 100_000

// nodesPerItem bounds what a step renders: elements × YAML nodes per element
// (aliases expanded) may not pass nodesPerItem × maxItems. A rendered node
// costs about 50 bytes: 4,000,000 of them (the default) about 200 MB.
const nodesPerItem = 40

// rendered is one object to apply and where it came from.
type rendered struct {
	obj  *unstructured.Unstructured
	doc  *manifest.Doc
	item string // the forEach element, for messages
}

func (r rendered) where() string {
	s := r.doc.Pos.String()
	if r.item != "" {
		s += ", " + r.item
	}
	return s
}

// render evaluates every document, once per forEach element.
func (a *applyAction) render(vals eval.Values) ([]rendered, error) {
	items, err := a.forEach.items(vals)
	if err != nil {
		return nil, err
	}
	if len(items) > a.maxItems {
		return nil, fmt.Errorf("forEach: %d elements, more than maxItems (%d); raise maxItems to allow it", len(items), a.maxItems)
	}
	nodes := 0
	for _, d := range a.docs {
		nodes += d.Nodes()
	}
	if total := len(items) * nodes; total > nodesPerItem*a.maxItems {
		return nil, fmt.Errorf("the step would render %d YAML nodes (%d elements × %d), more than %d × maxItems (%d); raise maxItems to allow it", total, len(items), nodes, nodesPerItem, a.maxItems)
	}
	meter := eval.NewMeter(eval.MaxStepBytes) // one budget for the whole step
	objs := make([]rendered, 0, len(items)*len(a.docs))
	for _, it := range items {
		v := it.vals.WithMeter(meter)
		for _, d := range a.docs {
			obj, err := d.Render(v)
			if err != nil {
				return nil, err
			}
			objs = append(objs, rendered{obj: obj, doc: d, item: it.label})
		}
	}
	return objs, nil
}

// Run implements engine.Action.
func (a *applyAction) Run(ctx context.Context, env *engine.Env) error {
	vals := env.Values()
	objs, err := a.render(vals)
	if err != nil {
		return err
	}
	parallel := 1
	if a.forEach.list != nil {
		parallel = 16
	}
	if a.parallel.IsSet() {
		if parallel, err = a.parallel.Eval(vals); err != nil {
			return fmt.Errorf("parallel: %w", err)
		}
		parallel = max(parallel, 1)
	}
	res := &ApplyDetail{Objects: len(objs)}
	env.Result.Detail = res
	applied := make([]map[string]any, len(objs))
	var done, created, changed atomic.Int64
	prog := newThrottle(100 * time.Millisecond)
	retries := &kube.Retries{}
	defer func() { env.Result.Retried, env.Result.LastRetried = retries.Count() }()
	var listed listedBefore
	if !env.DryRun {
		listed = listBefore(ctx, env, objs, retries)
	}
	err = forEachBounded(ctx, len(objs), parallel, func(ctx context.Context, i int) error {
		out, wasCreated, err := applyOne(ctx, env, objs[i].obj, a.force, a.restore, listed, retries)
		if err != nil {
			return fmt.Errorf("%s (%s): %w", describeObj(objs[i].obj), objs[i].where(), err)
		}
		applied[i] = out.Object
		if wasCreated {
			created.Add(1)
		} else {
			changed.Add(1)
		}
		n := int(done.Add(1))
		if prog.ready() || n == len(objs) {
			env.Progress(n, len(objs), "applied", 0)
		}
		return nil
	})
	res.Created, res.Changed = int(created.Load()), int(changed.Load())
	if err != nil {
		return err
	}
	return a.outputs.set(env, toAny(applied))
}

func toAny(objs []map[string]any) []any {
	out := make([]any, len(objs))
	for i, o := range objs {
		out[i] = o
	}
	return out
}

func describeObj(u *unstructured.Unstructured) string {
	if u.GetNamespace() == "" {
		return fmt.Sprintf("%s/%s", u.GetKind(), u.GetName())
	}
	return fmt.Sprintf("%s/%s/%s", u.GetKind(), u.GetNamespace(), u.GetName())
}

// applyOne server-side applies obj and records it for cleanup. The first
// time the plan touches an object it reads it (from listed when the step
// listed it, else with a GET): an absent one is recorded as being created
// before the request goes out (so cleanup deletes it even if the answer
// never comes), an existing one is kept as it was, for the restore, and
// gets its restore record (writeRecord) before the apply goes out. What
// the plan creates carries the run's labels (stamp). The read and the
// apply are retried after transient errors (kube.Retry; server-side apply
// is idempotent), counted in retries (may be nil).
func applyOne(ctx context.Context, env *engine.Env, obj *unstructured.Unstructured, force, restore bool, listed listedBefore, retries *kube.Retries) (*unstructured.Unstructured, bool, error) {
	m, err := env.Cluster.Mapping(ctx, obj.GroupVersionKind())
	if err != nil {
		return nil, false, err
	}
	if err := placeNamespace(obj, m, env.Defaults.Namespace); err != nil {
		return nil, false, err
	}
	if obj.GetName() == "" && obj.GetGenerateName() != "" {
		return createGenerated(ctx, env, obj, m)
	}
	opts := metav1.ApplyOptions{FieldManager: FieldManager, Force: force}
	if env.DryRun {
		opts.DryRun = []string{metav1.DryRunAll}
	}
	ref := kube.Ref(m.Resource, obj.GetKind(), obj.GetNamespace(), obj.GetName())
	var before map[string]any
	var paths [][]string // what the apply sets, and the restore record's marks
	absent := false      // read as absent just now: this apply creates it
	if !env.DryRun {
		known := env.Recorder.Known(ref)
		err := kube.Retry(ctx, retries, func(ctx context.Context) error {
			var err error
			before, err = readBefore(ctx, env, ref, true, listed)
			return err
		})
		if err != nil {
			return nil, false, err
		}
		absent = !known && before == nil
		if seq, owned := env.Recorder.Owned(ref); owned {
			obj = stamp(obj, env, seq)
		} else if paths, err = writeRecord(ctx, env, ref, before, engine.LeafPaths(obj.Object), restore, retries); err != nil {
			return nil, false, err
		}
	}
	var out *unstructured.Unstructured
	var wasCreated bool
	err = kube.Retry(ctx, retries, func(ctx context.Context) error {
		var err error
		if ap, ok := env.Cluster.(applier); ok {
			out, wasCreated, err = ap.Apply(ctx, m, obj, opts)
		} else {
			out, err = env.Cluster.Dynamic().Resource(m.Resource).Namespace(obj.GetNamespace()).Apply(ctx, obj.GetName(), obj, opts)
			wasCreated = err == nil && createdByUs(out)
		}
		return err
	})
	if apierrors.IsConflict(err) && !force {
		// Server-side apply's field conflict names the fields, not the way out.
		return nil, false, fmt.Errorf("%w (another field manager owns them: add force: true to the step to take them over)", err)
	}
	if err != nil {
		return nil, false, err
	}
	if !env.DryRun {
		if absent && !wasCreated {
			// Someone else created it between the read and the apply: the
			// run counts it as its own (it carries the run's labels now).
			env.Log.Warn().Str("object", ref.String()).Msg("existed when applied although it was absent when read before: another client created it meanwhile; cleanup deletes it as the run's")
		}
		if paths == nil {
			paths = engine.LeafPaths(obj.Object)
		}
		recordChange(env, ref, wasCreated, before, paths, restore)
	}
	return out, wasCreated, nil
}

// stamp returns a copy of obj carrying the run's marks: the labels
// kube.RunLabel and kube.PlanLabel and the annotation kube.SeqAnnotation
// (its place in the run's order of creation), so that `runner cleanup`
// finds what a run that never reached its cleanup created, and deletes it
// newest first. Only objects the plan creates get them: an object that
// existed before is not the run's to delete. Every apply of an object the
// plan owns stamps it, as server-side apply drops fields its manager
// stops sending.
func stamp(obj *unstructured.Unstructured, env *engine.Env, seq int) *unstructured.Unstructured {
	obj = obj.DeepCopy()
	l := obj.GetLabels()
	if l == nil {
		l = map[string]string{}
	}
	l[kube.RunLabel] = env.RunID
	l[kube.PlanLabel] = kube.PlanLabelValue(env.Plan)
	obj.SetLabels(l)
	a := obj.GetAnnotations()
	if a == nil {
		a = map[string]string{}
	}
	a[kube.SeqAnnotation] = strconv.Itoa(seq)
	obj.SetAnnotations(a)
	return obj
}

// readBefore reads ref the first time the plan touches it, from listed when
// the step listed it (may be nil), else with a GET: the object when it
// exists; nil when absent, then recorded as being created if the step
// creates what is absent (apply).
func readBefore(ctx context.Context, env *engine.Env, ref result.ObjectRef, creates bool, listed listedBefore) (map[string]any, error) {
	if env.Recorder.Known(ref) {
		return nil, nil
	}
	if cur, ok := listed[ref]; ok {
		if cur == nil && creates {
			env.Recorder.Creating(ref)
		}
		return cur, nil
	}
	cur, err := env.Cluster.Dynamic().Resource(kube.GVR(ref)).Namespace(ref.Namespace).Get(ctx, ref.Name, metav1.GetOptions{})
	switch {
	case apierrors.IsNotFound(err) && creates:
		env.Recorder.Creating(ref)
		return nil, nil
	case apierrors.IsNotFound(err):
		return nil, nil // the step's own request says so
	case err != nil:
		return nil, fmt.Errorf("reading %s before changing it: %w", ref, err)
	}
	return cur.Object, nil
}

// recordChange tells the recorder what a step did to ref.
func recordChange(env *engine.Env, ref result.ObjectRef, created bool, before map[string]any, paths [][]string, restore bool) {
	switch {
	case created:
		env.Recorder.Created(ref)
	case !restore:
		env.Recorder.Keep(ref, before, paths)
	default:
		env.Recorder.Changed(ref, before, paths)
	}
}

// createGenerated creates an object named by generateName (server-side
// apply needs a name).
func createGenerated(ctx context.Context, env *engine.Env, obj *unstructured.Unstructured, m *meta.RESTMapping) (*unstructured.Unstructured, bool, error) {
	opts := metav1.CreateOptions{FieldManager: FieldManager}
	if env.DryRun {
		opts.DryRun = []string{metav1.DryRunAll}
	} else {
		seq, _ := env.Recorder.Owned(result.ObjectRef{})
		obj = stamp(obj, env, seq)
	}
	out, err := env.Cluster.Dynamic().Resource(m.Resource).Namespace(obj.GetNamespace()).Create(ctx, obj, opts)
	if err != nil {
		return nil, false, err
	}
	if !env.DryRun {
		env.Recorder.Created(refOf(out, m))
	}
	return out, true, nil
}

// placeNamespace gives namespaced objects the default namespace and refuses
// a namespace on cluster-scoped ones.
func placeNamespace(obj *unstructured.Unstructured, m *meta.RESTMapping, def string) error {
	namespaced := m.Scope.Name() == meta.RESTScopeNameNamespace
	switch {
	case namespaced && obj.GetNamespace() == "":
		obj.SetNamespace(def)
	case !namespaced && obj.GetNamespace() != "":
		return fmt.Errorf("%s is cluster-scoped: remove metadata.namespace %q", m.GroupVersionKind.Kind, obj.GetNamespace())
	}
	return nil
}

// applier is implemented by clusters that can tell a creation from a change
// when they apply (kube.Client does, from the HTTP status).
type applier interface {
	Apply(ctx context.Context, m *meta.RESTMapping, obj *unstructured.Unstructured, opts metav1.ApplyOptions) (*unstructured.Unstructured, bool, error)
}

// createdByUs is the fallback for clusters that cannot: an object that only
// our field manager has ever written was created by us (now, or by an
// earlier run that left it behind).
func createdByUs(u *unstructured.Unstructured) bool {
	mf := u.GetManagedFields()
	if len(mf) == 0 {
		return false
	}
	for _, f := range mf {
		if f.Manager != FieldManager {
			return false
		}
	}
	return true
}

func refOf(u *unstructured.Unstructured, m *meta.RESTMapping) result.ObjectRef {
	return kube.Ref(m.Resource, u.GetKind(), u.GetNamespace(), u.GetName())
}

// forEachBounded runs fn for 0..n-1 with at most parallel at once and stops
// at the first error, which it returns. After an error no new item starts,
// but the items already running finish with ctx, not cancelled: a request
// cancelled on the client may still be carried out by the API server after
// the step returned, and an object it creates then would escape cleanup
// (found by TestInvalidObjectInForEachLeavesNothing). ctx itself (Ctrl-C,
// the step's timeout) still cancels everything.
func forEachBounded(ctx context.Context, n, parallel int, fn func(context.Context, int) error) error {
	var wg sync.WaitGroup
	var once sync.Once
	var first error
	failed := make(chan struct{})
	next := make(chan int)
	for range min(parallel, max(n, 1)) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range next {
				select {
				case <-failed: // handed over as it failed: not started
					continue
				default:
				}
				if err := fn(ctx, i); err != nil {
					once.Do(func() { first = err; close(failed) })
				}
			}
		}()
	}
feed:
	for i := range n {
		select {
		case next <- i:
		case <-failed:
			break feed
		case <-ctx.Done():
			break feed
		}
	}
	close(next)
	wg.Wait()
	if first != nil {
		return first
	}
	return context.Cause(ctx)
}

// throttle says yes at most once per interval.
type throttle struct {
	every time.Duration
	last  atomic.Int64
}

func newThrottle(every time.Duration) *throttle { return &throttle{every: every} }

func (t *throttle) ready() bool {
	now := time.Now().UnixNano()
	last := t.last.Load()
	return now-last >= int64(t.every) && t.last.CompareAndSwap(last, now)
}

func varName(s string) bool {
	if s == "" {
		return false
	}
	for i, r := range s {
		if r == '_' || (r >= 'a' && r <= 'z') || (r >= 'A' && r <= 'Z') || (i > 0 && r >= '0' && r <= '9') {
			continue
		}
		return false
	}
	return true
}
