package steps_test

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/scenario-runner/runner/kube"
	"github.com/scenario-runner/runner/result"
)

// execPods is a Deployment of three pods with an emptyDir at /scratch.
const execPods = `
  - apply:
      manifest: |
        apiVersion: apps/v1
        kind: Deployment
        metadata: {name: exec-live}
        spec:
          replicas: 3
          selector: {matchLabels: {app: exec-live}}
          template:
            metadata: {labels: {app: exec-live}}
            spec:
              terminationGracePeriodSeconds: 0
              containers:
                - name: app
                  image: registry.k8s.io/pause:3.10
                  env: [{name: GREETING, value: hello}]
                  volumeMounts: [{name: scratch, mountPath: /scratch}]
              volumes: [{name: scratch, emptyDir: {}}]
  - waitFor:
      apiVersion: v1
      kind: Pod
      labelSelector: app=exec-live
      condition: object.status?.phase == "Running"
      count: 3
      outputs:
        pods: map(objects, .metadata.name)
`

// needRoot skips a test whose pods are exec'd on the local cluster, whose
// exec sandbox needs root (mount namespaces).
func needRoot(t *testing.T) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("exec on the local cluster needs root (localcluster/podexec)")
	}
}

// TestExecLive runs exec steps on the local cluster's KWOK pods, through
// the API server and the nodes' exec endpoint (localcluster/podexec).
func TestExecLive(t *testing.T) {
	needRoot(t)
	c := liveCluster(t)
	hostFile := filepath.Join(os.TempDir(), "exec-live-escape")
	os.Remove(hostFile)
	r := runLive(t, c, `
name: exec-live
steps:
`+execPods+`
  - name: stdout and the environment
    exec:
      name: ${{ pods[0] }}
      command: [sh, -c, 'echo "$GREETING from $(hostname) $HOSTNAME"']
      outputs:
        greeting: trim(results[0].stdout)
        node: results[0].node
  - assert: ['greeting == "hello from " + pods[0] + " " + pods[0]', 'node startsWith "node-"']
  - name: exit codes are exit codes
    exec:
      name: ${{ pods[0] }}
      command: [sh, -c, 'echo bad >&2; exit 7']
      expectExitCode: 7
      outputs:
        code: results[0].exitCode
        err: results[0].stderr
  - assert: ['code == 7', 'err == "bad\n"']
  - name: stdin is closed at its end
    exec:
      name: ${{ pods[1] }}
      command: [md5sum]
      stdin: "some data"
      outputs:
        sum: split(results[0].stdout, " ")[0]
  - assert: ['sum == "1e50210a0202497fb79bc38b6ade6c34"']
  - name: every pod, each with its own emptyDir
    exec:
      labelSelector: app=exec-live
      all: true
      command: [sh, -c, 'echo $HOSTNAME > /scratch/me && cat /scratch/me']
      outputs:
        names: map(results, trim(.stdout))
        nodes: map(results, .node)
  - assert: ['sort(names) == sort(pods)', 'len(nodes) == 3']
  - name: a sandbox escape fails
    exec:
      name: ${{ pods[2] }}
      command: [sh, -c, 'touch `+hostFile+` /usr/x /etc/x /x 2>&1; ls /tmp; id -u']
      outputs:
        out: results[0].stdout
  - assert: ['out contains "Read-only file system"', 'out contains "Permission denied"', 'out contains "exec-live-escape\n65534"']
`, nil)
	mustPass(t, r)
	if _, err := os.Stat(hostFile); err == nil {
		os.Remove(hostFile)
		t.Errorf("a pod's command wrote the host's %s", hostFile)
	}
	t.Logf("exec steps took %s", stepTimes(r))
}

// TestExecLiveFails: a failing command fails the step with the pod, the
// command, the exit code and stderr.
func TestExecLiveFails(t *testing.T) {
	needRoot(t)
	c := liveCluster(t)
	r := runLive(t, c, `
name: exec-live-fails
steps:
`+execPods+`
  - exec:
      name: ${{ pods[0] }}
      command: [md5sum, /data/missing]
`, nil)
	if r.Outcome != result.Failed {
		t.Fatalf("outcome %s, want failed", r.Outcome)
	}
	for _, want := range []string{"pod default/exec-live-", "[md5sum /data/missing] exited with code 1, want 0", "stderr: md5sum: /data/missing: No such file or directory"} {
		if !strings.Contains(r.Error, want) {
			t.Errorf("error %q lacks %q", r.Error, want)
		}
	}
}

// TestExecLiveCancel: the caller of a long command gets its answer at once
// when it goes away (Ctrl-C, the step's timeout), and the command ends
// with its pod, as a container's processes do.
func TestExecLiveCancel(t *testing.T) {
	for _, spdy := range []bool{false, true} {
		t.Run(map[bool]string{true: "SPDY", false: "WebSocket"}[spdy], func(t *testing.T) { testExecLiveCancel(t, spdy) })
	}
}

func testExecLiveCancel(t *testing.T, spdy bool) {
	needRoot(t)
	c := liveCluster(t)
	r := runLive(t, c, `
name: exec-live-cancel
cleanup: never
steps:
`+execPods, nil)
	if r.Outcome != result.Passed {
		t.Fatalf("outcome %s: %s", r.Outcome, r.Error)
	}
	pod := r.Outputs["pods"].([]any)[0].(string)
	marker := map[bool]string{true: "4711.5", false: "4712.5"}[spdy]
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Second)
	defer cancel()
	start := time.Now()
	var out bytes.Buffer
	_, err := c.Exec(ctx, kube.ExecRequest{Namespace: "default", Pod: pod, Command: []string{"sleep", marker}, Stdout: &out, Stderr: &out, SPDY: spdy})
	if err == nil || time.Since(start) > 3*time.Second {
		t.Fatalf("exec of sleep returned %v after %s", err, time.Since(start))
	}
	t.Logf("the caller had its answer %s after it went away: %v", time.Since(start)-2*time.Second, err)
	deleted := time.Now()
	mustPass(t, runLive(t, c, "name: exec-live-cancel-cleanup\nsteps:\n  - delete: {apiVersion: apps/v1, kind: Deployment, name: exec-live, propagation: Foreground}\n", nil))
	deadline := time.Now().Add(15 * time.Second)
	for len(running(marker)) > 0 {
		if time.Now().After(deadline) {
			t.Fatalf("still running 15s after its pod was deleted: %v", running(marker))
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Logf("the sandboxed command ended %s after its pod's deletion began", time.Since(deleted).Round(time.Millisecond))
}

// running lists the processes whose command line holds marker.
func running(marker string) []string {
	var out []string
	procs, _ := filepath.Glob("/proc/[0-9]*/cmdline")
	for _, p := range procs {
		b, _ := os.ReadFile(p)
		if strings.Contains(string(b), marker) {
			out = append(out, p+": "+string(bytes.ReplaceAll(b, []byte{0}, []byte{' '})))
		}
	}
	return out
}

func stepTimes(r *result.Plan) string {
	var parts []string
	for _, s := range r.Steps {
		if s.Kind == "exec" {
			parts = append(parts, s.End.Sub(s.Start).Round(time.Millisecond).String())
		}
	}
	return strings.Join(parts, ", ")
}
