package cli

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/dynamic"

	"github.com/scenario-runner/runner/localcluster/clustertest"
)

// TestAllowCommands: a plan with a command step is refused with exit 2
// before anything touches the cluster unless --allow-commands says so;
// validate and --dry-run never run it; with the flag it runs, and is killed
// at its step's timeout.
func TestAllowCommands(t *testing.T) {
	kc := clustertest.Kubeconfig(t)
	dyn, err := dynamic.NewForConfig(clustertest.Config(t))
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	flag := filepath.Join(dir, "ran")
	plan := filepath.Join(dir, "plan.yaml")
	body := fmt.Sprintf(`name: allow-commands
steps:
  - apply:
      manifest: |
        apiVersion: v1
        kind: ConfigMap
        metadata: {name: allow-commands-probe}
  - command:
      argv: [touch, %s]
`, flag)
	if err := os.WriteFile(plan, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	defer cancel()
	probeExists := func() bool {
		_, err := dyn.Resource(configMapsGVR).Namespace("default").Get(ctx, "allow-commands-probe", metav1.GetOptions{})
		return err == nil
	}

	code, _, stderr := runBinary(t, ctx, "--kubeconfig", kc, plan)
	if code != 2 || !strings.Contains(stderr, "plan.yaml:8:5: this command step runs a program on this machine: runner runs it only with --allow-commands") {
		t.Fatalf("without --allow-commands: exit %d, stderr:\n%s", code, stderr)
	}
	if probeExists() {
		t.Error("the refused plan created its ConfigMap")
	}
	// Refused before connecting: an unreachable cluster makes no difference.
	if code, _, stderr := runBinary(t, ctx, "--kubeconfig", filepath.Join(dir, "missing"), plan); code != 2 {
		t.Errorf("without a cluster: exit %d, stderr:\n%s", code, stderr)
	}
	if code, _, stderr := runBinary(t, ctx, "validate", plan); code != 0 {
		t.Errorf("validate: exit %d, stderr:\n%s", code, stderr)
	}
	if code, _, stderr := runBinary(t, ctx, "--kubeconfig", kc, "--dry-run", plan); code != 0 {
		t.Errorf("--dry-run: exit %d, stderr:\n%s", code, stderr)
	}
	if _, err := os.Stat(flag); err == nil {
		t.Fatal("the command ran without --allow-commands")
	}

	code, stdout, stderr := runBinary(t, ctx, "--kubeconfig", kc, "--allow-commands", plan)
	if code != 0 {
		t.Fatalf("with --allow-commands: exit %d\n%s\n%s", code, stdout, stderr)
	}
	if _, err := os.Stat(flag); err != nil {
		t.Errorf("the command did not run: %v", err)
	}

	slow := filepath.Join(dir, "slow.yaml")
	if err := os.WriteFile(slow, []byte("name: slow-command\nsteps:\n  - timeout: 1s\n    command: {argv: [sleep, '3600.25']}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	code, stdout, _ = runBinary(t, ctx, "--kubeconfig", kc, "--allow-commands", slow)
	if code != 1 || !strings.Contains(stdout, "[sleep 3600.25] killed (process group") || time.Since(start) > 20*time.Second {
		t.Errorf("a command past its timeout: exit %d after %s:\n%s", code, time.Since(start), stdout)
	}
}

// TestInterruptExecAndCommand: Ctrl-C during a long exec in a pod and
// during a long local command ends the run at once with exit 130; the local
// program's process group is gone, and the pod's command ends with its pod
// at cleanup.
func TestInterruptExecAndCommand(t *testing.T) {
	kc := clustertest.Kubeconfig(t)
	for _, tc := range []struct {
		name, marker, step string
	}{
		{"exec", "4721.5", `  - exec: {name: int-exec, command: [sh, -c, "sleep 4721.5"]}`},
		{"command", "4722.5", `  - command: {argv: [sh, -c, "sleep 4722.5 & sleep 4722.5"]}`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if tc.name == "exec" && os.Geteuid() != 0 {
				t.Skip("exec on the local cluster needs root (localcluster/podexec)")
			}
			plan := writePlan(t, `name: interrupt-`+tc.name+`
steps:
  - apply:
      manifest: |
        apiVersion: v1
        kind: Pod
        metadata: {name: int-exec}
        spec:
          terminationGracePeriodSeconds: 0
          containers: [{name: app, image: registry.k8s.io/pause:3.10}]
  - waitFor: {apiVersion: v1, kind: Pod, name: int-exec, condition: 'object.status?.phase == "Running"'}
`+tc.step+"\n")
			cmd := exec.Command(runnerBinary(t), "--kubeconfig", kc, "--allow-commands", plan)
			var out, errOut bytes.Buffer
			cmd.Stdout, cmd.Stderr = &out, &errOut
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			deadline := time.Now().Add(time.Minute)
			for len(processes(tc.marker)) == 0 {
				if time.Now().After(deadline) {
					cmd.Process.Kill()
					t.Fatalf("the command never started\n%s\n%s", out.String(), errOut.String())
				}
				time.Sleep(50 * time.Millisecond)
			}
			start := time.Now()
			cmd.Process.Signal(syscall.SIGINT)
			err := cmd.Wait()
			var ee *exec.ExitError
			if !errors.As(err, &ee) || ee.ExitCode() != 130 {
				t.Fatalf("want exit 130, got %v\nstdout:\n%s\nstderr:\n%s", err, out.String(), errOut.String())
			}
			took := time.Since(start)
			for time.Since(start) < 15*time.Second && len(processes(tc.marker)) > 0 {
				time.Sleep(100 * time.Millisecond)
			}
			if left := processes(tc.marker); len(left) > 0 {
				t.Errorf("still running after the interrupt and cleanup: %v", left)
			}
			if !strings.Contains(out.String(), "INTERRUPTED interrupt-"+tc.name) {
				t.Errorf("summary:\n%s", out.String())
			}
			t.Logf("exit 130 %s after SIGINT (cleanup included)", took.Round(time.Millisecond))
		})
	}
}

// processes lists the processes whose command line holds marker.
func processes(marker string) []string {
	var out []string
	procs, _ := filepath.Glob("/proc/[0-9]*/cmdline")
	for _, p := range procs {
		b, _ := os.ReadFile(p)
		if strings.Contains(string(b), marker) {
			out = append(out, p)
		}
	}
	return out
}
