package steps

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/rs/zerolog"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"

	"github.com/scenario-runner/runner/engine"
	"github.com/scenario-runner/runner/engine/eval"
	"github.com/scenario-runner/runner/result"
)

var updateGolden = flag.Bool("update", false, "rewrite the golden files under testdata/golden")

// checkGolden compares got with testdata/golden/<name>, word for word.
func checkGolden(t *testing.T, name, got string) {
	t.Helper()
	path := filepath.Join("testdata", "golden", name)
	if *updateGolden {
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -update to create it)", err)
	}
	if got != string(want) {
		t.Errorf("%s differs (go test -update rewrites it)\n got: %s\nwant: %s", path, got, want)
	}
}

// runYAML loads plan with every step kind and runs it against cl.
func runYAML(ctx context.Context, t *testing.T, cl engine.Cluster, plan string) *result.Plan {
	t.Helper()
	p := loadYAML(t, plan)
	return engine.Run(ctx, p, engine.RunOptions{Cluster: cl, Log: zerolog.Nop(), Cleanup: result.CleanupNever})
}

func loadYAML(t *testing.T, plan string) *engine.Plan {
	t.Helper()
	p, err := engine.LoadBytes("plan.yaml", []byte(plan), engine.LoadOptions{Registry: Kinds()})
	if err != nil {
		var inv *engine.InvalidError
		if errors.As(err, &inv) {
			t.Fatalf("loading the plan:\n%s", inv.Render())
		}
		t.Fatal(err)
	}
	return p
}

// podObj is a pod in default labelled app=web, in phase (none when empty).
func podObj(name, phase string) *unstructured.Unstructured {
	u := object(map[string]any{
		"apiVersion": "v1", "kind": "Pod",
		"metadata": map[string]any{"name": name, "namespace": "default", "labels": map[string]any{"app": "web"}},
		"spec":     map[string]any{"nodeName": "node-" + name},
	})
	if phase != "" {
		_ = unstructured.SetNestedField(u.Object, phase, "status", "phase")
	}
	return u
}

var podsGVR = schema.GroupVersionResource{Version: "v1", Resource: "pods"}

func pods(spec ...string) []runtime.Object {
	var out []runtime.Object
	for _, s := range spec {
		name, phase, _ := strings.Cut(s, "=")
		out = append(out, podObj(name, phase))
	}
	return out
}

func waitPlan(timeout, body string) string {
	return fmt.Sprintf(`name: t
vars:
  replicas: 2
steps:
- timeout: %s
  waitFor:
    apiVersion: v1
    kind: Pod
    namespace: default
    labelSelector: app=web
    condition: object.status?.phase == "Running"
%s`, timeout, indent(body, "    "))
}

func indent(s, prefix string) string {
	if s == "" {
		return ""
	}
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	for i := range lines {
		lines[i] = prefix + lines[i]
	}
	return strings.Join(lines, "\n") + "\n"
}

