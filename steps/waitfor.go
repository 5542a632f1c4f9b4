package steps

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/tools/cache"

	"github.com/scenario-runner/runner/engine"
	"github.com/scenario-runner/runner/engine/diag"
	"github.com/scenario-runner/runner/engine/eval"
	"github.com/scenario-runner/runner/redact"
	"github.com/scenario-runner/runner/result"
)

// WaitForSpec is the YAML shape of a waitFor step: watch the objects of a
// target until a condition holds for all of them (the default), any, at
// least count, or exactly a number of them; optionally for a while.
type WaitForSpec struct {
	Target    `yaml:",inline"`
	Condition engine.Expr            `yaml:"condition" required:"true" doc:"Expression over one object, bound as object, e.g. object.status?.phase == \"Running\". An error (a missing field read without ?.) counts as false."`
	All       engine.Flag            `yaml:"all" doc:"Every matched object must satisfy the condition, and at least min must exist (the default)."`
	Any       engine.Flag            `yaml:"any" doc:"One satisfying object is enough."`
	Count     engine.IntOrExpr       `yaml:"count" doc:"At least this many objects must satisfy the condition (a number or an expression)."`
	Exactly   engine.IntOrExpr       `yaml:"exactly" doc:"Exactly this many objects must satisfy the condition (a number or an expression)."`
	Min       engine.IntOrExpr       `yaml:"min" doc:"With all: at least this many objects must exist (default 1)."`
	HoldFor   engine.Duration        `yaml:"holdFor" doc:"Once satisfied, the condition must keep holding this long without a break (e.g. 60s)."`
	Outputs   map[string]engine.Expr `yaml:"outputs" doc:"Outputs for later steps: expressions over objects, the satisfied objects sorted by namespace and name."`
}

// Describe implements engine.Describer.
func (s *WaitForSpec) Describe() string { return "waitFor " + s.Target.describe() }

// quantKind is how many objects must satisfy a waitFor's condition.
type quantKind int

const (
	quantAll quantKind = iota
	quantAny
	quantCount
	quantExactly
)

func (k quantKind) String() string { return [...]string{"all", "any", "count", "exactly"}[k] }

// waitForAction is a compiled waitFor.
type waitForAction struct {
	target  *boundTarget
	cond    *eval.Program
	paths   [][]string
	kind    quantKind
	n, min  engine.IntValue
	holdFor time.Duration
	outputs outputs
	// proj is what the wait keeps of each object: what the condition and
	// the outputs read.
	proj projection
}

// Build implements engine.Spec.
func (s *WaitForSpec) Build(b *engine.Builder) (engine.Action, error) {
	a := &waitForAction{target: s.Target.build(b, b.Scope(), false), holdFor: s.HoldFor.Duration}
	keepManagedFields := strings.Contains(s.Condition.Src, "managedFields")
	for _, o := range s.Outputs {
		keepManagedFields = keepManagedFields || strings.Contains(o.Src, "managedFields")
	}
	a.cond = b.Compile(s.Condition, b.Scope().With("object", map[string]any{}), eval.Bool)
	var reads eval.Reads
	if a.cond != nil {
		a.paths = a.cond.Paths("object")
		reads = a.cond.Reads("object") // the timeout message's paths are among them
	}

	// Quantifiers, in the order written; errors point at the value.
	type quant struct {
		key string
		pos diag.Pos
	}
	var set []quant
	for _, f := range []struct {
		key string
		on  engine.Flag
	}{{"all", s.All}, {"any", s.Any}} {
		switch {
		case !f.on.IsSet():
		case !f.on.Value:
			b.Errorf(f.on.Pos, "%s: false means nothing: leave it out, or choose one of all: true, any: true, count: N, exactly: N", f.key)
		default:
			set = append(set, quant{f.key, f.on.Pos})
		}
	}
	for _, f := range []struct {
		key string
		v   engine.IntOrExpr
	}{{"count", s.Count}, {"exactly", s.Exactly}} {
		if f.v.IsSet() {
			set = append(set, quant{f.key, f.v.Pos})
		}
	}
	slices.SortFunc(set, func(x, y quant) int { return x.pos.Compare(y.pos) })
	if len(set) > 1 {
		b.Errorf(set[1].pos, "give at most one of all, any, count and exactly: this step has %s and %s", set[0].key, set[1].key)
	}
	scope := b.Scope()
	switch {
	case s.Any.On():
		a.kind = quantAny
	case s.Count.IsSet():
		a.kind, a.n = quantCount, b.Int(s.Count, scope)
		checkLiteral(b, s.Count, "count", 1)
	case s.Exactly.IsSet():
		a.kind, a.n = quantExactly, b.Int(s.Exactly, scope)
		checkLiteral(b, s.Exactly, "exactly", 0)
	}
	if s.Min.IsSet() {
		if a.kind != quantAll {
			b.Errorf(s.Min.Expr.Pos, "min goes with all (at least min objects must exist and all satisfy); it has no meaning with %s", a.kind)
		}
		a.min = b.Int(s.Min, scope)
		checkLiteral(b, s.Min, "min", 0)
	}
	a.outputs = buildOutputs(b, s.Outputs)
	for _, o := range a.outputs {
		reads = reads.Add(o.ElemReads("objects"))
	}
	a.proj = newProjection(reads, keepManagedFields)
	return a, nil
}

