package job

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
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
	"k8s.io/utils/ptr"

	"github.com/scenario-runner/runner/report"
	"github.com/scenario-runner/runner/result"
)

// noisy is text that gzip cannot shrink much.
func noisy(r *rand.Rand, n int) string {
	const letters = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
	b := make([]byte, n)
	for i := range b {
		b[i] = letters[r.IntN(len(letters))]
	}
	return string(b)
}

// bigReport is a report of plans whose steps carry detail of detailBytes
// each and nested steps of nestedBytes each.
func bigReport(plans, detailBytes, nestedBytes int) []byte {
	r := rand.New(rand.NewPCG(1, 2))
	rep := report.Report{SchemaVersion: report.SchemaVersion, Outcome: result.Failed, Plans: []report.Plan{}}
	for i := range plans {
		p := report.Plan{Name: fmt.Sprintf("p%d", i), ID: fmt.Sprintf("p%d", i), Outcome: result.Passed, Vars: map[string]any{"n": 1}}
		if i == 0 {
			p.Outcome, p.Error = result.Failed, "step 1 failed"
		}
		p.Steps = []report.Step{{Name: "probe", Kind: "k", Outcome: result.Passed, Detail: map[string]any{"blob": noisy(r, detailBytes)},
			Steps: []report.Step{{Name: "inner", Kind: "k", Summary: noisy(r, nestedBytes)}}}}
		rep.Plans = append(rep.Plans, p)
	}
	data, err := json.Marshal(rep)
	if err != nil {
		panic(err)
	}
	return data
}