func TestWaitForQuantifiers(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		pods    []string
		body    string
		want    result.Outcome
		matched int
		sat     int
		needed  int
	}{
		{"all running", []string{"a=Running", "b=Running", "c=Running"}, "", result.Passed, 3, 3, 3},
		{"all with one pending", []string{"a=Running", "b=Pending", "c=Running"}, "", result.TimedOut, 3, 2, 3},
		{"all on nothing", nil, "", result.TimedOut, 0, 0, 1},
		{"all with min 0 on nothing", nil, "min: 0", result.Passed, 0, 0, 0},
		{"all below min", []string{"a=Running", "b=Running"}, "min: 3", result.TimedOut, 2, 2, 3},
		{"all at min", []string{"a=Running", "b=Running", "c=Running"}, "all: true\nmin: 3", result.Passed, 3, 3, 3},
		{"any", []string{"a=Pending", "b=Running"}, "any: true", result.Passed, 2, 1, 1},
		{"any of none running", []string{"a=Pending", "b="}, "any: true", result.TimedOut, 2, 0, 1},
		{"count reached", []string{"a=Running", "b=Pending", "c=Running"}, "count: 2", result.Passed, 3, 2, 2},
		{"count not reached", []string{"a=Running", "b=Pending", "c=Running"}, "count: 3", result.TimedOut, 3, 2, 3},
		{"count from a variable", []string{"a=Running", "b=Pending", "c=Running"}, "count: replicas", result.Passed, 3, 2, 2},
		{"exactly", []string{"a=Running", "b=Pending", "c=Running"}, "exactly: 2", result.Passed, 3, 2, 2},
		{"exactly, too many", []string{"a=Running", "b=Running", "c=Running"}, "exactly: 2", result.TimedOut, 3, 3, 2},
		{"exactly none", []string{"a=Pending", "b=Pending"}, "exactly: 0", result.Passed, 2, 0, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			cl := newFakeCluster(t, pods(tt.pods...)...)
			res := runYAML(t.Context(), t, cl, waitPlan("300ms", tt.body))
			if res.Outcome != tt.want {
				t.Fatalf("outcome %s, want %s (error: %s)", res.Outcome, tt.want, res.Error)
			}
			w := res.Steps[0].Detail.(*WaitDetail)
			if w == nil {
				t.Fatal("no wait result")
			}
			if w.Matched != tt.matched || w.Satisfied != tt.sat || w.Needed != tt.needed {
				t.Errorf("matched %d, satisfied %d, needed %d; want %d, %d, %d", w.Matched, w.Satisfied, w.Needed, tt.matched, tt.sat, tt.needed)
			}
		})
	}
}

func TestWaitForLabelsAndName(t *testing.T) {
	t.Parallel()
	other := podObj("other", "Pending")
	other.SetLabels(map[string]string{"app": "db"})
	cl := newFakeCluster(t, append(pods("a=Running", "b=Pending"), other)...)
	res := runYAML(t.Context(), t, cl, `name: t
steps:
- timeout: 2s
  waitFor: {apiVersion: v1, kind: Pod, labelSelector: app=db, condition: 'object.status.phase == "Pending"'}
- timeout: 2s
  waitFor: {apiVersion: v1, kind: Pod, name: a, condition: 'object.status.phase == "Running"'}
- timeout: 2s
  waitFor: {resource: pods, allNamespaces: true, labelSelector: app=web, count: 1, condition: 'object.status.phase == "Pending"'}
`)
	if res.Outcome != result.Passed {
		t.Fatalf("outcome %s: %s", res.Outcome, res.Error)
	}
	for i, want := range []int{1, 1, 2} {
		if got := res.Steps[i].Detail.(*WaitDetail).Matched; got != want {
			t.Errorf("step %d matched %d, want %d", i, got, want)
		}
	}
}