func checkLiteral(b *engine.Builder, v engine.IntOrExpr, key string, least int) {
	if !v.Expr.IsSet() && v.Literal < least {
		b.Errorf(v.Pos, "%s must be at least %d, got %d", key, least, v.Literal)
	}
}

// quantifier is a resolved quantifier: kind with its numbers.
type quantifier struct {
	kind quantKind
	n    int // count or exactly
	min  int // with all
}

func (a *waitForAction) quantifier(vals eval.Values) (quantifier, error) {
	q := quantifier{kind: a.kind, min: 1}
	var err error
	if a.n.IsSet() {
		if q.n, err = a.n.Eval(vals); err != nil {
			return q, fmt.Errorf("%s: %w", a.kind, err)
		}
		least := 0
		if a.kind == quantCount {
			least = 1
		}
		if q.n < least {
			return q, fmt.Errorf("%s must be at least %d, got %d", a.kind, least, q.n)
		}
	}
	if a.min.IsSet() {
		if q.min, err = a.min.Eval(vals); err != nil {
			return q, fmt.Errorf("min: %w", err)
		}
		if q.min < 0 {
			return q, fmt.Errorf("min must be at least 0, got %d", q.min)
		}
	}
	return q, nil
}

// Run implements engine.Action. It runs one informer (one LIST, then one
// WATCH, re-listing only when the watch expires) and evaluates the condition
// for each object as it changes, keeping a running count of the satisfied
// ones, so each event costs the same however many objects match.
func (a *waitForAction) Run(ctx context.Context, env *engine.Env) error {
	rt, err := a.target.resolve(ctx, env)
	if err != nil {
		return err
	}
	env.Watch(rt.selection())
	vals := env.Values()
	q, err := a.quantifier(vals)
	if err != nil {
		return err
	}
	w := newWaiter(a.cond, a.paths, q, a.holdFor, rt, vals)
	w.proj = a.proj
	detail := &WaitDetail{Quantifier: q.kind.String()}
	env.Result.Detail = detail
	defer func() { w.fillResult(detail) }()

	ictx, stop := context.WithCancel(ctx)
	stopped, err := w.start(ictx, env)
	if err != nil {
		stop()
		return err
	}
	defer func() {
		stop()
		select {
		case <-stopped:
		case <-time.After(informerStopWait):
		}
	}()
	env.Log.Debug().Str("target", rt.String()).Msg("watching")

	tick := time.NewTicker(progressEvery)
	defer tick.Stop()
	var hold <-chan time.Time
	last := [2]int{-1, -1}
	progress := func(always bool) {
		sat, need, matched := w.counts()
		if always || [2]int{sat, matched} != last {
			last = [2]int{sat, matched}
			env.Progress(sat, need, "satisfied", matched)
		}
	}
	defer progress(true)
	for {
		select {
		case <-ctx.Done():
			return w.timeoutError()
		case <-tick.C:
			progress(false)
		case <-w.changed:
			objects, since, held, broke := w.state(len(a.outputs) > 0)
			switch {
			case broke != "":
				return errors.New(broke)
			case !held:
			case a.holdFor == 0:
				return a.outputs.set(env, objects)
			case hold == nil:
				hold = time.After(a.holdFor - time.Since(since))
			}
		case <-hold:
			objects, _, held, broke := w.state(len(a.outputs) > 0)
			if broke != "" {
				return errors.New(broke)
			}
			if held {
				return a.outputs.set(env, objects)
			}
		}
	}
}

