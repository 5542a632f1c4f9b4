package longhornsim

import (
	"fmt"
	"os"
	"strconv"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// TestIntegrationSeedScale replays the seed test "scalability with backing
// image" at a size set by RUNNER_SEED_PODS (pods of the StatefulSet, ten
// volumes each; skipped when unset): ten backing images, five classes, www1–
// www6 on the first. It reports how long the StatefulSet takes to be ready
// and how long a new volume then takes to attach through a UI ticket.
func TestIntegrationSeedScale(t *testing.T) {
	pods, _ := strconv.Atoi(os.Getenv("RUNNER_SEED_PODS"))
	if pods <= 0 {
		t.Skip("set RUNNER_SEED_PODS to run the seed-size scale test")
	}
	mode := os.Getenv("RUNNER_SEED_MODE")
	e := connect(t)
	e.startSim(Options{Mode: mode})
	ns := e.namespace("it-seed")
	for i := 1; i <= 10; i++ {
		e.createLH(backingImageGVR, backingImageObj(fmt.Sprintf("it-seed-bi-%d", i)))
	}
	for i := 1; i <= 5; i++ {
		e.storageClass(fmt.Sprintf("it-seed-%d", i), fmt.Sprintf("it-seed-bi-%d", i))
	}
	var templates []corev1.PersistentVolumeClaim
	var mounts []corev1.VolumeMount
	for i := 1; i <= 10; i++ {
		class := "it-seed-1"
		if i > 6 {
			class = fmt.Sprintf("it-seed-%d", i-5)
		}
		name := fmt.Sprintf("www%d", i)
		templates = append(templates, claimTemplate(name, class))
		mounts = append(mounts, corev1.VolumeMount{Name: name, MountPath: "/data/" + name})
	}
	n := int32(pods)
	labels := map[string]string{"app": "it-seed"}
	sts := &appsv1.StatefulSet{
		ObjectMeta: metav1.ObjectMeta{Name: "bi-scalability-test", Namespace: ns},
		Spec: appsv1.StatefulSetSpec{
			Replicas: &n, Selector: &metav1.LabelSelector{MatchLabels: labels}, ServiceName: "nginx",
			PodManagementPolicy: appsv1.ParallelPodManagement,
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: labels},
				Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "nginx", Image: "registry.k8s.io/nginx-slim:0.8", VolumeMounts: mounts}}},
			},
			VolumeClaimTemplates: templates,
		},
	}
	start := time.Now()
	if _, err := e.kube.AppsV1().StatefulSets(ns).Create(e.ctx, sts, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	e.waitEvery(2*time.Second, time.Duration(pods)*30*time.Second+5*time.Minute, "pods Running and volumes attached", func() (bool, string) {
		list, err := e.kube.CoreV1().Pods(ns).List(e.ctx, metav1.ListOptions{})
		if err != nil {
			return false, err.Error()
		}
		running := 0
		for _, p := range list.Items {
			if p.Status.Phase == corev1.PodRunning {
				running++
			}
		}
		vols, err := e.dyn.Resource(volumeGVR).Namespace(Namespace).List(e.ctx, metav1.ListOptions{})
		if err != nil {
			return false, err.Error()
		}
		attached := 0
		for _, v := range vols.Items {
			if str(&v, "status", "state") == "attached" && str(&v, "status", "robustness") == "healthy" {
				attached++
			}
		}
		return running == pods && attached >= 10*pods, fmt.Sprintf("%d/%d pods running, %d/%d volumes attached (%v)", running, pods, attached, 10*pods, time.Since(start).Round(time.Second))
	})
	t.Logf("mode %q: %d pods with %d volumes ready in %v", mode, pods, 10*pods, time.Since(start))
	total, attach := e.probe("it-seed-probe", "", 10*time.Minute)
	t.Logf("mode %q: new volume created+attached via UI ticket in %v (ticket to attached %v)", mode, total, attach)
}
