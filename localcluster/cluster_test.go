package localcluster_test

import (
	"context"
	"errors"
	"os"
	"strings"
	"syscall"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/utils/ptr"

	"github.com/scenario-runner/runner/localcluster"
	"github.com/scenario-runner/runner/localcluster/clustertest"
)

func TestMain(m *testing.M) {
	if os.Getenv(serveExecEnv) == "1" {
		os.Exit(serveExec(os.Args[1:])) // this binary as a detached cluster's exec server
	}
	os.Exit(clustertest.Main(m))
}

func clientset(t *testing.T) *kubernetes.Clientset {
	t.Helper()
	cs, err := kubernetes.NewForConfig(clustertest.Config(t))
	if err != nil {
		t.Fatal(err)
	}
	return cs
}

// eventually polls f every 200ms until it returns nil, failing t with f's
// last error after d.
func eventually(t *testing.T, d time.Duration, what string, f func(ctx context.Context) error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), d)
	defer cancel()
	var last error
	for {
		if last = f(ctx); last == nil {
			return
		}
		select {
		case <-ctx.Done():
			t.Fatalf("%s: not true after %s: %v", what, d, last)
		case <-time.After(200 * time.Millisecond):
		}
	}
}

func TestNodesReady(t *testing.T) {
	cs := clientset(t)
	nodes, err := cs.CoreV1().Nodes().List(context.Background(), metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if len(nodes.Items) != 3 {
		t.Fatalf("got %d nodes, want 3", len(nodes.Items))
	}
	for _, n := range nodes.Items {
		ready := false
		for _, c := range n.Status.Conditions {
			ready = ready || (c.Type == corev1.NodeReady && c.Status == corev1.ConditionTrue)
		}
		if !ready {
			t.Errorf("%s not Ready: %+v", n.Name, n.Status.Conditions)
		}
		if cpu := n.Status.Allocatable.Cpu(); cpu.Cmp(resource.MustParse("4")) != 0 {
			t.Errorf("%s allocatable cpu %s, want 4", n.Name, cpu)
		}
		if n.Annotations["volumes.kubernetes.io/controller-managed-attach-detach"] != "true" {
			t.Errorf("%s lacks the attach/detach annotation", n.Name)
		}
		if n.Labels["kubernetes.io/hostname"] != n.Name {
			t.Errorf("%s hostname label %q", n.Name, n.Labels["kubernetes.io/hostname"])
		}
	}
	if _, err := cs.CoreV1().Namespaces().Get(context.Background(), "longhorn-system", metav1.GetOptions{}); err != nil {
		t.Errorf("namespace longhorn-system: %v", err)
	}
}

func TestWorkloadPodsRun(t *testing.T) {
	cs := clientset(t)
	ctx := context.Background()
	labels := func(app string) map[string]string { return map[string]string{"app": app} }
	podSpec := func(app string) corev1.PodTemplateSpec {
		return corev1.PodTemplateSpec{
			ObjectMeta: metav1.ObjectMeta{Labels: labels(app)},
			Spec: corev1.PodSpec{Containers: []corev1.Container{{
				Name: "main", Image: "busybox",
				Resources: corev1.ResourceRequirements{Requests: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("100m")}},
			}}},
		}
	}
	tests := []struct {
		app    string
		create func() error
	}{
		{"deploy", func() error {
			_, err := cs.AppsV1().Deployments("default").Create(ctx, &appsv1.Deployment{
				ObjectMeta: metav1.ObjectMeta{Name: "deploy"},
				Spec:       appsv1.DeploymentSpec{Replicas: ptr.To[int32](2), Selector: &metav1.LabelSelector{MatchLabels: labels("deploy")}, Template: podSpec("deploy")},
			}, metav1.CreateOptions{})
			return err
		}},
		{"sts", func() error {
			_, err := cs.AppsV1().StatefulSets("default").Create(ctx, &appsv1.StatefulSet{
				ObjectMeta: metav1.ObjectMeta{Name: "sts"},
				Spec:       appsv1.StatefulSetSpec{Replicas: ptr.To[int32](1), Selector: &metav1.LabelSelector{MatchLabels: labels("sts")}, Template: podSpec("sts")},
			}, metav1.CreateOptions{})
			return err
		}},
	}
	for _, tt := range tests {
		t.Run(tt.app, func(t *testing.T) {
			if err := tt.create(); err != nil {
				t.Fatal(err)
			}
			eventually(t, 30*time.Second, "pods Running on a node", func(ctx context.Context) error {
				pods, err := cs.CoreV1().Pods("default").List(ctx, metav1.ListOptions{LabelSelector: "app=" + tt.app})
				if err != nil {
					return err
				}
				if len(pods.Items) == 0 {
					return errors.New("no pods yet")
				}
				for _, p := range pods.Items {
					if !strings.HasPrefix(p.Spec.NodeName, "node-") || p.Status.Phase != corev1.PodRunning {
						return errors.New(p.Name + " on node " + p.Spec.NodeName + " phase " + string(p.Status.Phase))
					}
				}
				return nil
			})
		})
	}
}