// progressEvery bounds how often a wait reports progress.
const progressEvery = 100 * time.Millisecond

// waiter holds what a waitFor knows of its objects. The informer's handlers
// update it one event at a time; the step's goroutine reads it.
type waiter struct {
	cond    *eval.Program
	paths   [][]string
	q       quantifier
	holdFor time.Duration
	target  resolvedTarget
	sel     labels.Selector
	label   string // lower-case kind, for object names in messages
	vals    eval.Values
	changed chan struct{} // the quantifier started or stopped holding
	// proj is the informer's transform: the objects held (by the
	// informer's store and objs alike) are projected.
	proj projection

	mu        sync.Mutex
	objs      map[objKey]*waitObj
	satisfied int
	synced    bool
	held      bool
	everHeld  bool
	since     time.Time // when the quantifier last started holding
	broke     string    // why a holdFor failed
	apiErr    error     // last list or watch error
}

// waitObj is the latest version of one object (projected: what the wait
// reads of it, as the informer holds it) and its condition's reading.
type waitObj struct {
	*heldObject
	ok  bool
	err error // the condition's error, if it failed
}

func newWaiter(cond *eval.Program, paths [][]string, q quantifier, holdFor time.Duration, rt resolvedTarget, vals eval.Values) *waiter {
	sel, err := labels.Parse(rt.LabelSelector)
	if err != nil {
		sel = labels.Everything() // resolve checked it already
	}
	return &waiter{
		cond: cond, paths: paths, q: q, holdFor: holdFor, target: rt, sel: sel,
		label: strings.ToLower(rt.Mapping.GroupVersionKind.Kind),
		vals:  vals.With("object", nil), changed: make(chan struct{}, 1),
		objs: map[objKey]*waitObj{},
	}
}

// informer is client-go's dynamic informer (dynamicinformer's
// NewFilteredDynamicInformer, built the same way) whose list and watch
// calls record their errors in w.apiErr: the reflector retries a refused
// connection inside its watch-list loop without calling the watch error
// handler, so the handler alone never sees an API server that is down.
func (w *waiter) informer(env *engine.Env, rt resolvedTarget, fieldSel string) cache.SharedIndexInformer {
	ri := env.Cluster.Dynamic().Resource(rt.GVR).Namespace(rt.Namespace)
	tweak := func(o metav1.ListOptions) metav1.ListOptions {
		o.LabelSelector, o.FieldSelector = rt.LabelSelector, fieldSel
		return o
	}
	record := func(err error) {
		if err == nil || errors.Is(err, context.Canceled) {
			return
		}
		w.mu.Lock()
		w.apiErr = err
		w.mu.Unlock()
	}
	lw := &cache.ListWatch{
		ListWithContextFunc: func(ctx context.Context, o metav1.ListOptions) (runtime.Object, error) {
			l, err := ri.List(ctx, tweak(o))
			record(err)
			return l, err
		},
		WatchFuncWithContext: func(ctx context.Context, o metav1.ListOptions) (watch.Interface, error) {
			wi, err := ri.Watch(ctx, tweak(o))
			record(err)
			return wi, err
		},
	}
	return cache.NewSharedIndexInformerWithOptions(cache.ToListWatcherWithWatchListSemantics(lw, env.Cluster.Dynamic()),
		&unstructured.Unstructured{}, cache.SharedIndexInformerOptions{ObjectDescription: rt.GVR.String()})
}