// TestShrink: a report that fits is gzipped whole; one that does not
// loses detail level by level, each plan saying so, outcomes and errors
// kept; one that fits at no level is an error.
func TestShrink(t *testing.T) {
	for _, c := range []struct {
		name                  string
		plans, detail, nested int
		max                   int
		note                  string // "" fits whole; "error" does not fit
	}{
		{"fits", 3, 1000, 100, 100 << 10, ""},
		{"details dropped", 3, 40 << 10, 100, 20 << 10, "dropped step details"},
		{"nested steps dropped", 3, 40 << 10, 10 << 10, 20 << 10, "dropped nested steps"},
		{"nothing fits", 200, 100, 100, 256, "error"},
	} {
		t.Run(c.name, func(t *testing.T) {
			gz, note, outcome, err := Shrink(bigReport(c.plans, c.detail, c.nested), c.max)
			if c.note == "error" {
				if err == nil || !strings.Contains(err.Error(), "even without steps") {
					t.Fatalf("error %v", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if outcome != "failed" {
				t.Errorf("outcome %q", outcome)
			}
			if len(gz) > c.max {
				t.Errorf("%d bytes, above %d", len(gz), c.max)
			}
			if !strings.HasPrefix(note, c.note) {
				t.Errorf("note %q, want it to start with %q", note, c.note)
			}
			data, err := gunzip(gz)
			if err != nil {
				t.Fatal(err)
			}
			var r report.Report
			if err := json.Unmarshal(data, &r); err != nil {
				t.Fatal(err)
			}
			if len(r.Plans) != c.plans || r.Plans[0].Error != "step 1 failed" || r.Plans[0].Outcome != result.Failed {
				t.Errorf("plans, outcomes or errors lost: %d plans, %+v", len(r.Plans), r.Plans[0])
			}
			if truncated := slices.ContainsFunc(r.Plans[1].Warnings, func(w string) bool { return strings.Contains(w, "dropped") }); truncated != (c.note != "") {
				t.Errorf("warnings %q", r.Plans[1].Warnings)
			}
		})
	}
}

func TestShardOutcome(t *testing.T) {
	exit := func(c int32) *int32 { return &c }
	for _, c := range []struct {
		name string
		s    Shard
		want Outcome
	}{
		{"pending", Shard{Phase: corev1.PodPending}, Running},
		{"running", Shard{Phase: corev1.PodRunning}, Running},
		{"passed", Shard{Phase: corev1.PodSucceeded, Exit: exit(0), Published: true, Report: []byte("{}"), ReportOutcome: "passed"}, Passed},
		{"published while the pod still shows running", Shard{Phase: corev1.PodRunning, Published: true, Report: []byte("{}"), ReportOutcome: "passed"}, Passed},
		{"exit 1", Shard{Phase: corev1.PodFailed, Exit: exit(1), Published: true, Report: []byte("{}"), ReportOutcome: "failed"}, Failed},
		{"exit 3 wins", Shard{Phase: corev1.PodFailed, Exit: exit(3), Published: true, ReportOutcome: "passed", Report: []byte("{}")}, Refused},
		{"exit 0 but the report failed", Shard{Phase: corev1.PodSucceeded, Exit: exit(0), Published: true, Report: []byte("{}"), ReportOutcome: "failed"}, Failed},
		{"ended without results", Shard{Phase: corev1.PodSucceeded, Exit: exit(0)}, Failed},
		{"published an error only", Shard{Phase: corev1.PodRunning, Published: true, Error: "no report"}, Failed},
		{"OOMKilled", Shard{Phase: corev1.PodFailed, Exit: exit(137), Reason: "OOMKilled"}, Failed},
	} {
		t.Run(c.name, func(t *testing.T) {
			if got := c.s.Outcome(); got != c.want {
				t.Errorf("%v, want %v", got, c.want)
			}
		})
	}
	st := &Status{Shards: []Shard{{Published: true, Report: []byte("{}"), ReportOutcome: "passed"}, {Phase: corev1.PodRunning}}}
	if st.Done() || st.Outcome() != Running {
		t.Errorf("one shard running: done %v, outcome %v", st.Done(), st.Outcome())
	}
	st.Finished = true // e.g. past activeDeadlineSeconds
	if !st.Done() || st.Outcome() != Failed {
		t.Errorf("job finished with a shard running: done %v, outcome %v", st.Done(), st.Outcome())
	}
	st.Shards[1] = Shard{Exit: exit(3)}
	if st.Outcome() != Refused {
		t.Errorf("a shard exited 3: %v", st.Outcome())
	}
}

func fakeClient(objs ...runtime.Object) *dynfake.FakeDynamicClient {
	return dynfake.NewSimpleDynamicClientWithCustomListKinds(runtime.NewScheme(), map[schema.GroupVersionResource]string{
		jobs: "JobList", pods: "PodList", configMaps: "ConfigMapList",
		{Group: "rbac.authorization.k8s.io", Version: "v1", Resource: "roles"}:        "RoleList",
		{Group: "rbac.authorization.k8s.io", Version: "v1", Resource: "rolebindings"}: "RoleBindingList",
		{Version: "v1", Resource: "serviceaccounts"}:                                  "ServiceAccountList",
	}, objs...)
}

// TestPublishRead publishes the results of two shards (one of them twice,
// as a second pod of the same index would) and reads them back with the
// pods' states; then Objects lists what delete must remove.
func TestPublishRead(t *testing.T) {
	ctx := context.Background()
	spec := testSpec()
	objs, err := Build(ctx, spec)
	if err != nil {
		t.Fatal(err)
	}
	var seed []runtime.Object
	for _, u := range objs {
		seed = append(seed, u)
	}
	pod := func(i int, phase corev1.PodPhase, exit *int32) *unstructured.Unstructured {
		p := &corev1.Pod{TypeMeta: typeMeta("v1", "Pod")}
		p.Name, p.Namespace = fmt.Sprintf("%s-%d-x", spec.Name, i), spec.Namespace
		p.Labels = map[string]string{LabelJobName: spec.Name, LabelCompletionIndex: fmt.Sprint(i)}
		p.Status.Phase = phase
		if exit != nil {
			p.Status.ContainerStatuses = []corev1.ContainerStatus{{Name: Container, State: corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{ExitCode: *exit}}}}
		}
		m, err := runtime.DefaultUnstructuredConverter.ToUnstructured(p)
		if err != nil {
			t.Fatal(err)
		}
		return &unstructured.Unstructured{Object: m}
	}
	seed = append(seed, pod(0, corev1.PodSucceeded, ptr.To(int32(0))), pod(1, corev1.PodRunning, nil))
	dyn := fakeClient(seed...)

	st, err := Read(ctx, dyn, spec.Namespace, spec.Name)
	if err != nil {
		t.Fatal(err)
	}
	if st.Done() || st.Shards[0].Outcome() != Failed || st.Shards[1].Outcome() != Running {
		t.Fatalf("before results: done %v, shards %+v", st.Done(), st.Shards)
	}
	rep := func(outcome result.Outcome) []byte {
		data, _ := json.Marshal(report.Report{SchemaVersion: report.SchemaVersion, Outcome: outcome, Generated: time.Now(), Plans: []report.Plan{}})
		return data
	}
	target := Target{Namespace: spec.Namespace, Name: spec.Name, JobUID: "uid-1"}
	if _, err := Publish(ctx, dyn, target, Result{Report: rep(result.Failed)}); err != nil {
		t.Fatal(err)
	}
	if _, err := Publish(ctx, dyn, target, Result{Report: rep(result.Passed)}); err != nil {
		t.Fatalf("publishing again: %v", err)
	}
	target.Index = 1
	if _, err := Publish(ctx, dyn, target, Result{Error: "cluster unreachable"}); err != nil {
		t.Fatal(err)
	}
	st, err = Read(ctx, dyn, spec.Namespace, spec.Name)
	if err != nil {
		t.Fatal(err)
	}
	if !st.Done() || st.Outcome() != Failed {
		t.Errorf("done %v outcome %v", st.Done(), st.Outcome())
	}
	if s := st.Shards[0]; s.Outcome() != Passed || s.ReportOutcome != "passed" || s.Report == nil {
		t.Errorf("shard 0 %+v", s)
	}
	if s := st.Shards[1]; s.Outcome() != Failed || s.Error != "cluster unreachable" || s.Report != nil {
		t.Errorf("shard 1 %+v", s)
	}
	cm, err := dyn.Resource(configMaps).Namespace(spec.Namespace).Get(ctx, ResultName(spec.Name, 0), metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if o := cm.GetOwnerReferences(); len(o) != 1 || o[0].Kind != "Job" || o[0].UID != "uid-1" || o[0].Name != spec.Name {
		t.Errorf("owner references %+v", o)
	}

	refs, err := Objects(ctx, dyn, spec.Namespace, spec.Name)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, r := range refs {
		names = append(names, r.String())
	}
	want := []string{
		"Job/tests/runner-suite-abc123", "Pod/tests/runner-suite-abc123-0-x", "Pod/tests/runner-suite-abc123-1-x",
		"ConfigMap/tests/runner-suite-abc123-result-0", "ConfigMap/tests/runner-suite-abc123-result-1",
		"ConfigMap/tests/runner-suite-abc123-plans", "Secret/tests/runner-suite-abc123-secrets", "RoleBinding/tests/plans", "ClusterRole/runner-suite-abc123-nodes", "Role/tests/plans",
		"RoleBinding/tests/runner-suite-abc123-results", "Role/tests/runner-suite-abc123-results", "ServiceAccount/tests/runner-suite-abc123",
	}
	if !slices.Equal(names, want) {
		t.Errorf("objects\n%q\nwant\n%q", names, want)
	}
}