// TestWaitForUpdate changes a pod while the step waits: the step must end
// at once, from the watch event, with one LIST and one WATCH in all.
func TestWaitForUpdate(t *testing.T) {
	t.Parallel()
	cl := newFakeCluster(t, pods("a=Running", "b=Pending", "c=Running")...)
	watching := cl.watches()
	done := make(chan *result.Plan)
	go func() { done <- runYAML(t.Context(), t, cl, waitPlan("10s", "")) }()
	select {
	case <-watching:
	case <-time.After(5 * time.Second):
		t.Fatal("no watch started")
	}
	time.Sleep(50 * time.Millisecond) // let the step see 2 of 3 first
	b := podObj("b", "Running")
	changed := time.Now()
	if _, err := cl.dyn.Resource(podsGVR).Namespace("default").Update(t.Context(), b, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	res := <-done
	took := time.Since(changed)
	if res.Outcome != result.Passed {
		t.Fatalf("outcome %s: %s", res.Outcome, res.Error)
	}
	if took > time.Second {
		t.Errorf("the step ended %s after the change", took)
	}
	req := cl.requests()
	if req["list"] != 1 || req["watch"] != 1 {
		t.Errorf("requests %v, want one list and one watch", req)
	}
	last, ok := res.Steps[0].LastProgress()
	if !ok || last.Done != 3 || last.Total != 3 || last.Matched != 3 || last.Unit != "satisfied" {
		t.Errorf("last progress %+v", last)
	}
}

func TestWaitForTimeoutMessage(t *testing.T) {
	t.Parallel()
	p := pods("web-1=Pending", "web-2=", "web-3=Running")
	cm := object(map[string]any{"apiVersion": "v1", "kind": "ConfigMap", "metadata": map[string]any{"name": "settings", "namespace": "default"},
		"data": map[string]any{"mode": "slow"}})
	cl := newFakeCluster(t, append(p, cm)...)
	res := runYAML(t.Context(), t, cl, `name: t
steps:
- timeout: 200ms
  waitFor:
    apiVersion: v1
    kind: Pod
    namespace: default
    labelSelector: app=web
    condition: object.status.phase == "Running" && object.spec?.nodeName != ""
`)
	if res.Outcome != result.TimedOut {
		t.Fatalf("outcome %s: %s", res.Outcome, res.Error)
	}
	res2 := runYAML(t.Context(), t, cl, `name: t
steps:
- timeout: 200ms
  waitFor:
    apiVersion: v1
    kind: ConfigMap
    name: settings
    exactly: 0
    condition: object.data.mode in ["slow", "off"] || object.data["other"] == "x" || len(object.metadata.labels ?? {}) > 1
`)
	checkGolden(t, "waitfor-timeout.golden", res.Error+"\n"+res2.Error+"\n")
	if got := res.Steps[0].Detail.(*WaitDetail).Unmet; len(got) != 2 || !strings.HasPrefix(got[0], "pod/web-1: ") {
		t.Errorf("unmet %q", got)
	}
}

func TestWaitForManyUnmet(t *testing.T) {
	t.Parallel()
	var objs []runtime.Object
	for i := range 25 {
		objs = append(objs, podObj(fmt.Sprintf("web-%02d", i), "Pending"))
	}
	cl := newFakeCluster(t, objs...)
	res := runYAML(t.Context(), t, cl, waitPlan("200ms", ""))
	want := "\nnot satisfied:\n  pod/web-00: status.phase = \"Pending\"\n"
	if !strings.Contains(res.Error, want) || !strings.HasSuffix(res.Error, "\n  pod/web-09: status.phase = \"Pending\"\n  and 15 more") {
		t.Errorf("error: %s", res.Error)
	}
}

func TestWaitForOutputs(t *testing.T) {
	t.Parallel()
	cl := newFakeCluster(t, pods("c=Running", "a=Running", "b=Pending")...)
	res := runYAML(t.Context(), t, cl, `name: t
steps:
- timeout: 2s
  waitFor:
    apiVersion: v1
    kind: Pod
    count: 2
    condition: object.status.phase == "Running"
    outputs:
      node: objects[0].spec.nodeName
      names: join(map(objects, .metadata.name), ",")
- timeout: 2s
  waitFor:
    apiVersion: v1
    kind: Pod
    name: '${{ names == "a,c" ? "c" : "b" }}'
    condition: object.spec.nodeName != node
`)
	if res.Outcome != result.Passed {
		t.Fatalf("outcome %s: %s", res.Outcome, res.Error)
	}
}

func TestWaitForHoldFor(t *testing.T) {
	t.Parallel()
	t.Run("held", func(t *testing.T) {
		t.Parallel()
		cl := newFakeCluster(t, pods("a=Running", "b=Running")...)
		res := runYAML(t.Context(), t, cl, waitPlan("5s", "holdFor: 300ms"))
		if res.Outcome != result.Passed {
			t.Fatalf("outcome %s: %s", res.Outcome, res.Error)
		}
		if d := res.Steps[0].Duration(); d < 300*time.Millisecond {
			t.Errorf("passed after %s, before holdFor", d)
		}
	})
	t.Run("broken", func(t *testing.T) {
		t.Parallel()
		cl := newFakeCluster(t, pods("web-1=Running", "web-2=Running", "web-3=Running")...)
		watching := cl.watches()
		done := make(chan *result.Plan)
		go func() { done <- runYAML(t.Context(), t, cl, waitPlan("10s", "holdFor: 5s")) }()
		<-watching
		time.Sleep(100 * time.Millisecond)
		if _, err := cl.dyn.Resource(podsGVR).Namespace("default").Update(t.Context(), podObj("web-2", "Failed"), metav1.UpdateOptions{}); err != nil {
			t.Fatal(err)
		}
		res := <-done
		if res.Outcome != result.Failed {
			t.Fatalf("outcome %s: %s", res.Outcome, res.Error)
		}
		want := `, then broke: pod/web-2: status.phase = "Failed"; 3 matched, 2 satisfied, need all 3 (and at least 1)`
		if !strings.Contains(res.Error, want) || !strings.Contains(res.Error, "of holdFor 5s") {
			t.Errorf("error: %s\nwant it to contain: %s", res.Error, want)
		}
	})
	t.Run("deleted", func(t *testing.T) {
		t.Parallel()
		cl := newFakeCluster(t, pods("web-1=Running", "web-2=Running")...)
		watching := cl.watches()
		done := make(chan *result.Plan)
		go func() { done <- runYAML(t.Context(), t, cl, waitPlan("10s", "count: 2\nholdFor: 5s")) }()
		<-watching
		time.Sleep(100 * time.Millisecond)
		if err := cl.dyn.Resource(podsGVR).Namespace("default").Delete(t.Context(), "web-1", metav1.DeleteOptions{}); err != nil {
			t.Fatal(err)
		}
		res := <-done
		if res.Outcome != result.Failed || !strings.Contains(res.Error, "then broke: pod/web-1: was deleted; 1 matched, 1 satisfied, need at least 2") {
			t.Fatalf("outcome %s: %s", res.Outcome, res.Error)
		}
	})
}

func TestWaitForInvalid(t *testing.T) {
	t.Parallel()
	tests := []struct {
		body, want string
	}{
		{"any: true\ncount: 2", "give at most one of all, any, count and exactly: this step has any and count"},
		{"all: false", "all: false means nothing"},
		{"any: true\nmin: 2", "min goes with all"},
		{"count: 0", "count must be at least 1, got 0"},
		{"exactly: -1", "exactly must be at least 0, got -1"},
		{"count: nope + 1", "unknown name nope"},
		{"outputs: {replicas: 'objects[0]'}", `output "replicas" hides a variable`},
		{"holdFor: soon", "expected a duration"},
	}
	for _, tt := range tests {
		_, err := engine.LoadBytes("plan.yaml", []byte(waitPlan("1s", tt.body)), engine.LoadOptions{Registry: Kinds()})
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%q: error %v, want it to contain %q", tt.body, err, tt.want)
		}
	}
	_, err := engine.LoadBytes("plan.yaml", []byte("name: t\nsteps:\n- waitFor: {apiVersion: v1, kind: Pod, condition: 'len(object) + 1'}\n"), engine.LoadOptions{Registry: Kinds()})
	if err == nil {
		t.Error("a non-boolean condition loaded")
	}
}

