package faults

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/scenario-runner/runner/localcluster/clustertest"
)

var runnerBin string

func TestMain(m *testing.M) {
	os.Exit(func() int {
		dir, err := os.MkdirTemp("", "runner-faults-")
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
		defer os.RemoveAll(dir)
		runnerBin = filepath.Join(dir, "runner")
		goBin := filepath.Join(runtimeGOROOT(), "bin", "go")
		build := exec.Command(goBin, "build", "-o", runnerBin, "github.com/scenario-runner/runner")
		build.Stdout, build.Stderr = os.Stderr, os.Stderr
		if err := build.Run(); err != nil {
			fmt.Fprintln(os.Stderr, "building runner:", err)
			return 1
		}
		return clustertest.Main(m)
	}())
}

// trials is how many random trials a test runs: FAULT_TRIALS, default 3.
func trials(t *testing.T) int {
	if s := os.Getenv("FAULT_TRIALS"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 {
			t.Fatalf("FAULT_TRIALS=%q: want a positive number", s)
		}
		return n
	}
	return 3
}

// run is one runner process whose stderr is read line by line.
type run struct {
	t      *testing.T
	cmd    *exec.Cmd
	stdout bytes.Buffer
	mu     sync.Mutex
	stderr []string
	more   chan struct{} // a line arrived
	done   chan struct{}
	err    error
}

// start runs the runner binary against the shared cluster.
func start(t *testing.T, args ...string) *run {
	t.Helper()
	r := &run{t: t, more: make(chan struct{}, 1), done: make(chan struct{})}
	r.cmd = exec.Command(runnerBin, append([]string{"--log-format", "console", "--log-level", "info"}, args...)...)
	r.cmd.Env = append(os.Environ(), "KUBECONFIG="+clustertest.Kubeconfig(t), "NO_COLOR=1")
	r.cmd.Stdout = &r.stdout
	pipe, err := r.cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := r.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	lines := make(chan struct{})
	go func() {
		defer close(lines)
		sc := bufio.NewScanner(pipe)
		sc.Buffer(make([]byte, 1<<20), 1<<20)
		for sc.Scan() {
			r.mu.Lock()
			r.stderr = append(r.stderr, sc.Text())
			r.mu.Unlock()
			select {
			case r.more <- struct{}{}:
			default:
			}
		}
		_, _ = io.Copy(io.Discard, pipe)
	}()
	go func() {
		<-lines
		r.err = r.cmd.Wait()
		close(r.done)
	}()
	t.Cleanup(func() {
		_ = r.cmd.Process.Kill()
		<-r.done
	})
	return r
}

// waitLine waits until a stderr line matches re and returns its
// submatches.
func (r *run) waitLine(re *regexp.Regexp, timeout time.Duration) []string {
	r.t.Helper()
	deadline := time.After(timeout)
	seen := 0
	for {
		r.mu.Lock()
		lines := r.stderr[seen:]
		seen = len(r.stderr)
		r.mu.Unlock()
		for _, l := range lines {
			if m := re.FindStringSubmatch(l); m != nil {
				return m
			}
		}
		select {
		case <-r.more:
		case <-r.done:
			r.mu.Lock()
			rest := len(r.stderr) > seen
			r.mu.Unlock()
			if !rest {
				r.t.Fatalf("runner exited (%v) before a line matched %s\nstdout:\n%s\nstderr:\n%s", r.err, re, r.stdout.String(), r.stderrText())
			}
		case <-deadline:
			r.t.Fatalf("no line matched %s within %s\nstderr:\n%s", re, timeout, r.stderrText())
		}
	}
}

func (r *run) stderrText() string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return strings.Join(r.stderr, "\n")
}

// exit waits for the process and returns its exit code.
func (r *run) exit(timeout time.Duration) int {
	r.t.Helper()
	select {
	case <-r.done:
	case <-time.After(timeout):
		r.t.Fatalf("runner still running after %s\nstderr:\n%s", timeout, r.stderrText())
	}
	if r.err == nil {
		return 0
	}
	if ee, ok := r.err.(*exec.ExitError); ok {
		return ee.ExitCode()
	}
	r.t.Fatalf("runner: %v", r.err)
	return -1
}

