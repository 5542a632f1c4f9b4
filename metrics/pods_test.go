package metrics

import (
	"context"
	"fmt"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/dynamic"
	dynfake "k8s.io/client-go/dynamic/fake"
)

// fakeCluster serves each pod's metrics text by "namespace/pod:port".
type fakeCluster struct {
	dyn   dynamic.Interface
	texts map[string]string
	errs  map[string]error
	asked []string
}

func (f *fakeCluster) Dynamic() dynamic.Interface { return f.dyn }

func (f *fakeCluster) ProxyGet(_ context.Context, ns, pod, port, path string) ([]byte, error) {
	key := ns + "/" + pod + ":" + port
	f.asked = append(f.asked, key+path)
	if err := f.errs[key]; err != nil {
		return nil, err
	}
	text, ok := f.texts[key]
	if !ok {
		return nil, fmt.Errorf("no such endpoint %s", key)
	}
	return []byte(text), nil
}

func managerPod(name, node string, port int32, phase corev1.PodPhase) *corev1.Pod {
	return &corev1.Pod{
		TypeMeta:   metav1.TypeMeta{APIVersion: "v1", Kind: "Pod"},
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "longhorn-system", Labels: map[string]string{"app": "longhorn-manager"}},
		Spec: corev1.PodSpec{NodeName: node, Containers: []corev1.Container{{
			Name: "longhorn-manager", Ports: []corev1.ContainerPort{{Name: "manager", ContainerPort: port}},
		}}},
		Status: corev1.PodStatus{Phase: phase, PodIP: "192.0.2.2"},
	}
}

func newFakeCluster(t *testing.T, pods ...*corev1.Pod) *fakeCluster {
	t.Helper()
	scheme := runtime.NewScheme()
	if err := corev1.AddToScheme(scheme); err != nil {
		t.Fatal(err)
	}
	objs := make([]runtime.Object, len(pods))
	for i, p := range pods {
		objs[i] = p
	}
	dyn := dynfake.NewSimpleDynamicClientWithCustomListKinds(scheme,
		map[schema.GroupVersionResource]string{podsGVR: "PodList"}, objs...)
	return &fakeCluster{dyn: dyn, texts: map[string]string{}, errs: map[string]error{}}
}

func TestPodSourceScrapesEveryManager(t *testing.T) {
	c := newFakeCluster(t,
		managerPod("longhorn-manager-a", "node-1", 9500, corev1.PodRunning),
		managerPod("longhorn-manager-b", "node-2", 9500, corev1.PodRunning),
		managerPod("longhorn-manager-c", "node-3", 9500, corev1.PodPending),
		managerPod("longhorn-manager-d", "node-4", 9500, corev1.PodRunning),
	)
	c.texts["longhorn-system/longhorn-manager-a:9500"] = "longhorn_workqueue_depth{name=\"longhorn-replica\"} 3\nlonghorn_volume_state{node=\"node-1\",volume=\"v1\"} 2\n"
	c.texts["longhorn-system/longhorn-manager-b:9500"] = "longhorn_workqueue_depth{name=\"longhorn-replica\"} 4\nlonghorn_volume_state{node=\"node-2\",volume=\"v2\"} 2\n"
	c.errs["longhorn-system/longhorn-manager-d:9500"] = apierrors.NewForbidden(schema.GroupResource{Resource: "pods/proxy"}, "longhorn-manager-d", fmt.Errorf("RBAC"))

	src := NewPodSource(c, PodTarget{Namespace: "longhorn-system", LabelSelector: "app=longhorn-manager", Port: "manager"})
	qs := compileAll(t, `sum(longhorn_workqueue_depth{name="longhorn-replica"})`, `longhorn_volume_state`, `longhorn_engine_state`)
	r, err := src.Read(context.Background(), qs)
	if err != nil {
		t.Fatal(err)
	}
	if got := vectorText(r.Vectors[0]); got != `{} 7` {
		t.Errorf("sum of depth over the managers = %s, want 7", got)
	}
	want := "longhorn_volume_state{node=\"node-1\", pod=\"longhorn-manager-a\", volume=\"v1\"} 2\n" +
		"longhorn_volume_state{node=\"node-2\", pod=\"longhorn-manager-b\", volume=\"v2\"} 2"
	if got := vectorText(r.Vectors[1]); got != want {
		t.Errorf("volume states:\n got %s\nwant %s", got, want)
	}
	if len(r.Vectors[2]) != 0 {
		t.Errorf("an absent metric gave %v", r.Vectors[2])
	}
	if r.Targets != 3 {
		t.Errorf("targets = %d, want 3 running pods", r.Targets)
	}
	notes := strings.Join(r.Notes, "\n")
	for _, want := range []string{"longhorn-manager-c: not running", "longhorn-manager-d: forbidden (needs get on pods/proxy in longhorn-system)"} {
		if !strings.Contains(notes, want) {
			t.Errorf("notes lack %q:\n%s", want, notes)
		}
	}
}

func TestPodSourceFailsWhenNothingIsRead(t *testing.T) {
	tests := []struct {
		name string
		pods []*corev1.Pod
		errs map[string]error
		want string
	}{
		{name: "no pods", want: "no running pod among 0 pods in longhorn-system with labels app=longhorn-manager"},
		{name: "every scrape forbidden",
			pods: []*corev1.Pod{managerPod("m-1", "node-1", 9500, corev1.PodRunning)},
			errs: map[string]error{"longhorn-system/m-1:9500": apierrors.NewForbidden(schema.GroupResource{Resource: "pods/proxy"}, "m-1", fmt.Errorf("no"))},
			want: "no pod could be scraped: pod m-1: forbidden"},
		{name: "no such port",
			pods: []*corev1.Pod{managerPod("m-1", "node-1", 9500, corev1.PodRunning)},
			want: `pod m-1: has no container port named "metrics" (it has: manager)`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := newFakeCluster(t, tt.pods...)
			c.errs = tt.errs
			port := "manager"
			if tt.name == "no such port" {
				port = "metrics"
			}
			src := NewPodSource(c, PodTarget{Namespace: "longhorn-system", LabelSelector: "app=longhorn-manager", Port: port})
			_, err := src.Read(context.Background(), compileAll(t, `longhorn_workqueue_depth`))
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("error %v, want one containing %q", err, tt.want)
			}
		})
	}
}

func TestPodPort(t *testing.T) {
	p := managerPod("m", "node-1", 19501, corev1.PodRunning)
	tests := []struct{ port, want string }{
		{"", "19501"}, {"manager", "19501"}, {"9500", "9500"},
	}
	for _, tt := range tests {
		got, err := podPort(p, tt.port)
		if err != nil || got != tt.want {
			t.Errorf("podPort(%q) = %q, %v; want %q", tt.port, got, err, tt.want)
		}
	}
	p.Spec.Containers[0].Ports = nil
	if _, err := podPort(p, ""); err == nil {
		t.Error("a pod without ports and no port given: no error")
	}
}

func compileAll(t *testing.T, srcs ...string) []*Query {
	t.Helper()
	var out []*Query
	for _, s := range srcs {
		q, err := Compile(s)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, q)
	}
	return out
}
