package cli

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
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
