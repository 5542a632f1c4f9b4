package localcluster_test

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"
	"testing"
	"time"

	"github.com/rs/zerolog"
	"github.com/spf13/pflag"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/scenario-runner/runner/kube"
	"github.com/scenario-runner/runner/localcluster"
	"github.com/scenario-runner/runner/localcluster/podexec"
)

// serveExecEnv makes the test binary serve podexec (what runner sim
// exec-server does), for TestExecDetached.
const serveExecEnv = "LOCALCLUSTER_TEST_SERVE_EXEC"

func serveExec(args []string) int {
	var f podexec.Flags
	fs := pflag.NewFlagSet("exec-server", pflag.ContinueOnError)
	f.Bind(fs)
	if err := fs.Parse(args); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 2
	}
	cfg, err := clientcmd.BuildConfigFromFlags("", f.Kubeconfig)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	f.Config, f.Logger = cfg, zerolog.New(os.Stderr)
	srv, err := podexec.Listen(f.Options)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()
	if err := srv.Serve(ctx); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	return 0
}

// TestExecDetached: a detached cluster (sim up) runs its exec server as a
// process of its own, whose pods can be exec'd, and StopDir stops it too.
func TestExecDetached(t *testing.T) {
	if testing.Short() {
		t.Skip("integration test: starts a cluster")
	}
	if os.Geteuid() != 0 {
		t.Skip("exec on the local cluster needs root (localcluster/podexec)")
	}
	if bin, err := localcluster.DefaultBinDir(); err != nil || localcluster.CheckBinDir(bin) != nil {
		t.Skip("cluster binaries missing: make cluster-bins")
	}
	dir := t.TempDir()
	t.Setenv(serveExecEnv, "1")
	ctx, cancel := context.WithTimeout(t.Context(), 3*time.Minute)
	defer cancel()
	c, err := localcluster.Start(ctx, localcluster.Options{Dir: dir, Nodes: 1, Detached: true, ExecServer: []string{os.Args[0]}})
	if err != nil {
		t.Fatal(err)
	}
	stopped := false
	defer func() {
		if !stopped {
			localcluster.StopDir(context.Background(), dir, 10*time.Second)
		}
	}()
	cs, err := kubernetes.NewForConfig(c.RESTConfig())
	if err != nil {
		t.Fatal(err)
	}
	pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "exec-detached", Namespace: "default"},
		Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "app", Image: "registry.k8s.io/pause:3.10"}}}}
	if _, err := cs.CoreV1().Pods("default").Create(ctx, pod, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	eventually(t, time.Minute, "pod Running", func(ctx context.Context) error {
		p, err := cs.CoreV1().Pods("default").Get(ctx, pod.Name, metav1.GetOptions{})
		if err != nil || p.Status.Phase != corev1.PodRunning {
			return fmt.Errorf("phase %v: %v", p.Status.Phase, err)
		}
		return nil
	})
	var out bytes.Buffer
	code, err := kube.Exec(ctx, c.RESTConfig(), kube.ExecRequest{Namespace: "default", Pod: pod.Name, Command: []string{"sh", "-c", "hostname; exit 3"}, Stdout: &out, Stderr: &out})
	if err != nil || code != 3 || out.String() != "exec-detached\n" {
		t.Fatalf("exec: code %d, output %q, err %v", code, out.String(), err)
	}
	procs, err := localcluster.ReadPIDs(dir)
	if err != nil {
		t.Fatal(err)
	}
	found := false
	for _, p := range procs {
		found = found || p.Name == "kubelet-exec" && p.Alive
	}
	if !found {
		t.Errorf("no kubelet-exec process among %v", procs)
	}
	stopped = true
	if err := localcluster.StopDir(context.Background(), dir, 10*time.Second); err != nil {
		t.Fatal(err)
	}
	// StopDir returns once each process's exit has begun (its command
	// line is gone, or it is a zombie); a large one, under load, takes a
	// moment more to be gone.
	eventually(t, 10*time.Second, "the cluster's processes gone", func(context.Context) error {
		var left []string
		for _, p := range procs {
			if alive(p.Pid) {
				left = append(left, fmt.Sprintf("%s (pid %d)", p.Name, p.Pid))
			}
		}
		if len(left) > 0 {
			return fmt.Errorf("alive after StopDir: %v", left)
		}
		return nil
	})
}

// alive reports whether pid exists and is not a zombie. This test binary
// is the parent of the detached cluster's processes: a zombie waits for
// the goroutine that reaps it (kill(pid, 0) still succeeds then).
func alive(pid int) bool {
	if syscall.Kill(pid, 0) != nil {
		return false
	}
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return false
	}
	i := bytes.LastIndexByte(stat, ')')
	return i < 0 || !bytes.HasPrefix(stat[i:], []byte(") Z"))
}
