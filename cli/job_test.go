package cli

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	dynfake "k8s.io/client-go/dynamic/fake"
	"sigs.k8s.io/yaml"

	"github.com/scenario-runner/runner/engine"
	"github.com/scenario-runner/runner/job"
	"github.com/scenario-runner/runner/kube"
	"github.com/scenario-runner/runner/report"
	"github.com/scenario-runner/runner/result"
)

// jobObjects splits runner job's YAML into objects by kind.
func jobObjects(t *testing.T, out string) map[string][]*unstructured.Unstructured {
	t.Helper()
	byKind := map[string][]*unstructured.Unstructured{}
	for _, doc := range strings.Split(out, "---\n") {
		if strings.TrimSpace(doc) == "" {
			continue
		}
		u := &unstructured.Unstructured{}
		if err := yaml.Unmarshal([]byte(doc), &u.Object); err != nil {
			t.Fatalf("%v in\n%s", err, doc)
		}
		byKind[u.GetKind()] = append(byKind[u.GetKind()], u)
	}
	return byKind
}

// TestJobMapsPaths: the plans of two folders, the manifest one reads and a
// values file below --root reach the pod at the same relative paths, the
// flags are passed on with those paths, and the output is the same twice.
func TestJobMapsPaths(t *testing.T) {
	dir := jobSuite(t, "tests")
	args := []string{"job", dir, "--root", dir, "--values", filepath.Join(dir, "values.yaml"), "--image", "registry.example/runner:v1",
		"-n", "tests", "--shards", "3", "--parallel", "2", "--set", "namespace=tests", "--set-optional", "x=1", "--selector", "!slow", "--meta", "k=v", "--set-secret", "token=sixteen-chars-xy"}
	out, stderr, err := run(t, args...)
	if err != nil {
		t.Fatalf("%v\n%s", err, stderr)
	}
	if strings.Contains(out, "sixteen-chars-xy") || strings.Contains(stderr, "sixteen-chars-xy") {
		t.Error("the --set-secret value was printed")
	}
	if sec := jobObjects(t, out)["Secret"]; len(sec) != 0 || !strings.Contains(stderr, "kubectl create secret generic runner-suite-") {
		t.Errorf("printed Secrets %v (want none); stderr:\n%s", sec, stderr)
	}
	if again, _, _ := run(t, args...); again != out {
		t.Error("two runs of runner job printed different objects")
	}
	objs := jobObjects(t, out)
	j := objs["Job"][0]
	if !strings.HasPrefix(j.GetName(), "runner-suite-") || len(j.GetName()) != len("runner-suite-")+6 {
		t.Errorf("name %s", j.GetName())
	}
	containers, _, _ := unstructured.NestedSlice(j.Object, "spec", "template", "spec", "containers")
	var got []string
	for _, a := range containers[0].(map[string]any)["args"].([]any) {
		got = append(got, a.(string))
	}
	want := []string{"--root", "/plans", "--values", "/plans/values.yaml", "--set", "namespace=tests", "--set-optional", "x=1",
		"--selector", "!slow", "--parallel", "2", "--meta", "k=v", "--set-secret", "token=$(RUNNER_SECRET_0)",
		"--job-shards", "3", "--publish", "tests/" + j.GetName(), "--report-dir", "/reports", "/plans/a/plan.yaml", "/plans/b/plan.yaml"}
	if !slices.Equal(got, want) {
		t.Errorf("args\n%q\nwant\n%q", got, want)
	}
	volumes, _, _ := unstructured.NestedSlice(j.Object, "spec", "template", "spec", "volumes")
	var paths []string
	for _, it := range volumes[0].(map[string]any)["configMap"].(map[string]any)["items"].([]any) {
		paths = append(paths, it.(map[string]any)["path"].(string))
	}
	if w := []string{"a/manifests/cm.yaml", "a/plan.yaml", "b/plan.yaml", "values.yaml"}; !slices.Equal(paths, w) {
		t.Errorf("items %q, want %q", paths, w)
	}
	// Both plans' timeouts (2m) and cleanup timeouts, plus 10m.
	if d, _, _ := unstructured.NestedFieldNoCopy(j.Object, "spec", "activeDeadlineSeconds"); d != 2*(120+engine.DefaultCleanupTimeout.Seconds())+600 {
		t.Errorf("activeDeadlineSeconds %v", d)
	}
	// The plans' RBAC: a Role in tests, bound to the ServiceAccount.
	var roles []string
	for _, r := range objs["Role"] {
		roles = append(roles, r.GetNamespace()+"/"+r.GetName())
	}
	if w := []string{"tests/" + j.GetName() + "-results", "tests/" + j.GetName()}; !slices.Equal(roles, w) {
		t.Errorf("roles %q, want %q", roles, w)
	}
}

