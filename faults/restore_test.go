package faults

import (
	"context"
	"os/exec"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/scenario-runner/runner/kube"
)

// A SIGKILLed run cannot restore what it changed: the change carries its
// own restore record (kube.RestoreAnnotation), and `runner cleanup --run
// ID` puts the object back as it was, marks removed, and deletes what the
// run created.
func TestSIGKILLThenCleanupRunRestoresChanged(t *testing.T) {
	cs := clientset(t)
	ns := namespace(t, cs, "faults-restore")
	ctx := context.Background()
	orig := &corev1.ConfigMap{
		ObjectMeta: metav1.ObjectMeta{Name: "pre", Namespace: ns, Labels: map[string]string{"team": "qa"}},
		Data:       map[string]string{"k": "original", "other": "kept"},
	}
	if _, err := cs.CoreV1().ConfigMaps(ns).Create(ctx, orig, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	plan := writePlan(t, `name: sigkill-restore
vars: {ns: default}
steps:
  - name: change
    apply:
      force: true
      manifest: |
        apiVersion: v1
        kind: ConfigMap
        metadata: {name: pre, namespace: '${{ ns }}', labels: {team: perf}}
        data: {k: changed, added: x}
  - name: create
    apply:
      manifest: |
        apiVersion: v1
        kind: ConfigMap
        metadata: {name: cm-new, namespace: '${{ ns }}'}
  - name: pause
    sleep: 5m
`)
	r := start(t, "--set", "ns="+ns, plan)
	id := r.waitLine(runIDLine, time.Minute)[1]
	r.waitLine(regexp.MustCompile(`step started .*step=pause`), time.Minute)
	r.signal(syscall.SIGKILL)
	r.exit(time.Minute)

	cm, err := cs.CoreV1().ConfigMaps(ns).Get(ctx, "pre", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if cm.Data["k"] != "changed" || cm.Labels[kube.ChangedByLabel] != id || cm.Annotations[kube.RestoreAnnotation(id)] == "" {
		t.Fatalf("the killed run's change is not marked: labels %v, annotations %v, data %v", cm.Labels, cm.Annotations, cm.Data)
	}
	out, err := exec.Command(runnerBin, "cleanup", "--run", id, "--kubeconfig", kubeconfig(t)).CombinedOutput()
	if err != nil {
		t.Fatalf("cleanup: %v\n%s", err, out)
	}
	if !strings.Contains(string(out), "deleted 1, absent 0, left 0, restored 1, not restored 0") {
		t.Errorf("cleanup says:\n%s", out)
	}
	cm, err = cs.CoreV1().ConfigMaps(ns).Get(ctx, "pre", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{"k": "original", "other": "kept"}
	if len(cm.Data) != 2 || cm.Data["k"] != want["k"] || cm.Data["other"] != want["other"] {
		t.Errorf("data after cleanup %v, want %v", cm.Data, want)
	}
	if len(cm.Labels) != 1 || cm.Labels["team"] != "qa" {
		t.Errorf("labels after cleanup %v, want only team=qa", cm.Labels)
	}
	for k := range cm.Annotations {
		if strings.HasPrefix(k, "runner.io/") {
			t.Errorf("annotation %s left after cleanup", k)
		}
	}
	if n := configMaps(t, cs, ns, "cm-"); n != 0 {
		t.Errorf("%d created ConfigMaps left", n)
	}
}