func TestWaitForDescribe(t *testing.T) {
	p := loadYAML(t, waitPlan("1s", ""))
	if got := p.Steps[0].Name; got != "waitFor Pod app=web" {
		t.Errorf("name %q", got)
	}
}

// BenchmarkWaitForEvent measures what one watch event costs the wait, with
// n objects matched: it must not grow with n. Each event flips one object
// between Pending and Running. The event's object is built fresh for each
// event, as one decoded from the watch stream is, by renaming one of two
// templates (the waiter keeps a reference to it, which only matters to its
// messages).
func BenchmarkWaitForEvent(b *testing.B) {
	for _, n := range []int{1_000, 10_000, 100_000} {
		b.Run(fmt.Sprintf("objects=%d", n), func(b *testing.B) {
			w := benchWaiter(b)
			names := make([]string, n)
			for i := range n {
				names[i] = fmt.Sprintf("web-%d", i)
				w.upsert(held(b, w, podObj(names[i], "Pending")))
			}
			w.mu.Lock()
			w.synced = true
			w.mu.Unlock()
			running, pending := podObj("", "Running"), podObj("", "Pending")
			if matched := len(w.objs); matched != n {
				b.Fatalf("%d objects held, want %d", matched, n)
			}
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; b.Loop(); i++ {
				ev := pending
				if (i/n)%2 == 0 {
					ev = running
				}
				ev.Object["metadata"].(map[string]any)["name"] = names[i%n]
				w.upsert(held(b, w, ev))
			}
		})
	}
}

