package cli

import (
	"bytes"
	"compress/gzip"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	authenticationv1 "k8s.io/api/authentication/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
	"k8s.io/utils/ptr"

	"github.com/scenario-runner/runner/job"
	"github.com/scenario-runner/runner/localcluster"
	"github.com/scenario-runner/runner/localcluster/clustertest"
	"github.com/scenario-runner/runner/report"
)

// jobSuite writes two plans in two folders below one root: a applies a
// manifest from a file (file:), b waits for a ConfigMap it applies inline
// and asserts that its secret token (--set-secret) has 16 characters;
// both read the namespace from a values file at the root. Each creates a
// ConfigMap named by its run id in ns, which the job's derived RBAC must
// allow.
func jobSuite(t *testing.T, ns string) string {
	t.Helper()
	dir := t.TempDir()
	files := map[string]string{
		"values.yaml": "namespace: " + ns + "\n",
		"a/plan.yaml": `name: job-a
vars: {namespace: default, token: ""}
timeout: 2m
steps:
  - apply: {file: manifests/cm.yaml}
`,
		"a/manifests/cm.yaml": `apiVersion: v1
kind: ConfigMap
metadata: {name: "job-a-${{ runID }}", namespace: "${{ namespace }}"}
data: {from: file}
`,
		"b/plan.yaml": `name: job-b
vars: {namespace: default, token: ""}
timeout: 2m
steps:
  - apply:
      manifest: |
        apiVersion: v1
        kind: ConfigMap
        metadata: {name: "job-b-${{ runID }}", namespace: "${{ namespace }}"}
        data: {state: ready, tokenLength: "${{ len(token) }}"}
  - waitFor:
      apiVersion: v1
      kind: ConfigMap
      namespace: "${{ namespace }}"
      name: "job-b-${{ runID }}"
      condition: object.data.state == "ready"
  - assert: [len(token) == 16]
`,
	}
	for name, body := range files {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// restrictedNamespace creates a namespace where the API server's Pod
// Security admission enforces the restricted standard, and deletes it at
// the end.
func restrictedNamespace(t *testing.T, cs kubernetes.Interface, name string) {
	t.Helper()
	ctx := context.Background()
	_, err := cs.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name, Labels: map[string]string{
		"pod-security.kubernetes.io/enforce": "restricted", "pod-security.kubernetes.io/enforce-version": "latest",
	}}}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cs.CoreV1().Namespaces().Delete(context.Background(), name, metav1.DeleteOptions{}) })
}

// saKubeconfig writes a kubeconfig for the cluster of cfg whose only
// credential is a TokenRequest token of the ServiceAccount: what the
// kubelet mounts into the pod, handed to the runner as a kubeconfig
// because the test cannot write /var/run/secrets.
func saKubeconfig(t *testing.T, cs kubernetes.Interface, cfg *rest.Config, ns, sa string) string {
	t.Helper()
	tr, err := cs.CoreV1().ServiceAccounts(ns).CreateToken(context.Background(), sa, &authenticationv1.TokenRequest{
		Spec: authenticationv1.TokenRequestSpec{ExpirationSeconds: ptr.To(int64(3600))},
	}, metav1.CreateOptions{})
	if err != nil {
		t.Fatalf("TokenRequest for %s/%s: %v", ns, sa, err)
	}
	ca := cfg.CAData
	if len(ca) == 0 && cfg.CAFile != "" {
		if ca, err = os.ReadFile(cfg.CAFile); err != nil {
			t.Fatal(err)
		}
	}
	kc := clientcmdapi.NewConfig()
	kc.Clusters["c"] = &clientcmdapi.Cluster{Server: cfg.Host, CertificateAuthorityData: ca}
	kc.AuthInfos["sa"] = &clientcmdapi.AuthInfo{Token: tr.Status.Token}
	kc.Contexts["sa"] = &clientcmdapi.Context{Cluster: "c", AuthInfo: "sa", Namespace: ns}
	kc.CurrentContext = "sa"
	path := filepath.Join(t.TempDir(), "sa.kubeconfig")
	if err := clientcmd.WriteToFile(*kc, path); err != nil {
		t.Fatal(err)
	}
	return path
}