func (r *run) signal(sig os.Signal) {
	r.t.Helper()
	if err := r.cmd.Process.Signal(sig); err != nil {
		r.t.Fatalf("signal %v: %v", sig, err)
	}
}

var runIDLine = regexp.MustCompile(`run id .* run=(\S+)`)

// namespace creates a namespace for one test and deletes it afterwards.
// namespace creates a namespace named prefix plus a suffix the server
// picks (a test run again in the same binary, -count=N, must not meet its
// predecessor's namespace still terminating) and deletes it when the test
// ends.
func namespace(t *testing.T, cs kubernetes.Interface, prefix string) string {
	t.Helper()
	ctx := context.Background()
	ns, err := cs.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{GenerateName: prefix + "-"}}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cs.CoreV1().Namespaces().Delete(context.Background(), ns.Name, metav1.DeleteOptions{}) })
	return ns.Name
}

func clientset(t *testing.T) kubernetes.Interface {
	t.Helper()
	cs, err := kubernetes.NewForConfig(clustertest.Config(t))
	if err != nil {
		t.Fatal(err)
	}
	return cs
}

// configMaps counts the ConfigMaps of ns (but the namespace's own
// kube-root-ca.crt) whose name starts with prefix.
func configMaps(t *testing.T, cs kubernetes.Interface, ns, prefix string) int {
	t.Helper()
	list, err := cs.CoreV1().ConfigMaps(ns).List(context.Background(), metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, cm := range list.Items {
		if strings.HasPrefix(cm.Name, prefix) {
			n++
		}
	}
	return n
}

// writePlan writes a plan file into a test folder.
func writePlan(t *testing.T, text string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "plan.yaml")
	if err := os.WriteFile(p, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// manyConfigMaps is a plan applying n ConfigMaps cm-1..cm-n in namespace
// ns, the one numbered bad named BAD-NAME (invalid) when bad > 0.
func manyConfigMaps(name string, n, bad int) string {
	return fmt.Sprintf(`name: %s
vars: {ns: default}
steps:
  - name: many
    apply:
      forEach: 1..%d
      manifest: |
        apiVersion: v1
        kind: ConfigMap
        metadata:
          name: '${{ item == %d ? "BAD-NAME" : "cm-" + string(item) }}'
          namespace: ${{ ns }}
        data: {k: v}
`, name, n, bad)
}

var leftLine = regexp.MustCompile(`cleanup \(\w[\w-]*\): deleted (\d+), restored \d+, left (\d+),`)

// cleanupCounts reads the summary's cleanup line: deleted and left.
func cleanupCounts(t *testing.T, stdout string) (deleted, left int) {
	t.Helper()
	m := leftLine.FindStringSubmatch(stdout)
	if m == nil {
		t.Fatalf("no cleanup line in the summary:\n%s", stdout)
	}
	deleted, _ = strconv.Atoi(m[1])
	left, _ = strconv.Atoi(m[2])
	return deleted, left
}

func kubeconfig(t *testing.T) string { return clustertest.Kubeconfig(t) }

// sigintMax is the latest point of a random SIGINT: FAULT_SIGINT_MAX
// (a duration), default 800ms.
func sigintMax(t *testing.T) time.Duration {
	if s := os.Getenv("FAULT_SIGINT_MAX"); s != "" {
		d, err := time.ParseDuration(s)
		if err != nil || d <= 50*time.Millisecond {
			t.Fatalf("FAULT_SIGINT_MAX=%q: want a duration over 50ms", s)
		}
		return d
	}
	return 800 * time.Millisecond
}

// record logs one trial for make soak's tally: its exit code, what the
// summary said was left, what the cluster held then, and what remained at
// the end of the trial (after `runner cleanup` where the trial runs it).
func record(t *testing.T, trial, exit, leftSummary, leftCluster, remaining int) {
	t.Logf("FAULT test=%s trial=%d exit=%d left_summary=%d left_cluster=%d remaining=%d", t.Name(), trial, exit, leftSummary, leftCluster, remaining)
}

// kill sends SIGKILL unless the process has already ended (a kill meant
// for a run's own cleanup may come after it finished).
func (r *run) kill() {
	r.t.Helper()
	if err := r.cmd.Process.Signal(syscall.SIGKILL); err != nil && !errors.Is(err, os.ErrProcessDone) {
		r.t.Fatalf("SIGKILL: %v", err)
	}
}
