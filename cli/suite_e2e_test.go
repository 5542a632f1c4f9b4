package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/dynamic"

	"github.com/scenario-runner/runner/localcluster/clustertest"
	"github.com/scenario-runner/runner/report"
)

// sleepySuite writes a folder of plans that each put a ConfigMap named by
// runID and sleep: two free ones, a matrix of two cells of one plan (they
// must not collide), two that hold the lock settings, and one that holds
// the lock cluster; plus a manifest that is not a plan.
func sleepySuite(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	plan := func(name, extra, sleep string) string {
		return fmt.Sprintf(`name: %s
%s
steps:
  - apply:
      manifest: |
        apiVersion: v1
        kind: ConfigMap
        metadata: {name: "suite-${{ runID }}", labels: {suite: sleepy}}
        data: {plan: %s}
  - sleep: %s
`, name, extra, name, sleep)
	}
	files := map[string]string{
		"free/a.yaml":        plan("free-a", "labels: {kind: free}", "3s"),
		"free/b.yaml":        plan("free-b", "labels: {kind: free}", "3s"),
		"free/twin.yaml":     plan("twin", "labels: {kind: free}\nvars: {n: 1}\nmatrix: {n: [1, 2]}", "3s"),
		"locked/one.yaml":    plan("locked-one", "labels: {kind: locked}\nlocks: [settings]", "2s"),
		"locked/two.yaml":    plan("locked-two", "labels: {kind: locked}\nlocks: [settings, node-drain]", "2s"),
		"alone.yaml":         plan("alone", "labels: {kind: alone}\nlocks: [cluster]", "1s"),
		"free/manifest.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: not-a-plan}\n",
	}
	for name, body := range files {
		p := filepath.Join(dir, name)
		_ = os.MkdirAll(filepath.Dir(p), 0o755)
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

func readReport(t *testing.T, path string) *report.Report {
	t.Helper()
	r, err := report.Read(path, nil)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func overlaps(a, b report.Plan) bool { return a.Start.Before(b.End) && b.Start.Before(a.End) }

// TestParallelLocksLive runs the sleepy suite with --parallel 4: free cells
// overlap, cells sharing a lock never do, the cluster cell runs alone,
// every cell ran once with its own run id, and nothing is left.
func TestParallelLocksLive(t *testing.T) {
	kc := clustertest.Kubeconfig(t)
	dir := sleepySuite(t)
	out := t.TempDir()
	start := time.Now()
	code, stdout, stderr := runBinary(t, context.Background(), "--kubeconfig", kc, "--parallel", "4", "--log-format", "json", "--report-dir", out, dir)
	took := time.Since(start)
	if code != 0 {
		t.Fatalf("exit %d\n%s\n%s", code, stdout, stderr)
	}
	r := readReport(t, filepath.Join(out, report.JSONFile))
	byID := map[string]report.Plan{}
	runIDs := map[string]bool{}
	var serial time.Duration
	for _, p := range r.Plans {
		if _, dup := byID[p.ID]; dup {
			t.Errorf("cell %s twice", p.ID)
		}
		byID[p.ID] = p
		runIDs[p.RunID] = true
		serial += p.End.Sub(p.Start)
		t.Logf("%-14s %s .. %s", p.ID, p.Start.Format("15:04:05.000"), p.End.Format("15:04:05.000"))
	}
	want := []string{"alone", "free-a", "free-b", "locked-one", "locked-two", "twin[n=1]", "twin[n=2]"}
	if got := slices.Sorted(func(yield func(string) bool) {
		for id := range byID {
			if !yield(id) {
				return
			}
		}
	}); !slices.Equal(got, want) {
		t.Fatalf("cells %q, want %q", got, want)
	}
	if len(runIDs) != len(want) {
		t.Errorf("%d run ids for %d cells", len(runIDs), len(want))
	}
	if overlaps(byID["locked-one"], byID["locked-two"]) {
		t.Error("locked-one and locked-two hold the lock settings and overlapped")
	}
	for id, p := range byID {
		if id != "alone" && overlaps(p, byID["alone"]) {
			t.Errorf("%s overlapped alone, which holds cluster", id)
		}
	}
	if !overlaps(byID["free-a"], byID["free-b"]) || !overlaps(byID["twin[n=1]"], byID["twin[n=2]"]) {
		t.Error("free cells did not run side by side")
	}
	t.Logf("wall %s, sum of cells %s (%.1fx)", took.Round(time.Millisecond), serial.Round(time.Millisecond), serial.Seconds()/took.Seconds())
	if !strings.Contains(stderr, `"cell":"twin[n=2]"`) {
		t.Errorf("log lines do not carry the cell id:\n%s", stderr)
	}
	dyn := dynamic.NewForConfigOrDie(clustertest.Config(t))
	l, err := dyn.Resource(configMapsGVR).Namespace("default").List(context.Background(), metav1.ListOptions{LabelSelector: "suite=sleepy"})
	if err != nil || len(l.Items) != 0 {
		t.Errorf("left behind: %d, %v", len(l.Items), err)
	}
}

// TestShardsMergeLive runs the sleepy suite as three shards, merges their
// reports and checks that the merged report holds every cell once.
func TestShardsMergeLive(t *testing.T) {
	kc := clustertest.Kubeconfig(t)
	dir := sleepySuite(t)
	out := t.TempDir()
	for i := 1; i <= 3; i++ {
		code, stdout, stderr := runBinary(t, context.Background(), "--kubeconfig", kc, "--shard", fmt.Sprintf("%d/3", i), "--parallel", "3",
			"--set-optional", "n=9", "--selector", "kind", "--meta", "longhorn=v1.9.2", "--report-dir", filepath.Join(out, fmt.Sprint(i)), dir)
		if code != 0 {
			t.Fatalf("shard %d: exit %d\n%s\n%s", i, code, stdout, stderr)
		}
	}
	code, stdout, stderr := runBinary(t, context.Background(), "report", "merge", out, "--report-dir", filepath.Join(out, "merged"))
	if code != 0 {
		t.Fatalf("merge: exit %d\n%s\n%s", code, stdout, stderr)
	}
	m := readReport(t, filepath.Join(out, "merged", report.JSONFile))
	var ids []string
	for _, p := range m.Plans {
		ids = append(ids, p.ID)
	}
	slices.Sort(ids)
	// --set-optional n=9 pins the matrix: twin is one cell.
	if want := []string{"alone", "free-a", "free-b", "locked-one", "locked-two", "twin"}; !slices.Equal(ids, want) {
		t.Errorf("merged cells %q, want %q", ids, want)
	}
	if len(m.Sources) != 3 || m.Sources[0].Shard != "1/3" || m.Meta["longhorn"] != "v1.9.2" {
		t.Errorf("sources %+v, meta %v", m.Sources, m.Meta)
	}
}

// TestParallelInterruptLive interrupts a parallel run while every cell
// applies: exit 130, every cell interrupted and cleaned up, nothing left.
func TestParallelInterruptLive(t *testing.T) {
	kc := clustertest.Kubeconfig(t)
	dyn := dynamic.NewForConfigOrDie(clustertest.Config(t))
	dir := t.TempDir()
	for i := range 3 {
		body := fmt.Sprintf(`name: int-%d
vars: {k: 1}
matrix: {k: [1, 2]}
steps:
  - apply:
      forEach: 1..200
      as: i
      parallel: 2
      manifest: |
        apiVersion: v1
        kind: ConfigMap
        metadata:
          name: "pi-${{ runID }}-${{ i }}"
          labels: {suite: parint}
`, i)
		_ = os.WriteFile(filepath.Join(dir, fmt.Sprintf("p%d.yaml", i)), []byte(body), 0o644)
	}
	cmd := exec.Command(runnerBinary(t), "--kubeconfig", kc, "--qps", "40", "--burst", "1", "--parallel", "4", "--report-dir", filepath.Join(dir, "out"), dir)
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	for n := 0; n < 40; {
		l, err := dyn.Resource(configMapsGVR).Namespace("default").List(ctx, metav1.ListOptions{LabelSelector: "suite=parint"})
		if err != nil || ctx.Err() != nil {
			cmd.Process.Kill()
			t.Fatalf("waiting for objects: %v %v", err, ctx.Err())
		}
		n = len(l.Items)
		time.Sleep(50 * time.Millisecond)
	}
	cmd.Process.Signal(syscall.SIGINT)
	err := cmd.Wait()
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() != 130 {
		t.Fatalf("want exit 130, got %v\n%s\n%s", err, out.String(), errOut.String())
	}
	l, err := dyn.Resource(configMapsGVR).Namespace("default").List(context.Background(), metav1.ListOptions{LabelSelector: "suite=parint"})
	if err != nil || len(l.Items) != 0 {
		t.Fatalf("left behind: %d %v\n%s", len(l.Items), err, out.String())
	}
	r := readReport(t, filepath.Join(dir, "out", report.JSONFile))
	if len(r.Plans) != 4 {
		t.Errorf("%d cells in the report, want the 4 that started", len(r.Plans))
	}
	for _, p := range r.Plans {
		if p.Outcome != "interrupted" || p.Cleanup == nil || !p.Cleanup.Ran || len(p.Cleanup.Left) != 0 {
			b, _ := json.Marshal(p.Cleanup)
			t.Errorf("%s: %s, cleanup %s", p.ID, p.Outcome, b)
		}
	}
}