// playPod does what the kubelet would for pod of the Job j, without a
// container runtime (KWOK runs none): it lays the ConfigMap's items out as
// the volume would mount them, resolves the container's env (the Job
// controller's JOB_COMPLETION_INDEX, the downward API's label), and runs
// this runner binary with exactly the container's args, the mount paths
// moved under a temporary folder, and the ServiceAccount's token. It
// returns the exit code and output.
func playPod(t *testing.T, cs kubernetes.Interface, j *batchv1.Job, pod *corev1.Pod, cm *corev1.ConfigMap, kubeconfig string) (int, string, string) {
	t.Helper()
	root := t.TempDir()
	spec := j.Spec.Template.Spec
	c := spec.Containers[0]
	moved := map[string]string{} // mount path -> where the test put it
	for _, m := range c.VolumeMounts {
		dir := filepath.Join(root, strings.TrimPrefix(m.MountPath, "/"))
		moved[m.MountPath] = dir
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		for _, v := range spec.Volumes {
			if v.Name != m.Name || v.ConfigMap == nil {
				continue
			}
			if v.ConfigMap.Name != cm.Name {
				t.Fatalf("volume %s is ConfigMap %s, not %s", v.Name, v.ConfigMap.Name, cm.Name)
			}
			for _, it := range v.ConfigMap.Items {
				data, ok := []byte(cm.Data[it.Key]), true
				if _, text := cm.Data[it.Key]; !text {
					data, ok = cm.BinaryData[it.Key]
				}
				if !ok {
					t.Fatalf("item %s: no key %s in the ConfigMap", it.Path, it.Key)
				}
				p := filepath.Join(dir, filepath.FromSlash(it.Path))
				if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(p, data, 0o444); err != nil {
					t.Fatal(err)
				}
			}
		}
	}
	vars := map[string]string{}
	for _, e := range c.Env {
		switch {
		case e.ValueFrom != nil && e.ValueFrom.FieldRef != nil:
			fp := e.ValueFrom.FieldRef.FieldPath
			key, ok := strings.CutPrefix(fp, "metadata.labels['")
			if !ok {
				t.Fatalf("env %s: fieldPath %s not played", e.Name, fp)
			}
			vars[e.Name] = pod.Labels[strings.TrimSuffix(key, "']")]
		case e.ValueFrom != nil && e.ValueFrom.SecretKeyRef != nil:
			ref := e.ValueFrom.SecretKeyRef
			sec, err := cs.CoreV1().Secrets(pod.Namespace).Get(context.Background(), ref.Name, metav1.GetOptions{})
			if err != nil {
				t.Fatalf("env %s: %v", e.Name, err)
			}
			vars[e.Name] = string(sec.Data[ref.Key])
		case e.ValueFrom != nil:
			t.Fatalf("env %s: source not played", e.Name)
		default:
			vars[e.Name] = e.Value
		}
	}
	var args []string
	for _, a := range c.Args {
		// The kubelet expands $(VAR) from the container's environment.
		for k, v := range vars {
			a = strings.ReplaceAll(a, "$("+k+")", v)
		}
		for mount, dir := range moved {
			if a == mount || strings.HasPrefix(a, mount+"/") {
				a = dir + strings.TrimPrefix(a, mount)
				break
			}
		}
		args = append(args, a)
	}
	env := []string{"KUBECONFIG=" + kubeconfig, "HOME=" + root, "PATH=" + os.Getenv("PATH"),
		job.EnvIndex + "=" + pod.Annotations["batch.kubernetes.io/job-completion-index"]}
	for k, v := range vars {
		env = append(env, k+"="+v)
	}
	cmd := exec.Command(runnerBinary(t), args...)
	cmd.Env = env
	var out, errOut strings.Builder
	cmd.Stdout, cmd.Stderr = &out, &errOut
	err := cmd.Run()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	return code, out.String(), errOut.String()
}

