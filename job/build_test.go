package job

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/yaml"
)

var update = flag.Bool("update", false, "rewrite testdata/*.golden.yaml")

// fixedRBAC stands in for package rbac: one Role in the job's namespace
// and one ClusterRole, bound to the ServiceAccount (out of order, to see
// Build sort them).
func fixedRBAC(_ context.Context, sa types.NamespacedName) ([]*unstructured.Unstructured, error) {
	obj := func(y string) *unstructured.Unstructured {
		u := &unstructured.Unstructured{}
		if err := yaml.Unmarshal([]byte(y), &u.Object); err != nil {
			panic(err)
		}
		return u
	}
	return []*unstructured.Unstructured{
		obj(`{apiVersion: rbac.authorization.k8s.io/v1, kind: RoleBinding, metadata: {name: plans, namespace: ` + sa.Namespace + `},
  roleRef: {apiGroup: rbac.authorization.k8s.io, kind: Role, name: plans},
  subjects: [{kind: ServiceAccount, name: ` + sa.Name + `, namespace: ` + sa.Namespace + `}]}`),
		obj(`{apiVersion: rbac.authorization.k8s.io/v1, kind: ClusterRole, metadata: {name: ` + sa.Name + `-nodes},
  rules: [{apiGroups: [""], resources: [nodes], verbs: [get, list, watch]}]}`),
		obj(`{apiVersion: rbac.authorization.k8s.io/v1, kind: Role, metadata: {name: plans, namespace: ` + sa.Namespace + `},
  rules: [{apiGroups: [""], resources: [configmaps], verbs: [create, delete, get, list, watch]}]}`),
	}, nil
}

func testSpec() Spec {
	return Spec{
		Name: "runner-suite-abc123", Namespace: "tests", Image: "registry.example/runner:v1", Shards: 2,
		Args:  []string{"--values", "/plans/a/values.yaml", "--timings", "/timings/0/report.json", "--parallel", "2"},
		Plans: []string{"/plans/a/plan.yaml", "/plans/b/plan.yaml"},
		Files: []File{
			{Path: "b/plan.yaml", Source: "suite/b/plan.yaml", Data: []byte("name: b\nsteps: [{sleep: 1s}]\n")},
			{Path: "a/plan.yaml", Source: "suite/a/plan.yaml", Data: []byte("name: a\nsteps: [{apply: {file: manifests/cm.yaml}}]\n")},
			{Path: "a/manifests/cm.yaml", Source: "suite/a/manifests/cm.yaml", Data: []byte("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: x}\n")},
			{Path: "a/values.yaml", Source: "suite/a/values.yaml", Data: []byte("n: 2\n")},
			{Path: "a/blob.bin", Source: "suite/a/blob.bin", Data: []byte{0xff, 0xfe, 0}},
		},
		Timings:  []File{{Path: "0/report.json", Source: "last/report.json", Data: []byte(`{"schemaVersion":"runner.report/v2"}`)}},
		Deadline: 25 * time.Minute,
		RBAC:     fixedRBAC,
		Secrets:  []Secret{{Name: "token", Value: "s3cr3t-t0ken"}},
	}
}

func render(t *testing.T, objs []*unstructured.Unstructured) []byte {
	t.Helper()
	var b bytes.Buffer
	for _, u := range objs {
		data, err := yaml.Marshal(u.Object)
		if err != nil {
			t.Fatal(err)
		}
		b.WriteString("---\n")
		b.Write(data)
	}
	return b.Bytes()
}

