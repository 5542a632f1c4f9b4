package localcluster_test

import (
	"context"
	"testing"
	"time"

	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/util/retry"
	"k8s.io/utils/ptr"

	"github.com/scenario-runner/runner/localcluster"
)

// untilEvent starts a watch and reads it until done returns true for an
// event, failing t after d.
func untilEvent(t *testing.T, d time.Duration, what string, start func(ctx context.Context) (watch.Interface, error), done func(watch.Event) bool) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), d)
	defer cancel()
	w, err := start(ctx)
	if err != nil {
		t.Fatalf("%s: watching: %v", what, err)
	}
	defer w.Stop()
	for {
		select {
		case <-ctx.Done():
			t.Fatalf("%s: not seen within %s", what, d)
		case ev, ok := <-w.ResultChan():
			if !ok {
				t.Fatalf("%s: the watch closed", what)
			}
			if ev.Type == watch.Error {
				t.Fatalf("%s: watch error: %v", what, ev.Object)
			}
			if done(ev) {
				return
			}
		}
	}
}

// TestNodeLeasesRenewed: KWOK keeps one Lease per node in kube-node-lease,
// owned by the node, with the kubelet's 40s duration, and renews each of them
// (every 10s), which is what keeps kube-controller-manager from marking the
// nodes NotReady.
func TestNodeLeasesRenewed(t *testing.T) {
	cs := clientset(t)
	ctx := context.Background()
	leases := cs.CoordinationV1().Leases(corev1.NamespaceNodeLease)
	list, err := leases.List(ctx, metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	first := map[string]time.Time{}
	for _, l := range list.Items {
		first[l.Name] = l.Spec.RenewTime.Time
	}
	for i := 1; i <= 3; i++ {
		name := localcluster.NodeName(i)
		idx := -1
		for j, l := range list.Items {
			if l.Name == name {
				idx = j
			}
		}
		if idx < 0 {
			t.Fatalf("no Lease %s/%s; leases: %v", corev1.NamespaceNodeLease, name, first)
		}
		l := list.Items[idx]
		if got := ptr.Deref(l.Spec.LeaseDurationSeconds, 0); got != 40 {
			t.Errorf("Lease %s: leaseDurationSeconds %d, want 40", name, got)
		}
		if ptr.Deref(l.Spec.HolderIdentity, "") == "" || l.Spec.RenewTime == nil {
			t.Errorf("Lease %s: no holder or renew time: %+v", name, l.Spec)
		}
		if len(l.OwnerReferences) != 1 || l.OwnerReferences[0].Kind != "Node" || l.OwnerReferences[0].Name != name {
			t.Errorf("Lease %s: owners %+v, want the Node", name, l.OwnerReferences)
		}
	}
	renewed := map[string]bool{}
	untilEvent(t, 30*time.Second, "every node Lease renewed",
		func(ctx context.Context) (watch.Interface, error) {
			return leases.Watch(ctx, metav1.ListOptions{ResourceVersion: list.ResourceVersion})
		},
		func(ev watch.Event) bool {
			l, ok := ev.Object.(*coordinationv1.Lease)
			if ok && l.Spec.RenewTime != nil && l.Spec.RenewTime.After(first[l.Name]) {
				renewed[l.Name] = true
			}
			return renewed["node-1"] && renewed["node-2"] && renewed["node-3"]
		})
}

// TestPodReadyAgainAfterMarkedNotReady: when kube-controller-manager marks a
// pod not Ready (as MarkPodsNotReady does for the pods of a node it stopped
// hearing from: Ready False, ContainersReady untouched), KWOK marks it Ready
// again like the kubelet's status manager would (stage pod-ready-again).
func TestPodReadyAgainAfterMarkedNotReady(t *testing.T) {
	cs := clientset(t)
	ctx := context.Background()
	pods := cs.CoreV1().Pods("default")
	pod, err := pods.Create(ctx, &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "ready-again"},
		Spec: corev1.PodSpec{
			TerminationGracePeriodSeconds: ptr.To[int64](0),
			Containers:                    []corev1.Container{{Name: "app", Image: "registry.k8s.io/pause:3.10"}},
		},
	}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = pods.Delete(context.Background(), pod.Name, metav1.DeleteOptions{GracePeriodSeconds: ptr.To[int64](0)})
	})
	readyIs := func(p *corev1.Pod, s corev1.ConditionStatus) bool {
		for _, c := range p.Status.Conditions {
			if c.Type == corev1.PodReady {
				return c.Status == s
			}
		}
		return false
	}
	watchPod := func(rv string) func(ctx context.Context) (watch.Interface, error) {
		return func(ctx context.Context) (watch.Interface, error) {
			return pods.Watch(ctx, metav1.ListOptions{FieldSelector: "metadata.name=" + pod.Name, ResourceVersion: rv})
		}
	}
	untilEvent(t, 30*time.Second, "pod Ready", watchPod(pod.ResourceVersion), func(ev watch.Event) bool {
		p, ok := ev.Object.(*corev1.Pod)
		return ok && p.Status.Phase == corev1.PodRunning && readyIs(p, corev1.ConditionTrue)
	})

	var marked *corev1.Pod
	markedAt := metav1.NewTime(time.Now().Truncate(time.Second))
	err = retry.RetryOnConflict(retry.DefaultRetry, func() error {
		p, err := pods.Get(ctx, pod.Name, metav1.GetOptions{})
		if err != nil {
			return err
		}
		for i, c := range p.Status.Conditions {
			if c.Type == corev1.PodReady {
				p.Status.Conditions[i].Status = corev1.ConditionFalse
				p.Status.Conditions[i].LastTransitionTime = markedAt
			}
		}
		marked, err = pods.UpdateStatus(ctx, p, metav1.UpdateOptions{})
		return err
	})
	if err != nil {
		t.Fatalf("marking the pod not Ready: %v", err)
	}
	if !readyIs(marked, corev1.ConditionFalse) {
		t.Fatalf("pod not marked: %+v", marked.Status.Conditions)
	}
	began := time.Now()
	untilEvent(t, 30*time.Second, "pod Ready again", watchPod(marked.ResourceVersion), func(ev watch.Event) bool {
		p, ok := ev.Object.(*corev1.Pod)
		return ok && readyIs(p, corev1.ConditionTrue)
	})
	t.Logf("Ready again %s after being marked not Ready", time.Since(began).Round(time.Millisecond))
	got, err := pods.Get(ctx, pod.Name, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if got.UID != pod.UID || got.Status.Phase != corev1.PodRunning {
		t.Errorf("pod replaced or not Running: uid %s (was %s), phase %s", got.UID, pod.UID, got.Status.Phase)
	}
	for _, c := range got.Status.Conditions {
		if c.Type == corev1.PodReady && c.LastTransitionTime.Before(&markedAt) {
			t.Errorf("Ready since %s, before it was marked not Ready at %s", c.LastTransitionTime, markedAt)
		}
	}
}
