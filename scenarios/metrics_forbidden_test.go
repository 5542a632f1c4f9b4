package scenarios_test

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/scenario-runner/runner/cli"
	"github.com/scenario-runner/runner/localcluster/clustertest"
)

// forbiddenPlan measures the managers during a probe with an identity that
// may list pods but not use pods/proxy.
const forbiddenPlan = `name: metrics-forbidden
vars: {limit: 100, strict: false}
steps:
  - timeProbe:
      name: configmap
      measure:
        pods: {namespace: longhorn-system, labelSelector: app=longhorn-manager, port: manager}
        every: 500ms
        queries:
          replicaQueue: sum(longhorn_workqueue_depth{name="longhorn-replica"})
        assert:
          - not strict || replicaQueue.max < limit
      steps:
        - apply:
            manifest: |
              apiVersion: v1
              kind: ConfigMap
              metadata: {name: metrics-forbidden}
        - sleep: 1s
        - delete: {apiVersion: v1, kind: ConfigMap, name: metrics-forbidden}
`

// TestMeasureWithoutPodsProxy: an identity without get on pods/proxy (a
// real API server's RBAC) cannot read the managers; the measured plan
// still passes and says the metric is absent and why; only an assertion
// on it fails, with what it read.
func TestMeasureWithoutPodsProxy(t *testing.T) {
	cfg := clustertest.Config(t)
	kc, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx := t.Context()
	const name = "runner-metrics-no-proxy"
	role := &rbacv1.ClusterRole{ObjectMeta: metav1.ObjectMeta{Name: name}, Rules: []rbacv1.PolicyRule{
		{APIGroups: []string{""}, Resources: []string{"pods"}, Verbs: []string{"get", "list", "watch"}},
		{APIGroups: []string{""}, Resources: []string{"configmaps"}, Verbs: []string{"get", "list", "watch", "create", "patch", "delete"}},
	}}
	binding := &rbacv1.ClusterRoleBinding{ObjectMeta: metav1.ObjectMeta{Name: name},
		RoleRef:  rbacv1.RoleRef{APIGroup: "rbac.authorization.k8s.io", Kind: "ClusterRole", Name: name},
		Subjects: []rbacv1.Subject{{Kind: "ServiceAccount", Name: name, Namespace: "default"}}}
	kubeconfig := clustertest.ServiceAccountKubeconfig(t, cfg, "default", name)
	if _, err := kc.RbacV1().ClusterRoles().Create(ctx, role, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := kc.RbacV1().ClusterRoleBindings().Create(ctx, binding, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		bg := context.Background()
		_ = kc.RbacV1().ClusterRoleBindings().Delete(bg, name, metav1.DeleteOptions{})
		_ = kc.RbacV1().ClusterRoles().Delete(bg, name, metav1.DeleteOptions{})
	})
	dir := t.TempDir()
	plan := filepath.Join(dir, "plan.yaml")
	if err := os.WriteFile(plan, []byte(forbiddenPlan), 0o644); err != nil {
		t.Fatal(err)
	}
	// The managers run (as the admin sees them) before the plan reads them.
	deadline := time.Now().Add(time.Minute)
	for {
		pods, err := kc.CoreV1().Pods("longhorn-system").List(ctx, metav1.ListOptions{LabelSelector: "app=longhorn-manager"})
		running := 0
		for _, p := range pods.Items {
			if err == nil && p.Status.Phase == corev1.PodRunning && p.Status.PodIP != "" {
				running++
			}
		}
		if running == 3 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d manager pods running after a minute (%v)", running, err)
		}
		time.Sleep(200 * time.Millisecond)
	}
	run := func(args ...string) (string, error) {
		var out, errOut bytes.Buffer
		// The preflight would refuse the run: this test is about a
		// permission missing during it.
		err := cli.Execute(append(append([]string{"--kubeconfig", kubeconfig, "--log-level", "warn", "--no-preflight"}, args...), plan), cli.Streams{Out: &out, Err: &errOut})
		t.Logf("summary:\n%s", out.String())
		return out.String(), err
	}

	out, err := run("--report-dir", dir)
	if err != nil {
		t.Fatalf("the plan failed without asserting on the metric: %v", err)
	}
	if !strings.Contains(out, "measured replicaQueue absent (no pod could be scraped: pod longhorn-manager-") || !strings.Contains(out, ": forbidden (needs get on pods/") {
		t.Errorf("the summary does not say the metric is absent and why")
	}
	if rep := readFile(t, filepath.Join(dir, "report.json")); !strings.Contains(rep, "forbidden (needs get on pods/proxy in longhorn-system)") {
		t.Error("report.json does not say the scrape was forbidden")
	}
	if _, absent := probeMeasured(t, dir, "configmap", "replicaQueue"); !absent {
		t.Error("report.json: want replicaQueue absent")
	}
	if html := readFile(t, filepath.Join(dir, "report.html")); !strings.Contains(html, "absent: no pod could be scraped") {
		t.Error("report.html's chart does not say absent")
	}

	out, err = run("--set", "strict=true")
	if !errors.Is(err, cli.ErrFailed) || !strings.Contains(out, "measure: assertion failed: not strict || replicaQueue.max < limit: strict = true, replicaQueue = absent, limit = 100") {
		t.Errorf("with an assertion on the metric: %v, want the plan to fail saying it is absent", err)
	}
}