// TestBuildGolden pins every object Build makes (sorted keys, fixed
// order): restricted security context, Indexed Job, items mapping keys to
// paths, the results Role, the plans' RBAC sorted and labelled.
func TestBuildGolden(t *testing.T) {
	objs, err := Build(context.Background(), testSpec())
	if err != nil {
		t.Fatal(err)
	}
	got := render(t, objs)
	golden := filepath.Join("testdata", "build.golden.yaml")
	if *update {
		if err := os.WriteFile(golden, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("Build's objects differ from %s (go test ./job -run TestBuildGolden -update):\n%s", golden, got)
	}
	// Built twice, the same bytes: the output is stable.
	again, _ := Build(context.Background(), testSpec())
	if !bytes.Equal(render(t, again), got) {
		t.Error("two builds of the same spec differ")
	}
	var kinds []string
	for _, u := range objs {
		kinds = append(kinds, u.GetKind())
		if u.GetLabels()[LabelJob] != "runner-suite-abc123" {
			t.Errorf("%s has no %s label", RefOf(u), LabelJob)
		}
	}
	want2 := "ServiceAccount Role RoleBinding Role ClusterRole RoleBinding Secret ConfigMap Job"
	if strings.Join(kinds, " ") != want2 {
		t.Errorf("order %v, want %s", kinds, want2)
	}
}

// TestBuildRestricted reads the fields the restricted Pod Security
// Standard checks from the built Job.
func TestBuildRestricted(t *testing.T) {
	objs, err := Build(context.Background(), testSpec())
	if err != nil {
		t.Fatal(err)
	}
	j := objs[len(objs)-1].Object
	for _, c := range []struct {
		path []string
		want any
	}{
		{[]string{"spec", "template", "spec", "securityContext", "runAsNonRoot"}, true},
		{[]string{"spec", "template", "spec", "securityContext", "runAsUser"}, int64(RunAsUser)},
		{[]string{"spec", "template", "spec", "securityContext", "seccompProfile", "type"}, "RuntimeDefault"},
		{[]string{"spec", "completionMode"}, "Indexed"},
		{[]string{"spec", "completions"}, int64(2)},
		{[]string{"spec", "backoffLimitPerIndex"}, int64(0)},
		{[]string{"spec", "activeDeadlineSeconds"}, int64(1500)},
	} {
		got, _, _ := unstructured.NestedFieldNoCopy(j, c.path...)
		if got != c.want {
			t.Errorf("%s = %v (%T), want %v", strings.Join(c.path, "."), got, got, c.want)
		}
	}
	containers, _, _ := unstructured.NestedSlice(j, "spec", "template", "spec", "containers")
	sc := containers[0].(map[string]any)["securityContext"].(map[string]any)
	if sc["allowPrivilegeEscalation"] != false || sc["readOnlyRootFilesystem"] != true {
		t.Errorf("container securityContext %v", sc)
	}
	if drop := sc["capabilities"].(map[string]any)["drop"].([]any); len(drop) != 1 || drop[0] != "ALL" {
		t.Errorf("capabilities drop %v", drop)
	}
	args := containers[0].(map[string]any)["args"].([]any)
	if !slices.Contains(args, any("token=$(RUNNER_SECRET_0)")) || slices.ContainsFunc(args, func(a any) bool { return strings.Contains(a.(string), "s3cr3t") }) {
		t.Errorf("args %v: want the secret as $(RUNNER_SECRET_0), never as text", args)
	}
	if got := args[len(args)-8:]; got[0] != "--job-shards" || got[1] != "2" || got[3] != "tests/runner-suite-abc123" || got[5] != ReportsDir {
		t.Errorf("args end %v", got)
	}
}

func TestBuildRefuses(t *testing.T) {
	big := func(n int) []byte { return bytes.Repeat([]byte("x"), n) }
	for _, c := range []struct {
		name   string
		change func(*Spec)
		want   string
		tooBig bool
	}{
		{"name too long", func(s *Spec) { s.Name = strings.Repeat("a", 41) }, "give 1 to 40 characters", false},
		{"name with capitals", func(s *Spec) { s.Name = "Runner" }, "RFC 1123", false},
		{"no image", func(s *Spec) { s.Image = "" }, "no image", false},
		{"no shards", func(s *Spec) { s.Shards = 0 }, "shards 0", false},
		{"path leaves the folder", func(s *Spec) { s.Files[0].Path = "../etc/passwd" }, "relative and clean", false},
		{"path twice", func(s *Spec) { s.Files[1].Path = s.Files[0].Path }, "given twice", false},
		{"too big, biggest named first", func(s *Spec) {
			s.Files = append(s.Files, File{Path: "a/huge.yaml", Source: "suite/a/huge.yaml", Data: big(700 << 10)},
				File{Path: "b/large.yaml", Source: "suite/b/large.yaml", Data: big(400 << 10)})
		}, "the biggest: suite/a/huge.yaml (716800 bytes), suite/b/large.yaml (409600 bytes)", true},
	} {
		t.Run(c.name, func(t *testing.T) {
			s := testSpec()
			c.change(&s)
			_, err := Build(context.Background(), s)
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("error %v, want one containing %q", err, c.want)
			}
			if errors.Is(err, ErrTooBig) != c.tooBig || errors.Is(err, ErrSpec) == c.tooBig {
				t.Errorf("errors.Is(ErrTooBig) = %v, errors.Is(ErrSpec) = %v", errors.Is(err, ErrTooBig), errors.Is(err, ErrSpec))
			}
		})
	}
}