// informerStopWait bounds how long a finished wait waits for its informer
// to return: client-go's reflector sleeps out its backoff without looking
// at the stop channel (6-12 s against an API server that is down), and a
// wait must end on time. Handlers that run later only update w, under its
// lock, after the step has read it.
const informerStopWait = 200 * time.Millisecond

// start runs the informer until ctx ends; the channel is closed when it has
// stopped.
func (w *waiter) start(ctx context.Context, env *engine.Env) (<-chan struct{}, error) {
	rt := w.target
	fieldSel := rt.FieldSelector
	if rt.Name != "" {
		fieldSel = fields.OneTermEqualSelector("metadata.name", rt.Name).String()
	}
	inf := w.informer(env, rt, fieldSel)
	// The transform keeps only what the expressions read (and drops
	// managedFields unless they are read): see project.go.
	if err := inf.SetTransform(w.proj.transform); err != nil {
		return nil, err
	}
	if err := inf.SetWatchErrorHandlerWithContext(func(_ context.Context, _ *cache.Reflector, err error) {
		if errors.Is(err, io.EOF) || apierrors.IsResourceExpired(err) || apierrors.IsGone(err) || ctx.Err() != nil {
			return // the informer re-lists; nothing to report
		}
		env.Log.Debug().Err(err).Str("target", rt.String()).Msg("list/watch failed; retrying")
		w.mu.Lock()
		w.apiErr = err
		w.mu.Unlock()
	}); err != nil {
		return nil, err
	}
	reg, err := inf.AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    func(obj any) { w.upsert(obj) },
		UpdateFunc: func(_, obj any) { w.upsert(obj) },
		DeleteFunc: w.remove,
	})
	if err != nil {
		return nil, err
	}
	stopped := make(chan struct{})
	go func() {
		defer close(stopped)
		inf.RunWithContext(ctx)
	}()
	go func() {
		select {
		case <-reg.HasSyncedChecker().Done():
			w.mu.Lock()
			w.synced = true
			w.check(nil, "")
			w.mu.Unlock()
		case <-ctx.Done():
		}
	}()
	return stopped, nil
}

// upsert handles an added or updated object: it evaluates the condition for
// that object alone and adjusts the running counts.
func (w *waiter) upsert(obj any) {
	h, ok := obj.(*heldObject)
	if !ok {
		return
	}
	u := &unstructured.Unstructured{Object: h.object()}
	// The server filters by name and labels; checking again costs little and
	// drops an object whose labels changed under a watch that did not.
	if (w.target.Name != "" && h.name != w.target.Name) || !w.sel.Matches(objLabels(u.Object)) {
		w.remove(obj)
		return
	}
	w.vals["object"] = u.Object
	sat, err := w.cond.Bool(w.vals)
	key := objKey{h.ns, h.name}

	w.mu.Lock()
	defer w.mu.Unlock()
	o := w.objs[key]
	if o == nil {
		o = &waitObj{}
		w.objs[key] = o
	}
	if o.ok {
		w.satisfied--
	}
	o.heldObject, o.ok, o.err = h, sat, err
	if o.ok {
		w.satisfied++
	}
	w.check(o, "")
}

// remove handles a deleted object.
func (w *waiter) remove(obj any) {
	if t, ok := obj.(cache.DeletedFinalStateUnknown); ok {
		obj = t.Obj
	}
	h, ok := obj.(*heldObject)
	if !ok {
		return
	}
	key := objKey{h.ns, h.name}
	w.mu.Lock()
	defer w.mu.Unlock()
	o := w.objs[key]
	if o == nil {
		return
	}
	delete(w.objs, key)
	if o.ok {
		w.satisfied--
	}
	w.check(o, "was deleted")
}

