package cli

import (
	"bytes"
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/dynamic"

	"github.com/scenario-runner/runner/localcluster/clustertest"
)

var (
	buildOnce sync.Once
	binPath   string
	buildErr  error
)

// runnerBinary builds the runner command once per test binary.
func runnerBinary(t *testing.T) string {
	t.Helper()
	buildOnce.Do(func() {
		dir, err := os.MkdirTemp("", "runner-bin-")
		if err != nil {
			buildErr = err
			return
		}
		binPath = filepath.Join(dir, "runner")
		out, err := exec.Command("go", "build", "-o", binPath, "..").CombinedOutput()
		if err != nil {
			buildErr = errors.New(string(out))
		}
	})
	if buildErr != nil {
		t.Fatalf("building runner: %v", buildErr)
	}
	return binPath
}

// exitCode runs the runner binary and returns its exit code and output.
func runBinary(t *testing.T, ctx context.Context, args ...string) (int, string, string) {
	t.Helper()
	cmd := exec.CommandContext(ctx, runnerBinary(t), args...)
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	err := cmd.Run()
	code := 0
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	return code, out.String(), errOut.String()
}

func writePlan(t *testing.T, body string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "plan.yaml")
	if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

var configMapsGVR = schema.GroupVersionResource{Version: "v1", Resource: "configmaps"}

// TestInterruptCleansUp kills the runner with SIGINT in the middle of an
// apply of 300 objects: it exits 130 and no object of the plan is left.
func TestInterruptCleansUp(t *testing.T) {
	kc := clustertest.Kubeconfig(t)
	dyn := dynamic.NewForConfigOrDie(clustertest.Config(t))
	plan := writePlan(t, `
name: interrupted
steps:
  - apply:
      forEach: 1..300
      as: i
      parallel: 2
      manifest: |
        apiVersion: v1
        kind: ConfigMap
        metadata:
          name: "int-${{ i }}"
          labels: {suite: interrupted}
`)
	cmd := exec.Command(runnerBinary(t), "--kubeconfig", kc, "--qps", "20", "--burst", "1", plan)
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	// Wait until the apply is well under way, then interrupt.
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	for n := 0; n < 30; {
		l, err := dyn.Resource(configMapsGVR).Namespace("default").List(ctx, metav1.ListOptions{LabelSelector: "suite=interrupted"})
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
		t.Fatalf("want exit 130, got %v\nstdout:\n%s\nstderr:\n%s", err, out.String(), errOut.String())
	}
	l, err := dyn.Resource(configMapsGVR).Namespace("default").List(context.Background(), metav1.ListOptions{LabelSelector: "suite=interrupted"})
	if err != nil {
		t.Fatal(err)
	}
	if len(l.Items) != 0 {
		t.Fatalf("%d objects left after the interrupt\nstdout:\n%s", len(l.Items), out.String())
	}
	if !strings.Contains(out.String(), "INTERRUPTED interrupted") || !strings.Contains(out.String(), "cleanup (always): deleted") {
		t.Errorf("summary does not say interrupted and cleaned up:\n%s", out.String())
	}
}

// durations in messages vary from run to run; golden files hold a stand-in.
var spacesRE = regexp.MustCompile(`(\S)  +`)

var durationRE = regexp.MustCompile(`\b\d+(\.\d+)?(ns|µs|ms|s|m)\b|\b\d+m\d+(\.\d+)?s\b`)

// TestFailureMessagesLive runs plans that fail on the real cluster and
// checks exit 1 and the failure message word for word (durations masked).
func TestFailureMessagesLive(t *testing.T) {
	kc := clustertest.Kubeconfig(t)
	for _, tc := range []struct {
		name, plan string
	}{
		{"timeprobe-assert", `
name: timeprobe-assert
steps:
  - timeProbe:
      name: create-configmap
      repeat: 5
      steps:
        - apply:
            manifest: |
              apiVersion: v1
              kind: ConfigMap
              metadata: {name: probe, labels: {suite: probe}}
        - delete: {apiVersion: v1, kind: ConfigMap, name: probe}
      assert:
        - len(samples) == 5
        - p90 < duration("1ns")
        - max < duration("1ns") && mean > min
`},
		{"waitfor-timeout", `
name: waitfor-timeout
steps:
  - apply:
      forEach: 1..3
      as: i
      manifest: |
        apiVersion: v1
        kind: ConfigMap
        metadata: {name: "wt-${{ i }}", labels: {suite: wt}}
        data: {state: "${{ i == 2 ? 'done' : 'pending' }}"}
  - timeout: 2s
    waitFor:
      apiVersion: v1
      kind: ConfigMap
      labelSelector: suite=wt
      condition: object.data?.state == "done"
`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, stdout, stderr := runBinary(t, context.Background(), "--kubeconfig", kc, writePlan(t, tc.plan))
			if code != 1 {
				t.Fatalf("want exit 1, got %d\n%s\n%s", code, stdout, stderr)
			}
			// The whole summary, word for word; the step's error once in all
			// that was printed.
			lines := strings.Split(stdout, "\n")
			for i := range lines {
				if strings.Contains(lines[i], "/plan.yaml") { // the temp folder
					lines[i] = lines[i][:strings.Index(lines[i], " /")] + " <plan>"
				}
			}
			// Durations vary, and so does the padding of the columns after them.
			got := spacesRE.ReplaceAllString(durationRE.ReplaceAllString(strings.Join(lines, "\n"), "<d>"), "$1 ")
			golden(t, filepath.Join("testdata", tc.name+".golden"), got)
			var first string // the first line of the step's error, indented under it
			for _, l := range strings.Split(got, "\n") {
				if strings.HasPrefix(l, "      ") {
					first = strings.TrimSpace(l)
					break
				}
			}
			if n := strings.Count(durationRE.ReplaceAllString(stdout+stderr, "<d>"), first); first == "" || n != 1 {
				t.Errorf("the error %q is printed %d times", first, n)
			}
		})
	}
}
