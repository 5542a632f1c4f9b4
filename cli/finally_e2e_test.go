package cli

import (
	"bytes"
	"context"
	"errors"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/client-go/dynamic"

	"github.com/scenario-runner/runner/localcluster/clustertest"
)

// TestFinallyAfterInterrupt: Ctrl-C during a step still runs the plan's
// finally steps (within the cleanup budget) before cleanup, which then
// restores what the plan patched.
func TestFinallyAfterInterrupt(t *testing.T) {
	kc := clustertest.Kubeconfig(t)
	dyn := dynamic.NewForConfigOrDie(clustertest.Config(t))
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	pre := &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "v1", "kind": "ConfigMap",
		"metadata": map[string]any{"name": "finally-target", "namespace": "default"},
		"data":     map[string]any{"state": "before"},
	}}
	if _, err := dyn.Resource(configMapsGVR).Namespace("default").Create(ctx, pre, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		dyn.Resource(configMapsGVR).Namespace("default").Delete(context.Background(), "finally-target", metav1.DeleteOptions{})
	})
	plan := writePlan(t, `
name: finally-after-interrupt
steps:
  - patch: {apiVersion: v1, kind: ConfigMap, name: finally-target, merge: {data: {state: during}}}
  - sleep: 1h
finally:
  - patch:
      apiVersion: v1
      kind: ConfigMap
      name: finally-target
      restore: false
      merge: {data: {finally: ran}}
`)
	cmd := exec.Command(runnerBinary(t), "--kubeconfig", kc, plan)
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	// Interrupt once the first patch is in: the plan is then in its sleep.
	for {
		cm, err := dyn.Resource(configMapsGVR).Namespace("default").Get(ctx, "finally-target", metav1.GetOptions{})
		if ctx.Err() != nil {
			cmd.Process.Kill()
			t.Fatalf("the plan never patched: %v", err)
		}
		if err == nil && cm.Object["data"].(map[string]any)["state"] == "during" {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	cmd.Process.Signal(syscall.SIGINT)
	err := cmd.Wait()
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() != 130 {
		t.Fatalf("want exit 130, got %v\n%s\n%s", err, out.String(), errOut.String())
	}
	cm, err := dyn.Resource(configMapsGVR).Namespace("default").Get(ctx, "finally-target", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	data := cm.Object["data"].(map[string]any)
	if data["finally"] != "ran" || data["state"] != "before" {
		t.Errorf("after the interrupt: data %v, want finally=ran (the finally step) and state=before (restored)\n%s", data, out.String())
	}
	if !strings.Contains(out.String(), "restored: ConfigMap/default/finally-target") {
		t.Errorf("summary does not name the restored object:\n%s", out.String())
	}
}