// held is u as the informer hands it to the handlers.
func held(b *testing.B, w *waiter, u *unstructured.Unstructured) *heldObject {
	h, err := w.proj.transform(u.DeepCopy())
	if err != nil {
		b.Fatal(err)
	}
	return h.(*heldObject)
}

func benchWaiter(b *testing.B) *waiter {
	cl := newFakeCluster(b)
	m, err := cl.Mapping(context.Background(), schema.GroupVersionKind{Version: "v1", Kind: "Pod"})
	if err != nil {
		b.Fatal(err)
	}
	p := loadBenchCondition(b)
	rt := resolvedTarget{Mapping: m, GVR: m.Resource, Namespace: "default", LabelSelector: "app=web"}
	w := newWaiter(p, p.Paths("object"), quantifier{kind: quantAll, min: 1}, 0, rt, eval.Values{})
	w.proj = newProjection(p.Reads("object"), false)
	return w
}

func loadBenchCondition(b *testing.B) *eval.Program {
	plan, err := engine.LoadBytes("plan.yaml", []byte(waitPlan("1s", "")), engine.LoadOptions{Registry: Kinds()})
	if err != nil {
		b.Fatal(err)
	}
	return plan.Steps[0].Action.(*waitForAction).cond
}

// A wait drops managedFields from the objects it holds (less memory with
// many objects: bench/), unless an expression names them.
func TestWaitForDropsManagedFields(t *testing.T) {
	t.Parallel()
	withFields := func(name string) runtime.Object {
		u := podObj(name, "Running")
		u.SetManagedFields([]metav1.ManagedFieldsEntry{{Manager: "kubectl", Operation: metav1.ManagedFieldsOperationApply}})
		return u
	}
	cl := newFakeCluster(t, withFields("a"))
	res := runYAML(t.Context(), t, cl, `name: t
steps:
- timeout: 2s
  waitFor:
    apiVersion: v1
    kind: Pod
    condition: object.status.phase == "Running"
    outputs:
      keys: join(sort(keys(objects[0].metadata)), ",")
- timeout: 2s
  waitFor:
    apiVersion: v1
    kind: Pod
    name: '${{ keys == "labels,name,namespace" ? "a" : "not-" + keys }}'
    condition: "true"
- timeout: 2s
  waitFor:
    apiVersion: v1
    kind: Pod
    condition: len(object.metadata.managedFields) == 1
`)
	if res.Outcome != result.Passed {
		t.Fatalf("outcome %s: %s", res.Outcome, res.Error)
	}
}

// TestWaitForTimeoutShowsVars: a timeout names the vars and outputs the
// condition read, as timeProbe failures do.
func TestWaitForTimeoutShowsVars(t *testing.T) {
	t.Parallel()
	cl := newFakeCluster(t, podObj("web-1", "Pending"))
	res := runYAML(t.Context(), t, cl, `name: t
vars: {wanted: node-x, phase: Running}
steps:
- timeout: 100ms
  waitFor: {apiVersion: v1, kind: Pod, name: web-1, condition: 'object.spec.nodeName == wanted && object.status.phase == phase'}
`)
	want := `; the condition read wanted = "node-x", phase = "Running"` + "\nnot satisfied:\n  pod/web-1: spec.nodeName = \"node-web-1\", status.phase = \"Pending\""
	if !strings.Contains(res.Error, want) {
		t.Errorf("error:\n%s\nwant it to contain:\n%s", res.Error, want)
	}
}