func TestPreBoundPVCBinds(t *testing.T) {
	cs := clientset(t)
	ctx := context.Background()
	size := resource.MustParse("1Gi")
	pv := &corev1.PersistentVolume{
		ObjectMeta: metav1.ObjectMeta{Name: "pv-prebound"},
		Spec: corev1.PersistentVolumeSpec{
			Capacity:         corev1.ResourceList{corev1.ResourceStorage: size},
			AccessModes:      []corev1.PersistentVolumeAccessMode{corev1.ReadWriteOnce},
			StorageClassName: "manual",
			ClaimRef:         &corev1.ObjectReference{Namespace: "default", Name: "pvc-prebound"},
			PersistentVolumeSource: corev1.PersistentVolumeSource{CSI: &corev1.CSIPersistentVolumeSource{
				Driver: "driver.longhorn.io", VolumeHandle: "pv-prebound",
			}},
		},
	}
	pvc := &corev1.PersistentVolumeClaim{
		ObjectMeta: metav1.ObjectMeta{Name: "pvc-prebound", Namespace: "default"},
		Spec: corev1.PersistentVolumeClaimSpec{
			AccessModes:      []corev1.PersistentVolumeAccessMode{corev1.ReadWriteOnce},
			StorageClassName: ptr.To("manual"),
			VolumeName:       "pv-prebound",
			Resources:        corev1.VolumeResourceRequirements{Requests: corev1.ResourceList{corev1.ResourceStorage: size}},
		},
	}
	if _, err := cs.CoreV1().PersistentVolumes().Create(ctx, pv, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := cs.CoreV1().PersistentVolumeClaims("default").Create(ctx, pvc, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	began := time.Now()
	eventually(t, 10*time.Second, "PVC Bound", func(ctx context.Context) error {
		got, err := cs.CoreV1().PersistentVolumeClaims("default").Get(ctx, "pvc-prebound", metav1.GetOptions{})
		if err != nil {
			return err
		}
		if got.Status.Phase != corev1.ClaimBound {
			return errors.New("phase " + string(got.Status.Phase))
		}
		return nil
	})
	t.Logf("PVC bound in %s", time.Since(began).Round(time.Millisecond))
}

// startOwn starts a separate cluster for tests that need their own.
func startOwn(t *testing.T, opts localcluster.Options) (*localcluster.Cluster, error) {
	t.Helper()
	clustertest.Config(t) // skips with -short; makes sure the binaries exist
	if clustertest.Cluster(t) == nil {
		t.Skip("using an external cluster from $KUBECONFIG")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	return localcluster.Start(ctx, opts)
}

func TestTwoClustersSideBySide(t *testing.T) {
	c, err := startOwn(t, localcluster.Options{Nodes: 1})
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		if err := c.Stop(context.Background()); err != nil {
			t.Error(err)
		}
	}()
	if c.RESTConfig().Host == clustertest.Config(t).Host {
		t.Fatalf("both clusters at %s", c.RESTConfig().Host)
	}
	for name, cfg := range map[string]*localcluster.Cluster{"second": c} {
		cs, err := kubernetes.NewForConfig(cfg.RESTConfig())
		if err != nil {
			t.Fatal(err)
		}
		nodes, err := cs.CoreV1().Nodes().List(context.Background(), metav1.ListOptions{})
		if err != nil || len(nodes.Items) != 1 {
			t.Errorf("%s cluster: %d nodes, err %v; want 1", name, len(nodes.Items), err)
		}
	}
	nodes, err := clientset(t).CoreV1().Nodes().List(context.Background(), metav1.ListOptions{})
	if err != nil || len(nodes.Items) != 3 {
		t.Errorf("shared cluster: %d nodes, err %v; want 3", len(nodes.Items), err)
	}
}

func TestEarlyExitReportedWithLogTail(t *testing.T) {
	dir := t.TempDir()
	_, err := startOwn(t, localcluster.Options{
		Dir:       dir,
		ExtraArgs: map[string][]string{"kube-apiserver": {"--no-such-flag"}},
	})
	var ee *localcluster.ExitedError
	if !errors.As(err, &ee) {
		t.Fatalf("got %T %v, want *localcluster.ExitedError", err, err)
	}
	if ee.Component != "kube-apiserver" || !strings.Contains(ee.LogTail, "no-such-flag") {
		t.Errorf("component %q, tail:\n%s", ee.Component, ee.LogTail)
	}
	// etcd, already started, must have been stopped.
	procs, err := localcluster.ReadPIDs(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range procs {
		if p.Alive {
			t.Errorf("%s (pid %d) still alive after the failed start", p.Name, p.Pid)
		}
	}
}

func TestStopLeavesNoProcess(t *testing.T) {
	dir := t.TempDir()
	c, err := startOwn(t, localcluster.Options{Dir: dir, Nodes: 1})
	if err != nil {
		t.Fatal(err)
	}
	procs, err := localcluster.ReadPIDs(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(procs) != 5 {
		t.Errorf("got %d pid files, want 5: %v", len(procs), procs)
	}
	if err := c.Stop(context.Background()); err != nil {
		t.Fatal(err)
	}
	for _, p := range procs {
		if err := syscall.Kill(p.Pid, 0); !errors.Is(err, syscall.ESRCH) {
			t.Errorf("%s (pid %d) alive after Stop (kill -0: %v)", p.Name, p.Pid, err)
		}
	}
	if left, _ := localcluster.ReadPIDs(dir); len(left) != 0 {
		t.Errorf("pid files left after Stop: %v", left)
	}
}
