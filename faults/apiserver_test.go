package faults

import (
	"context"
	"fmt"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/dynamic"

	"github.com/scenario-runner/runner/kube"
	"github.com/scenario-runner/runner/localcluster"
	"github.com/scenario-runner/runner/localcluster/clustertest"
	"github.com/scenario-runner/runner/result"
)

const apiserver = "kube-apiserver"

// local returns the shared local cluster, skipping the test on an
// external one (its API server is not ours to kill).
func local(t *testing.T) *localcluster.Cluster {
	t.Helper()
	c := clustertest.Cluster(t)
	if c == nil {
		t.Skip("needs the local cluster: it kills and restarts its API server")
	}
	return c
}

// killAPIServer kills the API server and makes sure it runs again when the
// test ends, whatever happened.
func killAPIServer(t *testing.T, c *localcluster.Cluster) (restart func()) {
	t.Helper()
	if err := c.Kill(apiserver); err != nil {
		t.Fatal(err)
	}
	var once sync.Once
	restart = func() {
		once.Do(func() {
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			if err := c.Restart(ctx, apiserver); err != nil {
				t.Fatalf("restarting the API server: %v", err)
			}
		})
	}
	t.Cleanup(restart)
	return restart
}

// Cleanup never retries: with the API server down for a few seconds when
// cleanup starts, cleanup must wait and finish (deleted 50, left 0), not
// report everything as left in milliseconds.
func TestCleanupWaitsForAPIServerOutage(t *testing.T) {
	c := local(t)
	cs := clientset(t)
	ns := namespace(t, cs, "faults-outage")
	plan := writePlan(t, `name: cleanup-during-outage
vars: {ns: default}
steps:
  - name: fifty
    apply:
      forEach: 1..50
      manifest: |
        apiVersion: v1
        kind: ConfigMap
        metadata: {name: 'cm-${{ item }}', namespace: '${{ ns }}'}
  - name: pause
    sleep: 2s
`)
	r := start(t, "--set", "ns="+ns, plan)
	r.waitLine(regexp.MustCompile(`step started .*step=pause`), time.Minute)
	restart := killAPIServer(t, c)
	r.waitLine(regexp.MustCompile(`cleaning up`), time.Minute)
	time.Sleep(2 * time.Second) // the outage lasts into the cleanup: the fault, not a synchronisation
	restart()
	if code := r.exit(2 * time.Minute); code != 0 {
		t.Fatalf("exit %d, want 0\n%s\n%s", code, r.stdout.String(), r.stderrText())
	}
	out := r.stdout.String()
	t.Logf("summary:\n%s", out)
	deleted, left := cleanupCounts(t, out)
	if deleted != 50 || left != 0 {
		t.Errorf("cleanup deleted %d, left %d; want 50 and 0\n%s", deleted, left, out)
	}
	if n := configMaps(t, cs, ns, "cm-"); n != 0 {
		t.Errorf("%d ConfigMaps left in the cluster", n)
	}
	if !regexp.MustCompile(`retried \d+ request\(s\) after transient errors, the last: .*connection refused`).MatchString(out) {
		t.Errorf("the summary does not say cleanup retried connection refused errors:\n%s", out)
	}
}

// A wait overran its timeout by 6-12 s while the API server was
// unreachable (client-go's list backoff ignores the stop channel): it must
// end on time and name the last error.
func TestWaitForEndsOnTimeWhileAPIServerIsDown(t *testing.T) {
	c := local(t)
	const timeout = 4 * time.Second
	plan := writePlan(t, fmt.Sprintf(`name: wait-during-outage
steps:
  - name: never
    timeout: %s
    waitFor:
      apiVersion: v1
      kind: ConfigMap
      name: never-created
      condition: "true"
`, timeout))
	r := start(t, plan)
	r.waitLine(regexp.MustCompile(`step started .*step=never`), time.Minute)
	began := time.Now()
	restart := killAPIServer(t, c)
	r.waitLine(regexp.MustCompile(`step (failed|timed out).*step=never|step timed-out|outcome=timed-out`), time.Minute)
	took := time.Since(began)
	t.Logf("the wait ended %s after the API server went down (timeout %s)", took.Round(time.Millisecond), timeout)
	// A bound on correctness, not a timing goal: the step may not outlive
	// its timeout by more than a second or two.
	if took > timeout+2*time.Second {
		t.Errorf("the wait ended %s after the API server went down; its timeout is %s", took.Round(time.Millisecond), timeout)
	}
	restart()
	r.exit(2 * time.Minute)
	out := r.stdout.String()
	if !regexp.MustCompile(`last error.*dial tcp 127\.0\.0\.1:\d+: connect: connection refused`).MatchString(out) {
		t.Errorf("the timeout does not name the last error:\n%s", out)
	}
}

// Foreground only where dependents must go first: a ConfigMap is deleted
// in the background, so after an API server restart (the garbage
// collector re-syncing) its deletion does not wait for the collector: it
// never carries the foregroundDeletion finalizer.
func TestConfigMapDeletesInBackgroundAfterRestart(t *testing.T) {
	c := local(t)
	cs := clientset(t)
	ns := namespace(t, cs, "faults-background")
	killAPIServer(t, c)()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	var cm *corev1.ConfigMap
	err := kube.Retry(ctx, nil, func(ctx context.Context) error {
		var err error
		cm, err = cs.CoreV1().ConfigMaps(ns).Create(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "one"}}, metav1.CreateOptions{})
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	w, err := cs.CoreV1().ConfigMaps(ns).Watch(ctx, metav1.ListOptions{ResourceVersion: cm.ResourceVersion})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Stop()
	dyn, err := dynamic.NewForConfig(clustertest.Config(t))
	if err != nil {
		t.Fatal(err)
	}
	ref := result.ObjectRef{APIVersion: "v1", Kind: "ConfigMap", Resource: "configmaps", Namespace: ns, Name: "one"}
	if p := kube.DefaultPropagation(ref); p != metav1.DeletePropagationBackground {
		t.Fatalf("ConfigMap propagation %s, want Background", p)
	}
	d := kube.Delete(ctx, dyn, []result.ObjectRef{ref}, kube.DeleteOptions{Wait: true})
	if len(d.Deleted) != 1 || len(d.Errs) > 0 {
		t.Fatalf("deleted %v, errors %v", d.Deleted, d.Errs)
	}
	for ev := range w.ResultChan() {
		cm, ok := ev.Object.(*corev1.ConfigMap)
		if !ok {
			continue
		}
		if fin := strings.Join(cm.Finalizers, ","); strings.Contains(fin, metav1.FinalizerDeleteDependents) {
			t.Errorf("the ConfigMap carried %s: it was deleted in the foreground", fin)
		}
		if ev.Type == watch.Deleted {
			break
		}
	}
}