func TestJobRefuses(t *testing.T) {
	dir := jobSuite(t, "tests")
	big := t.TempDir()
	if err := os.WriteFile(filepath.Join(big, "plan.yaml"), []byte("name: big\nsteps:\n  - apply: {file: 'm*.yaml'}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"m1.yaml", "m2.yaml"} {
		cm := "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: " + strings.TrimSuffix(name, ".yaml") + "}\ndata: {x: " + strings.Repeat("y", 600<<10) + "}\n"
		if err := os.WriteFile(filepath.Join(big, name), []byte(cm), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	for _, c := range []struct {
		name string
		args []string
		want string
	}{
		{"no image", []string{"job", dir}, "--image is required"},
		{"follow without apply", []string{"job", dir, "--image", "x", "--follow"}, "--follow needs --apply"},
		{"yaml and apply", []string{"job", dir, "--image", "x", "-o", "yaml", "--apply"}, "not both"},
		{"too big", []string{"job", big, "--image", "x"}, "the biggest: " + filepath.Join(big, "m1.yaml")},
		{"bad name", []string{"job", dir, "--image", "x", "--name", "Runner"}, "RFC 1123"},
	} {
		t.Run(c.name, func(t *testing.T) {
			_, _, err := run(t, c.args...)
			if !errors.Is(err, ErrUsage) || !strings.Contains(err.Error(), c.want) {
				t.Errorf("error %v, want a usage error containing %q", err, c.want)
			}
		})
	}
}

// TestJobShardFromIndex: --job-shards reads JOB_COMPLETION_INDEX.
func TestJobShardFromIndex(t *testing.T) {
	for _, c := range []struct {
		index  string
		shards int
		shard  string
		want   string // error
	}{
		{"0", 3, "1/3", ""},
		{"2", 3, "3/3", ""},
		{"", 2, "1/2", ""},
		{"3", 3, "", "not below --job-shards 3"},
		{"x", 3, "", "expected 0 or more"},
	} {
		t.Run(c.index, func(t *testing.T) {
			t.Setenv(job.EnvIndex, c.index)
			o := &runOptions{jobShards: c.shards}
			err := o.jobShard()
			if c.want != "" {
				if err == nil || !strings.Contains(err.Error(), c.want) {
					t.Fatalf("error %v, want %q", err, c.want)
				}
				return
			}
			if err != nil || o.sel.shard != c.shard {
				t.Errorf("shard %q, error %v; want %s", o.sel.shard, err, c.shard)
			}
		})
	}
}

// fakeJob seeds a fake API with the objects of a two-shard job, one pod
// per index in the given phases and exit codes (nil: still running), and
// publishes for each index in published a report with that outcome.
func fakeJob(t *testing.T, exits []*int32, published map[int]result.Outcome) (*dynfake.FakeDynamicClient, string) {
	t.Helper()
	ctx := context.Background()
	spec := job.Spec{Name: "runner-suite-abc123", Namespace: "tests", Image: "x", Shards: len(exits), Plans: []string{"/plans/p.yaml"},
		Files: []job.File{{Path: "p.yaml", Source: "p.yaml", Data: []byte("name: p\n")}}}
	objs, err := job.Build(ctx, spec)
	if err != nil {
		t.Fatal(err)
	}
	var seed []runtime.Object
	for _, u := range objs {
		seed = append(seed, u)
	}
	for i, exit := range exits {
		p := &corev1.Pod{TypeMeta: metav1.TypeMeta{APIVersion: "v1", Kind: "Pod"}}
		p.Name, p.Namespace = fmt.Sprintf("%s-%d-x", spec.Name, i), spec.Namespace
		p.Labels = map[string]string{job.LabelJobName: spec.Name, job.LabelCompletionIndex: fmt.Sprint(i)}
		p.Status.Phase = corev1.PodRunning
		if exit != nil {
			p.Status.Phase = corev1.PodSucceeded
			if *exit != 0 {
				p.Status.Phase = corev1.PodFailed
			}
			p.Status.ContainerStatuses = []corev1.ContainerStatus{{Name: job.Container, State: corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{ExitCode: *exit}}}}
		}
		m, err := runtime.DefaultUnstructuredConverter.ToUnstructured(p)
		if err != nil {
			t.Fatal(err)
		}
		seed = append(seed, &unstructured.Unstructured{Object: m})
	}
	dyn := dynfake.NewSimpleDynamicClientWithCustomListKinds(runtime.NewScheme(), map[schema.GroupVersionResource]string{
		{Group: "batch", Version: "v1", Resource: "jobs"}: "JobList", {Version: "v1", Resource: "pods"}: "PodList",
		{Version: "v1", Resource: "configmaps"}: "ConfigMapList",
	}, seed...)
	for i, outcome := range published {
		start := time.Date(2026, 12, 7, 0, 0, i, 0, time.UTC)
		rep := report.New([]*result.Plan{{Name: fmt.Sprintf("p%d", i), File: "/plans/p.yaml", Outcome: outcome, Start: start, End: start.Add(time.Second), Steps: []*result.Step{}}},
			report.Meta{Shard: fmt.Sprintf("%d/%d", i+1, len(exits)), Generated: start})
		var b bytes.Buffer
		if err := rep.WriteJSON(&b); err != nil {
			t.Fatal(err)
		}
		if _, err := job.Publish(ctx, dyn, job.Target{Namespace: spec.Namespace, Name: spec.Name, Index: i}, job.Result{Report: b.Bytes()}); err != nil {
			t.Fatal(err)
		}
	}
	return dyn, spec.Name
}

// TestJobFetchOutcome: runner job fetch exits 0 when every shard passed,
// 3 (kube.ErrUnreachable, as main maps it) when a pod exited 3, 1 when a
// shard failed, ended without results or is still running; it writes the
// shards it has and their merge.
func TestJobFetchOutcome(t *testing.T) {
	exit := func(c int32) *int32 { return &c }
	for _, c := range []struct {
		name      string
		exits     []*int32
		published map[int]result.Outcome
		want      error // nil, ErrFailed or kube.ErrUnreachable
		merged    int   // shards in the merged report
		says      string
	}{
		{"all passed", []*int32{exit(0), exit(0)}, map[int]result.Outcome{0: result.Passed, 1: result.Passed}, nil, 2, "merged 2 of 2"},
		{"a plan failed", []*int32{exit(0), exit(1)}, map[int]result.Outcome{0: result.Passed, 1: result.Failed}, ErrFailed, 2, "shard 2/2: failed"},
		{"refused in a pod", []*int32{exit(0), exit(3)}, map[int]result.Outcome{0: result.Passed}, kube.ErrUnreachable, 1, "shard 2/2: refused"},
		{"ended without results", []*int32{exit(0), exit(0)}, map[int]result.Outcome{0: result.Passed}, ErrFailed, 1, "shard 2/2: failed (pod runner-suite-abc123-1-x Succeeded, exit 0): no results yet"},
		{"still running", []*int32{exit(0), nil}, map[int]result.Outcome{0: result.Passed}, ErrFailed, 1, "shard 2/2: running"},
	} {
		t.Run(c.name, func(t *testing.T) {
			dyn, name := fakeJob(t, c.exits, c.published)
			dir := t.TempDir()
			var out, errOut bytes.Buffer
			err := fetchJob(context.Background(), Streams{Out: &out, Err: &errOut}, dyn, "tests", name, dir, false)
			switch {
			case c.want == nil && err != nil, c.want != nil && !errors.Is(err, c.want):
				t.Errorf("error %v, want %v", err, c.want)
			}
			if !strings.Contains(out.String(), c.says) {
				t.Errorf("stdout does not say %q:\n%s", c.says, out.String())
			}
			r, rerr := report.Read(filepath.Join(dir, report.JSONFile), nil)
			if rerr != nil {
				t.Fatal(rerr)
			}
			if len(r.Sources) != c.merged {
				t.Errorf("merged %d shard(s), want %d", len(r.Sources), c.merged)
			}
		})
	}
}

// TestJobFollowWakesOnChange: --follow waits while a shard runs, and
// ends as soon as its pod ends and its results appear (a watch event, not
// the minute's heartbeat).
func TestJobFollowWakesOnChange(t *testing.T) {
	exit := func(c int32) *int32 { return &c }
	dyn, name := fakeJob(t, []*int32{exit(0), nil}, map[int]result.Outcome{0: result.Passed})
	var out, errOut bytes.Buffer
	done := make(chan error, 1)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	go func() { done <- fetchJob(ctx, Streams{Out: &out, Err: &errOut}, dyn, "tests", name, t.TempDir(), true) }()
	select {
	case err := <-done:
		t.Fatalf("returned while shard 2 runs: %v", err)
	case <-time.After(300 * time.Millisecond):
	}
	pods := schema.GroupVersionResource{Version: "v1", Resource: "pods"}
	pod, err := dyn.Resource(pods).Namespace("tests").Get(ctx, name+"-1-x", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	_ = unstructured.SetNestedField(pod.Object, "Succeeded", "status", "phase")
	_ = unstructured.SetNestedSlice(pod.Object, []any{map[string]any{"name": job.Container, "state": map[string]any{"terminated": map[string]any{"exitCode": int64(0)}}}}, "status", "containerStatuses")
	start := time.Now()
	rep := report.New([]*result.Plan{{Name: "p1", File: "/plans/p.yaml", Outcome: result.Passed, Start: start, End: start, Steps: []*result.Step{}}}, report.Meta{Shard: "2/2"})
	var b bytes.Buffer
	if err := rep.WriteJSON(&b); err != nil {
		t.Fatal(err)
	}
	if _, err := job.Publish(ctx, dyn, job.Target{Namespace: "tests", Name: name, Index: 1}, job.Result{Report: b.Bytes()}); err != nil {
		t.Fatal(err)
	}
	if _, err := dyn.Resource(pods).Namespace("tests").Update(ctx, pod, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("%v\n%s\n%s", err, out.String(), errOut.String())
		}
		if took := time.Since(start); took > 5*time.Second {
			t.Errorf("ended %s after the change", took)
		}
	case <-ctx.Done():
		t.Fatalf("did not end after the shard did:\n%s", errOut.String())
	}
	for _, want := range []string{"shard 2/2: pod runner-suite-abc123-1-x Running", "shard 2/2: pod runner-suite-abc123-1-x Succeeded (exit 0)", "shard 2/2: p1 passed"} {
		if !strings.Contains(errOut.String(), want) {
			t.Errorf("progress does not say %q:\n%s", want, errOut.String())
		}
	}
}