// objKey identifies an object of the target.
type objKey struct{ ns, name string }

// objLabels reads an object's labels in place, for a selector.
type objLabels map[string]any

func (o objLabels) labels() map[string]any {
	m, _ := o["metadata"].(map[string]any)
	l, _ := m["labels"].(map[string]any)
	return l
}

// Has implements labels.Labels.
func (o objLabels) Has(key string) bool { _, ok := o.labels()[key]; return ok }

// Get implements labels.Labels.
func (o objLabels) Get(key string) string { v, _ := o.labels()[key].(string); return v }

// Lookup implements labels.Labels.
func (o objLabels) Lookup(key string) (string, bool) {
	v, ok := o.labels()[key].(string)
	return v, ok
}

// check notes whether the quantifier holds after an event about o (nil for
// the end of the initial list), and tells the step's goroutine when that
// changed. Called with mu held.
func (w *waiter) check(o *waitObj, what string) {
	h := w.holds()
	if h == w.held {
		return
	}
	w.held = h
	switch {
	case h:
		w.since = time.Now()
	case w.everHeld && w.holdFor > 0 && w.broke == "" && o != nil:
		why := what
		if why == "" {
			why = w.reading(o)
		}
		w.broke = fmt.Sprintf("waiting for %s: the condition held for %s of holdFor %s, then broke: %s: %s; %s",
			w.target, result.RoundDuration(time.Since(w.since)), w.holdFor, w.objName(o), why, w.countsText())
	}
	w.everHeld = w.everHeld || h
	select {
	case w.changed <- struct{}{}:
	default:
	}
}

// holds reports whether the quantifier holds. Never before the initial list
// has been seen whole. Called with mu held.
func (w *waiter) holds() bool {
	if !w.synced {
		return false
	}
	switch w.q.kind {
	case quantAny:
		return w.satisfied >= 1
	case quantCount:
		return w.satisfied >= w.q.n
	case quantExactly:
		return w.satisfied == w.q.n
	}
	return len(w.objs) >= w.q.min && w.satisfied == len(w.objs)
}

// needed is the number of satisfied objects the quantifier asks for.
// Called with mu held.
func (w *waiter) needed() int {
	switch w.q.kind {
	case quantAny:
		return 1
	case quantCount, quantExactly:
		return w.q.n
	}
	return max(len(w.objs), w.q.min)
}

func (w *waiter) counts() (satisfied, needed, matched int) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.satisfied, w.needed(), len(w.objs)
}

// state returns the satisfied objects (sorted by namespace and name) when
// withObjects (the step has outputs to compute from them), since when the
// quantifier holds, whether it does, and why a holdFor broke. Without
// outputs it copies nothing: at 100,000 objects sorting and decoding them
// took ~0.5 s between "the condition holds" and "step passed".
func (w *waiter) state(withObjects bool) ([]any, time.Time, bool, string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if !w.held || w.broke != "" || !withObjects {
		return nil, w.since, w.held, w.broke
	}
	sat := make([]*waitObj, 0, w.satisfied)
	for _, o := range w.objs {
		if o.ok {
			sat = append(sat, o)
		}
	}
	sortObjs(sat)
	objects := make([]any, len(sat))
	for i, o := range sat {
		objects[i] = o.object()
	}
	return objects, w.since, true, ""
}

func sortObjs(list []*waitObj) {
	slices.SortFunc(list, func(a, b *waitObj) int {
		if c := strings.Compare(a.ns, b.ns); c != 0 {
			return c
		}
		return strings.Compare(a.name, b.name)
	})
}

// maxUnmet bounds the objects a failed wait lists.
const maxUnmet = 10

