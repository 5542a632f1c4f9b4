package faults

import (
	"bytes"
	"context"
	"errors"
	"os/exec"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/scenario-runner/runner/kube"
	"github.com/scenario-runner/runner/localcluster/clustertest"
	"github.com/scenario-runner/runner/rbac"
)

// runner cleanup skipped, without a word, the kinds its identity may not
// list, and said "left 0": an identity that may only list ConfigMaps
// deletes the run's ConfigMap, names nodes among the kinds it could not
// check, and exits 1.
func TestCleanupNamesKindsItCannotList(t *testing.T) {
	cs := clientset(t)
	ctx := context.Background()
	ns := namespace(t, cs, "faults-cleanup-forbidden")
	const id = "20261201-000000-f0f0f0"
	cm := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "left", Namespace: ns, Labels: map[string]string{kube.RunLabel: id}}}
	if _, err := cs.CoreV1().ConfigMaps(ns).Create(ctx, cm, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	const name = "runner-cleanup-configmaps-only"
	role := &rbacv1.ClusterRole{ObjectMeta: metav1.ObjectMeta{Name: name}, Rules: []rbacv1.PolicyRule{
		{APIGroups: []string{""}, Resources: []string{"configmaps"}, Verbs: []string{"get", "list", "watch", "patch", "delete"}},
	}}
	binding := &rbacv1.ClusterRoleBinding{ObjectMeta: metav1.ObjectMeta{Name: name},
		RoleRef:  rbacv1.RoleRef{APIGroup: "rbac.authorization.k8s.io", Kind: "ClusterRole", Name: name},
		Subjects: []rbacv1.Subject{{Kind: "ServiceAccount", Name: name, Namespace: ns}}}
	cfg := clustertest.Config(t)
	limited := clustertest.ServiceAccountKubeconfig(t, cfg, ns, name)
	if _, err := cs.RbacV1().ClusterRoles().Create(ctx, role, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := cs.RbacV1().ClusterRoleBindings().Create(ctx, binding, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		bg := context.Background()
		_ = cs.RbacV1().ClusterRoleBindings().Delete(bg, name, metav1.DeleteOptions{})
		_ = cs.RbacV1().ClusterRoles().Delete(bg, name, metav1.DeleteOptions{})
	})
	awaitAllowed(t, limited, role.Rules[0])
	cmd := exec.Command(runnerBin, "cleanup", "--run", id, "--kubeconfig", limited)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() != 1 {
		t.Errorf("exit %v, want 1\nstdout:\n%s\nstderr:\n%s", err, stdout.String(), stderr.String())
	}
	if want := "runner cleanup: cannot list nodes (forbidden): objects of this kind were not checked\n"; !strings.Contains(stderr.String(), want) {
		t.Errorf("stderr does not say %q:\n%s", want, stderr.String())
	}
	if n := strings.Count(stderr.String(), "cannot list nodes"); n != 1 {
		t.Errorf("nodes named %d times, want once", n)
	}
	if strings.Contains(stderr.String(), "cannot list configmaps") || !strings.Contains(stdout.String(), "deleted 1, absent 0, left 0") {
		t.Errorf("the ConfigMap it may list was not cleaned up:\nstdout:\n%s\nstderr:\n%s", stdout.String(), stderr.String())
	}
	if !strings.Contains(stderr.String(), "could not be listed, their objects were not checked") {
		t.Errorf("the final error does not say why the exit is 1:\n%s", stderr.String())
	}
	t.Logf("stdout:\n%s\nstderr (first lines):\n%s", stdout.String(), strings.Join(strings.SplitN(stderr.String(), "\n", 6)[:5], "\n"))
}

// awaitAllowed waits until the API server's authorizer, which learns
// bindings through a watch, answers that the identity of kubeconfig may do
// what rule grants: a state asked of the server, not a sleep.
func awaitAllowed(t *testing.T, kubeconfig string, rule rbacv1.PolicyRule) {
	t.Helper()
	cfg, err := clientcmd.BuildConfigFromFlags("", kubeconfig)
	if err != nil {
		t.Fatal(err)
	}
	want := &rbac.Policy{Rules: []rbac.Rule{{Group: rule.APIGroups[0], Resource: rule.Resources[0], Verbs: rule.Verbs}}}
	deadline := time.Now().Add(30 * time.Second)
	for {
		missing, err := rbac.Preflight(t.Context(), cfg, want)
		if err == nil && len(missing) == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("the binding is not in effect after 30s: %v %v", err, missing)
		}
		time.Sleep(100 * time.Millisecond)
	}
}