// jobEnv is what the live job tests share: the cluster's admin
// kubeconfig and config, a typed client and a restricted namespace.
type jobEnv struct {
	kc  string
	cfg *rest.Config
	cs  kubernetes.Interface
	ns  string
}

func newJobEnv(t *testing.T, ns string) jobEnv {
	t.Helper()
	e := jobEnv{kc: clustertest.Kubeconfig(t), cfg: clustertest.Config(t), ns: ns}
	cs, err := kubernetes.NewForConfig(e.cfg)
	if err != nil {
		t.Fatal(err)
	}
	e.cs = cs
	restrictedNamespace(t, cs, ns)
	return e
}

// apply runs runner job --apply with args and returns the Job's name; the
// job is deleted when the test ends.
func (e jobEnv) apply(t *testing.T, ctx context.Context, args ...string) string {
	t.Helper()
	args = append(append([]string{"job"}, args...), "-n", e.ns, "--kubeconfig", e.kc, "--apply")
	code, stdout, stderr := runBinary(t, ctx, args...)
	if code != 0 {
		t.Fatalf("runner job --apply: exit %d\n%s\n%s", code, stdout, stderr)
	}
	var name string
	if _, err := fmt.Sscanf(stdout, "job "+e.ns+"/%s created", &name); err != nil {
		t.Fatalf("no job name in %q: %v", stdout, err)
	}
	t.Cleanup(func() { runBinary(t, context.Background(), "job", "delete", name, "-n", e.ns, "--kubeconfig", e.kc) })
	return name
}

// runningPods waits until the Job name has n pods that KWOK started (or
// already ended) and returns them by completion index; on a timeout it
// shows the Job's events (a pod the admission refused is a FailedCreate).
func (e jobEnv) runningPods(t *testing.T, ctx context.Context, name string, n int) []corev1.Pod {
	t.Helper()
	var pods []corev1.Pod
	var lastEvents string
	err := wait.PollUntilContextTimeout(ctx, 200*time.Millisecond, time.Minute, true, func(ctx context.Context) (bool, error) {
		l, err := e.cs.CoreV1().Pods(e.ns).List(ctx, metav1.ListOptions{LabelSelector: job.LabelJobName + "=" + name})
		if err != nil {
			return false, err
		}
		pods = slices.DeleteFunc(l.Items, func(p corev1.Pod) bool {
			return p.Status.Phase != corev1.PodRunning && p.Status.Phase != corev1.PodSucceeded
		})
		if ev, err := e.cs.CoreV1().Events(e.ns).List(ctx, metav1.ListOptions{FieldSelector: "involvedObject.name=" + name}); err == nil {
			lastEvents = ""
			for _, e := range ev.Items {
				lastEvents += e.Reason + ": " + e.Message + "\n"
			}
		}
		return len(pods) == n, nil
	})
	if err != nil {
		t.Fatalf("%d pod(s) of the Job running, want %d: %v; its events:\n%s", len(pods), n, err, lastEvents)
	}
	slices.SortFunc(pods, func(a, b corev1.Pod) int {
		return strings.Compare(a.Annotations["batch.kubernetes.io/job-completion-index"], b.Annotations["batch.kubernetes.io/job-completion-index"])
	})
	return pods
}

