package faults

import (
	"context"
	"fmt"
	"maps"
	"math/rand/v2"
	"os"
	"os/exec"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/utils/ptr"
)

// A run SIGKILLed after it patched a node, scaled a StatefulSet or applied
// over a ConfigMap left them changed: `runner cleanup --run ID` restored
// only what apply changed. Now every change writes its restore record
// before its request, and whatever the point of the kill (a random step
// boundary plus a random delay of 0-20 ms, or in the run's own cleanup
// after a Ctrl-C), `runner cleanup --run ID` (or --all, one trial in four)
// gives back the node's labels and taints, the StatefulSet's replicas and
// the ConfigMap's data, labels and annotations as they were. The points
// come from FAULT_SEED (default: the clock), logged so that a failure can
// be repeated.
func TestSIGKILLAtRandomPointsThenCleanupRestoresEverything(t *testing.T) {
	cs := clientset(t)
	ctx := context.Background()
	seed := uint64(time.Now().UnixNano())
	if s := os.Getenv("FAULT_SEED"); s != "" {
		n, err := strconv.ParseUint(s, 10, 64)
		if err != nil {
			t.Fatalf("FAULT_SEED=%q: want a number", s)
		}
		seed = n
	}
	t.Logf("seed %d (FAULT_SEED=%d repeats these kill points)", seed, seed)
	rng := rand.New(rand.NewPCG(seed, 0))
	nodes, err := cs.CoreV1().Nodes().List(ctx, metav1.ListOptions{})
	if err != nil || len(nodes.Items) == 0 {
		t.Fatalf("no node to patch: %v", err)
	}
	nodeName := nodes.Items[0].Name
	points := []string{"taint-node", "label-node", "scale-up", "apply-over", "scale-again", "pause", "own-cleanup"}
	for i := range trials(t) {
		ns := namespace(t, cs, fmt.Sprintf("faults-kill-restore-%d", i))
		pre := createRestoreFixtures(t, cs, ns, nodeName)
		point := points[rng.IntN(len(points))]
		// a step takes milliseconds: the delay moves the kill within and
		// across a few of them
		delay := time.Duration(rng.IntN(20_000)) * time.Microsecond
		plan := writePlan(t, fmt.Sprintf(`name: sigkill-restore-all
vars: {ns: default, node: none}
steps:
  - name: taint-node
    patch:
      apiVersion: v1
      kind: Node
      name: ${{ node }}
      strategic: {spec: {taints: [{key: faults.runner.io/restore, value: "%d", effect: PreferNoSchedule}]}}
  - name: label-node
    patch:
      apiVersion: v1
      kind: Node
      name: ${{ node }}
      json: [{op: add, path: /metadata/labels/faults.runner.io~1drained, value: "yes"}]
  - name: scale-up
    scale: {apiVersion: apps/v1, kind: StatefulSet, namespace: '${{ ns }}', name: db, replicas: 3}
  - name: apply-over
    apply:
      force: true
      manifest: |
        apiVersion: v1
        kind: ConfigMap
        metadata: {name: pre, namespace: '${{ ns }}', labels: {team: perf}}
        data: {k: changed, added: x}
  - name: scale-again
    scale: {apiVersion: apps/v1, kind: StatefulSet, namespace: '${{ ns }}', name: db, replicas: 0}
  - name: pause
    sleep: 5m
`, i))
		r := start(t, "--set", "ns="+ns, "--set", "node="+nodeName, plan)
		id := r.waitLine(runIDLine, time.Minute)[1]
		if point == "own-cleanup" {
			r.waitLine(regexp.MustCompile(`step started .*step=pause`), time.Minute)
			r.signal(syscall.SIGINT)
			r.waitLine(regexp.MustCompile(`cleaning up`), time.Minute)
		} else {
			r.waitLine(regexp.MustCompile(`step started .*step=`+point+`\b`), time.Minute)
		}
		time.Sleep(delay) // the random point of the kill, not a synchronisation
		r.kill()
		r.exit(time.Minute)
		which := []string{"--run", id}
		if rng.IntN(4) == 0 { // --all finds the same records
			which = []string{"--all"}
		}
		out, err := exec.Command(runnerBin, append([]string{"cleanup", "--kubeconfig", kubeconfig(t)}, which...)...).CombinedOutput()
		differ := pre.compare(t, cs, nodeName)
		notRestored := -1
		if m := regexp.MustCompile(`not restored (\d+)`).FindSubmatch(out); m != nil {
			notRestored, _ = strconv.Atoi(string(m[1]))
		}
		record(t, i, 137, notRestored, len(differ), len(differ))
		t.Logf("trial %d: killed at %s +%s; runner cleanup %s: %s", i, point, delay, which[0], firstLine(out))
		if err != nil {
			t.Errorf("trial %d (killed at %s +%s): runner cleanup %s: %v\n%s", i, point, delay, strings.Join(which, " "), err, out)
		}
		for _, d := range differ {
			t.Errorf("trial %d (killed at %s +%s, seed %d): %s\nrunner cleanup said:\n%s", i, point, delay, seed, d, out)
		}
		if t.Failed() {
			return
		}
	}
}