// unmet lists up to maxUnmet objects that keep the quantifier from holding,
// with what the condition read, and how many more there are. Called with mu
// held.
func (w *waiter) unmet() ([]string, int) {
	want := false // list unsatisfied objects
	if w.q.kind == quantExactly && w.satisfied > w.q.n {
		want = true // too many satisfy: list those
	}
	var list []*waitObj
	for _, o := range w.objs {
		if o.ok == want {
			list = append(list, o)
		}
	}
	sortObjs(list)
	more := max(0, len(list)-maxUnmet)
	list = list[:len(list)-more]
	out := make([]string, len(list))
	for i, o := range list {
		out[i] = w.objName(o)
		if r := w.reading(o); r != "" {
			out[i] += ": " + r
		}
	}
	return out, more
}

// countsText words the counts, e.g. "3 matched, 1 satisfied, need all 3
// (and at least 1)". Called with mu held.
func (w *waiter) countsText() string {
	var need string
	switch w.q.kind {
	case quantAny, quantCount:
		need = fmt.Sprintf("at least %d", w.needed())
	case quantExactly:
		need = fmt.Sprintf("exactly %d", w.q.n)
	default:
		need = fmt.Sprintf("all %d (and at least %d)", len(w.objs), w.q.min)
	}
	return fmt.Sprintf("%d matched, %d satisfied, need %s", len(w.objs), w.satisfied, need)
}

// timeoutError says what the wait last saw:
//
//	waiting for <target>: <m> matched, <s> satisfied, need <need>[; the
//	initial list was not complete][; <held for ...>][; not satisfied|too many
//	satisfied: <object>: <path> = <value>, ...; ...[; and <k> more]][; last
//	error from the API server: <error>]
//
// where <need> is "all <m> (and at least <min>)", "at least <n>" (any,
// count) or "exactly <n>", and <object> is "<kind>/<name>" (with " in
// <namespace>" when the target spans namespaces).
func (w *waiter) timeoutError() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	var b strings.Builder
	fmt.Fprintf(&b, "waiting for %s: %s", w.target, w.countsText())
	if !w.synced {
		b.WriteString("; the initial list was not complete")
	}
	if w.held && w.holdFor > 0 {
		fmt.Fprintf(&b, "; the condition had held for %s of holdFor %s", result.RoundDuration(time.Since(w.since)), w.holdFor)
	}
	if read := w.varsRead(); read != "" {
		fmt.Fprintf(&b, "; the condition read %s", read)
	}
	if w.apiErr != nil {
		fmt.Fprintf(&b, "; last error from the API server: %v", w.apiErr)
	}
	if list, more := w.unmet(); len(list) > 0 && !w.held {
		what := "not satisfied"
		if w.q.kind == quantExactly && w.satisfied > w.q.n {
			what = "too many satisfied"
		}
		fmt.Fprintf(&b, "\n%s:", what)
		for _, l := range list {
			b.WriteString("\n  " + l)
		}
		if more > 0 {
			fmt.Fprintf(&b, "\n  and %d more", more)
		}
	}
	return errors.New(b.String())
}

// varsRead shows the vars and outputs the condition read, as timeProbe
// failures do: `node = "node-2", budget = 1m`.
func (w *waiter) varsRead() string {
	var parts []string
	for _, name := range w.cond.Names() {
		if name == "object" {
			continue
		}
		if v, ok := w.vals[name]; ok {
			parts = append(parts, name+" = "+formatProbeValue(v))
		}
	}
	return strings.Join(parts, ", ")
}

func (w *waiter) fillResult(r *WaitDetail) {
	w.mu.Lock()
	defer w.mu.Unlock()
	r.Matched, r.Satisfied, r.Needed = len(w.objs), w.satisfied, w.needed()
	if !w.held {
		r.Unmet, _ = w.unmet()
	}
}

// objName names o in messages, e.g. pod/web-1.
func (w *waiter) objName(o *waitObj) string {
	s := w.label + "/" + o.name
	if w.target.Namespace == "" && o.ns != "" {
		s += " in " + o.ns
	}
	return s
}