// TestJobInRestrictedNamespaceLive: runner job -o yaml passes a
// server-side dry run; applied in a namespace where the API server
// enforces the restricted Pod Security Standard, its Indexed Job creates
// one pod per shard and its ServiceAccount and roles exist; each pod is
// then played (same binary, the Job's args and env, the ConfigMap's files,
// the ServiceAccount's token and nothing more), runner job fetch merges
// the two shards' reports, and runner job delete leaves nothing.
func TestJobInRestrictedNamespaceLive(t *testing.T) {
	const ns = "runner-job-e2e"
	e := newJobEnv(t, ns)
	kc, cfg, cs := e.kc, e.cfg, e.cs
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	dir := jobSuite(t, ns)
	const secret = "sixteen-chars-xy"
	args := []string{dir, "--root", dir, "--values", filepath.Join(dir, "values.yaml"), "--set-secret", "token=" + secret,
		"--image", "registry.example/runner:test", "--shards", "2"}

	// 1. Printed, it passes a server-side dry run (kubectl's own).
	code, yamlOut, stderr := runBinary(t, ctx, append([]string{"job", "-n", ns, "--kubeconfig", kc}, args...)...)
	if code != 0 {
		t.Fatalf("runner job -o yaml: exit %d\n%s", code, stderr)
	}
	bin, err := localcluster.DefaultBinDir()
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(yamlOut, secret) {
		t.Error("runner job -o yaml printed the --set-secret value")
	}
	dry := exec.CommandContext(ctx, filepath.Join(bin, "kubectl"), "--kubeconfig", kc, "apply", "--dry-run=server", "-f", "-")
	dry.Stdin = strings.NewReader(yamlOut)
	if out, err := dry.CombinedOutput(); err != nil {
		t.Fatalf("kubectl apply --dry-run=server: %v\n%s\n%s", err, out, yamlOut)
	}

	// 2. Applied: the objects exist and the Job makes its pods, which
	// the restricted admission lets in.
	name := e.apply(t, ctx, args...)
	// Applying the same again is refused, naming the job, and takes
	// nothing of the first away.
	code, _, stderr = runBinary(t, ctx, append([]string{"job", "-n", ns, "--kubeconfig", kc, "--apply"}, args...)...)
	if code != 1 || !strings.Contains(stderr, "already exists") || !strings.Contains(stderr, "runner job delete "+name) {
		t.Errorf("applying twice: exit %d, want 1 and the job to delete\n%s", code, stderr)
	}
	if _, err := cs.CoreV1().ServiceAccounts(ns).Get(ctx, name, metav1.GetOptions{}); err != nil {
		t.Errorf("ServiceAccount: %v", err)
	}
	for _, role := range []string{name + "-results", name} {
		if _, err := cs.RbacV1().Roles(ns).Get(ctx, role, metav1.GetOptions{}); err != nil {
			t.Errorf("Role %s: %v", role, err)
		}
		if _, err := cs.RbacV1().RoleBindings(ns).Get(ctx, role, metav1.GetOptions{}); err != nil {
			t.Errorf("RoleBinding %s: %v", role, err)
		}
	}
	j, err := cs.BatchV1().Jobs(ns).Get(ctx, name, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	pods := e.runningPods(t, ctx, name, 2)

	// 3. Play each pod.
	cm, err := cs.CoreV1().ConfigMaps(ns).Get(ctx, job.PlansConfigMap(name), metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	saKC := saKubeconfig(t, cs, cfg, ns, j.Spec.Template.Spec.ServiceAccountName)
	for i := range pods {
		code, stdout, stderr := playPod(t, cs, j, &pods[i], cm, saKC)
		if code != 0 {
			t.Fatalf("pod %s played: exit %d\n%s\n%s", pods[i].Name, code, stdout, stderr)
		}
		t.Logf("pod %s played:\n%s%s", pods[i].Name, stdout, stderr)
	}
	for i := range 2 {
		r, err := cs.CoreV1().ConfigMaps(ns).Get(ctx, job.ResultName(name, i), metav1.GetOptions{})
		if err != nil {
			t.Fatalf("results of index %d: %v", i, err)
		}
		if data, err := gunzipBytes(r.BinaryData[job.ResultKey]); err != nil || strings.Contains(string(data), secret) || !strings.Contains(string(data), "token=<redacted>") {
			t.Errorf("results of index %d: the --set-secret value must be redacted (%v)", i, err)
		}
		if o := r.OwnerReferences; len(o) != 1 || o[0].UID != j.UID {
			t.Errorf("results of index %d: owner references %+v, want the Job %s", i, o, j.UID)
		}
	}

	// KWOK ends every Job pod with exit 0 after a few seconds; the Job
	// controller then completes the Job.
	err = wait.PollUntilContextTimeout(ctx, 200*time.Millisecond, time.Minute, true, func(ctx context.Context) (bool, error) {
		j, err = cs.BatchV1().Jobs(ns).Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			return false, err
		}
		return slices.ContainsFunc(j.Status.Conditions, func(c batchv1.JobCondition) bool {
			return c.Type == batchv1.JobComplete && c.Status == corev1.ConditionTrue
		}), nil
	})
	if err != nil {
		t.Fatalf("the Job did not complete: %v; its status: %+v", err, j.Status)
	}

	// 4. Fetch: both shards' reports, merged.
	out := t.TempDir()
	code, stdout, stderr := runBinary(t, ctx, "job", "fetch", name, "-n", ns, "--kubeconfig", kc, "--report-dir", out, "--follow")
	if code != 0 {
		t.Fatalf("runner job fetch: exit %d\n%s\n%s", code, stdout, stderr)
	}
	t.Logf("fetch:\n%s%s", stdout, stderr)
	r, err := report.Read(filepath.Join(out, report.JSONFile), nil)
	if err != nil {
		t.Fatal(err)
	}
	var ids, shards []string
	for _, p := range r.Plans {
		ids = append(ids, p.ID)
	}
	for _, s := range r.Sources {
		shards = append(shards, s.Shard)
	}
	slices.Sort(ids)
	slices.Sort(shards)
	if !slices.Equal(ids, []string{"job-a", "job-b"}) || r.Outcome != "passed" || !slices.Equal(shards, []string{"1/2", "2/2"}) {
		t.Errorf("merged report: cells %v, outcome %s, shards %v", ids, r.Outcome, shards)
	}
	for _, f := range []string{report.JUnitFile, report.HTMLFile, "shard-1/" + report.JSONFile, "shard-2/" + report.JSONFile} {
		if _, err := os.Stat(filepath.Join(out, f)); err != nil {
			t.Error(err)
		}
	}

	// 5. Delete: nothing labelled with the job is left.
	code, stdout, stderr = runBinary(t, ctx, "job", "delete", name, "-n", ns, "--kubeconfig", kc)
	if code != 0 {
		t.Fatalf("runner job delete: exit %d\n%s\n%s", code, stdout, stderr)
	}
	t.Logf("delete:\n%s", stdout)
	sel := metav1.ListOptions{LabelSelector: job.LabelJob + "=" + name}
	left := map[string]int{}
	for what, list := range map[string]func() (int, error){
		"configmaps": func() (int, error) { l, err := cs.CoreV1().ConfigMaps(ns).List(ctx, sel); return len(l.Items), err },
		"serviceaccounts": func() (int, error) {
			l, err := cs.CoreV1().ServiceAccounts(ns).List(ctx, sel)
			return len(l.Items), err
		},
		"roles":        func() (int, error) { l, err := cs.RbacV1().Roles(ns).List(ctx, sel); return len(l.Items), err },
		"rolebindings": func() (int, error) { l, err := cs.RbacV1().RoleBindings(ns).List(ctx, sel); return len(l.Items), err },
		"clusterroles": func() (int, error) { l, err := cs.RbacV1().ClusterRoles().List(ctx, sel); return len(l.Items), err },
		"clusterrolebindings": func() (int, error) {
			l, err := cs.RbacV1().ClusterRoleBindings().List(ctx, sel)
			return len(l.Items), err
		},
		"pods": func() (int, error) {
			l, err := cs.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{LabelSelector: job.LabelJobName + "=" + name})
			return len(l.Items), err
		},
	} {
		n, err := list()
		if err != nil {
			t.Errorf("listing %s: %v", what, err)
		}
		if n > 0 {
			left[what] = n
		}
	}
	if _, err := cs.BatchV1().Jobs(ns).Get(ctx, name, metav1.GetOptions{}); !apierrors.IsNotFound(err) {
		t.Errorf("the Job is still there (%v)", err)
	}
	if len(left) > 0 {
		t.Errorf("left after runner job delete: %v", left)
	}
}