// restoreFixtures is what existed before a run: the node's labels and
// taints, the StatefulSet's replicas, the ConfigMap's data, labels and
// annotations.
type restoreFixtures struct {
	ns                       string
	nodeLabels               map[string]string
	nodeTaints               []corev1.Taint
	replicas                 int32
	cmData, cmLabels, cmAnno map[string]string
}

func createRestoreFixtures(t *testing.T, cs kubernetes.Interface, ns, nodeName string) *restoreFixtures {
	t.Helper()
	ctx := context.Background()
	node, err := cs.CoreV1().Nodes().Get(ctx, nodeName, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	labels := map[string]string{"app": "db"}
	sts := &appsv1.StatefulSet{
		ObjectMeta: metav1.ObjectMeta{Name: "db", Namespace: ns},
		Spec: appsv1.StatefulSetSpec{
			Replicas: ptr.To[int32](1),
			Selector: &metav1.LabelSelector{MatchLabels: labels},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: labels},
				Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "c", Image: "busybox"}}},
			},
		},
	}
	if _, err := cs.AppsV1().StatefulSets(ns).Create(ctx, sts, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	cm := &corev1.ConfigMap{
		ObjectMeta: metav1.ObjectMeta{Name: "pre", Namespace: ns, Labels: map[string]string{"team": "qa"}, Annotations: map[string]string{"owner": "qa"}},
		Data:       map[string]string{"k": "original", "other": "kept"},
	}
	if _, err := cs.CoreV1().ConfigMaps(ns).Create(ctx, cm, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	return &restoreFixtures{ns: ns, nodeLabels: node.Labels, nodeTaints: ownTaints(node.Spec.Taints), replicas: 1,
		cmData: cm.Data, cmLabels: cm.Labels, cmAnno: cm.Annotations}
}

// compare lists how the objects differ from f (the node's taints but the
// node controller's own node.kubernetes.io/ ones).
func (f *restoreFixtures) compare(t *testing.T, cs kubernetes.Interface, nodeName string) []string {
	t.Helper()
	ctx := context.Background()
	var out []string
	node, err := cs.CoreV1().Nodes().Get(ctx, nodeName, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if !maps.Equal(node.Labels, f.nodeLabels) || runnerMarks(node.Annotations) != "" {
		out = append(out, fmt.Sprintf("node %s: labels %v, want %v; runner annotations %q", nodeName, node.Labels, f.nodeLabels, runnerMarks(node.Annotations)))
	}
	if taints := ownTaints(node.Spec.Taints); !slices.EqualFunc(taints, f.nodeTaints, func(a, b corev1.Taint) bool { return a.MatchTaint(&b) && a.Value == b.Value }) {
		out = append(out, fmt.Sprintf("node %s: taints %v, want %v", nodeName, taints, f.nodeTaints))
	}
	sts, err := cs.AppsV1().StatefulSets(f.ns).Get(ctx, "db", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if sts.Spec.Replicas == nil || *sts.Spec.Replicas != f.replicas || runnerMarks(sts.Labels)+runnerMarks(sts.Annotations) != "" {
		out = append(out, fmt.Sprintf("statefulset db: replicas %v, want %d; labels %v, annotations %v", ptr.Deref(sts.Spec.Replicas, -1), f.replicas, sts.Labels, sts.Annotations))
	}
	cm, err := cs.CoreV1().ConfigMaps(f.ns).Get(ctx, "pre", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if !maps.Equal(cm.Data, f.cmData) || !maps.Equal(cm.Labels, f.cmLabels) || !maps.Equal(cm.Annotations, f.cmAnno) {
		out = append(out, fmt.Sprintf("configmap pre: data %v, labels %v, annotations %v; want %v, %v, %v", cm.Data, cm.Labels, cm.Annotations, f.cmData, f.cmLabels, f.cmAnno))
	}
	return out
}

func ownTaints(ts []corev1.Taint) []corev1.Taint {
	var out []corev1.Taint
	for _, tt := range ts {
		if !strings.HasPrefix(tt.Key, "node.kubernetes.io/") {
			tt.TimeAdded = nil
			out = append(out, tt)
		}
	}
	return out
}

// runnerMarks lists the runner.io/ keys of m.
func runnerMarks(m map[string]string) string {
	var ks []string
	for k := range m {
		if strings.HasPrefix(k, "runner.io/") {
			ks = append(ks, k)
		}
	}
	slices.Sort(ks)
	return strings.Join(ks, ",")
}

func firstLine(b []byte) string {
	s, _, _ := strings.Cut(strings.TrimSpace(string(b)), "\n")
	return s
}