// reading shows the values o's condition read, e.g. `status.phase =
// "Pending"`, and its error if it failed.
func (w *waiter) reading(o *waitObj) string {
	obj := o.object()
	// What a Secret holds is masked wherever it is printed later too.
	w.vals.Redact().Add(redact.ObjectValues(obj)...)
	parts := make([]string, 0, len(w.paths))
	for _, p := range w.paths {
		v, ok := lookupPath(obj, p)
		val := "<missing>"
		switch {
		case ok && redact.SecretField(obj, p):
			val = redact.Mask // a Secret's data, base64 or not
		case ok:
			val = formatValue(v)
		}
		parts = append(parts, formatPath(p)+" = "+val)
	}
	s := strings.Join(parts, ", ")
	if o.err != nil {
		msg := o.err.Error()
		if inner := errors.Unwrap(o.err); inner != nil {
			msg = inner.Error() // without the expression's source
		}
		msg, _, _ = strings.Cut(w.vals.Redact().String(msg), "\n")
		if s != "" {
			s += " "
		}
		s += "(error: " + strings.TrimSpace(msg) + ")"
	}
	return s
}

// lookupPath follows path through maps and lists.
func lookupPath(v any, path []string) (any, bool) {
	for _, p := range path {
		switch x := v.(type) {
		case map[string]any:
			var ok bool
			if v, ok = x[p]; !ok {
				return nil, false
			}
		case []any:
			i, err := strconv.Atoi(p)
			if err != nil || i < 0 || i >= len(x) {
				return nil, false
			}
			v = x[i]
		default:
			return nil, false
		}
	}
	return v, true
}

// formatPath writes a path as expr would: status.conditions[0].type.
func formatPath(path []string) string {
	var b strings.Builder
	for i, p := range path {
		if _, err := strconv.Atoi(p); err == nil {
			b.WriteString("[" + p + "]")
			continue
		}
		if i > 0 {
			b.WriteByte('.')
		}
		b.WriteString(p)
	}
	return b.String()
}

// maxValueLen bounds a value shown in a message.
const maxValueLen = 80

func formatValue(v any) string {
	var s string
	switch x := v.(type) {
	case nil:
		return "null"
	case string:
		s = strconv.Quote(x)
	case bool, int, int64, float64:
		return fmt.Sprint(x)
	default:
		data, err := json.Marshal(x)
		if err != nil {
			return fmt.Sprint(x)
		}
		s = string(data)
	}
	if r := []rune(s); len(r) > maxValueLen {
		s = string(r[:maxValueLen-1]) + "…"
	}
	return s
}

// Observing implements engine.Observing: a dry run skips it.
func (*waitForAction) Observing() bool { return true }

// WaitDetail is a waitFor step's result: its final counts.
type WaitDetail struct {
	Matched    int      `json:"matched" doc:"Objects the target matched."`
	Satisfied  int      `json:"satisfied" doc:"Matched objects that satisfied the condition."`
	Needed     int      `json:"needed" doc:"Satisfied objects the quantifier needed."`
	Quantifier string   `json:"quantifier"`
	Unmet      []string `json:"unmet,omitempty" doc:"Objects that did not satisfy the condition, with the values it read."`
}

// Summary implements result.Detail.
func (d *WaitDetail) Summary() string {
	if d.Satisfied > d.Needed {
		return fmt.Sprintf("%d satisfied (needed %d), %d matched", d.Satisfied, d.Needed, d.Matched)
	}
	return fmt.Sprintf("%d/%d satisfied, %d matched", d.Satisfied, d.Needed, d.Matched)
}

// Properties implements result.Detail.
func (d *WaitDetail) Properties() []result.Property {
	return []result.Property{
		{Name: "satisfied", Value: strconv.Itoa(d.Satisfied)}, {Name: "needed", Value: strconv.Itoa(d.Needed)},
		{Name: "matched", Value: strconv.Itoa(d.Matched)}, {Name: "quantifier", Value: d.Quantifier},
	}
}