func gunzipBytes(data []byte) ([]byte, error) {
	r, err := gzip.NewReader(bytes.NewReader(data))
	if err != nil {
		return nil, err
	}
	return io.ReadAll(r)
}

// TestJobRefusedInPodLive: with the plans' Role taken away, the played
// pod's preflight refuses (exit 3) before touching anything and
// publishes why; once the pod's status says it exited 3 (the kubelet's
// part, played too), runner job fetch exits 3 and shows the refusal.
func TestJobRefusedInPodLive(t *testing.T) {
	const ns = "runner-job-refused"
	e := newJobEnv(t, ns)
	kc, cfg, cs := e.kc, e.cfg, e.cs
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	dir := jobSuite(t, ns)
	name := e.apply(t, ctx, filepath.Join(dir, "a", "plan.yaml"), "--set", "namespace="+ns, "--image", "registry.example/runner:test")
	if err := cs.RbacV1().Roles(ns).Delete(ctx, name, metav1.DeleteOptions{}); err != nil {
		t.Fatalf("taking the plans' Role away: %v", err)
	}
	pod := &e.runningPods(t, ctx, name, 1)[0]
	j, err := cs.BatchV1().Jobs(ns).Get(ctx, name, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	cm, err := cs.CoreV1().ConfigMaps(ns).Get(ctx, job.PlansConfigMap(name), metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	code, stdout, stderr := playPod(t, cs, j, pod, cm, saKubeconfig(t, cs, cfg, ns, name))
	if code != 3 || !strings.Contains(stderr, "preflight") {
		t.Fatalf("played pod: exit %d, want 3 from the preflight\n%s\n%s", code, stdout, stderr)
	}
	if l, err := cs.CoreV1().ConfigMaps(ns).List(ctx, metav1.ListOptions{LabelSelector: "runner.io/plan"}); err != nil || len(l.Items) > 0 {
		t.Errorf("the refused run created %d ConfigMap(s) (%v)", len(l.Items), err)
	}
	// The kubelet's part: the container exited 3. KWOK may have marked the
	// pod Succeeded meanwhile; the status is written as the kubelet would
	// have, had the container run.
	err = wait.PollUntilContextTimeout(ctx, 200*time.Millisecond, 30*time.Second, true, func(ctx context.Context) (bool, error) {
		p, err := cs.CoreV1().Pods(ns).Get(ctx, pod.Name, metav1.GetOptions{})
		if err != nil {
			return false, err
		}
		now := metav1.Now()
		p.Status.Phase = corev1.PodFailed
		p.Status.ContainerStatuses = []corev1.ContainerStatus{{Name: job.Container, Image: p.Spec.Containers[0].Image,
			State: corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{ExitCode: 3, Reason: "Error", StartedAt: now, FinishedAt: now}}}}
		_, err = cs.CoreV1().Pods(ns).UpdateStatus(ctx, p, metav1.UpdateOptions{})
		if apierrors.IsConflict(err) {
			return false, nil
		}
		return err == nil, err
	})
	if err != nil {
		t.Fatalf("writing the pod's status: %v", err)
	}
	code, stdout, stderr = runBinary(t, ctx, "job", "fetch", name, "-n", ns, "--kubeconfig", kc, "--report-dir", t.TempDir())
	if code != 3 || !strings.Contains(stdout, "refused") || !strings.Contains(stdout, "preflight refused the run") {
		t.Errorf("runner job fetch: exit %d, want 3 and the refusal\n%s\n%s", code, stdout, stderr)
	}
	t.Logf("fetch:\n%s%s", stdout, stderr)
}
