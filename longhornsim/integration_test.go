package longhornsim

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/rs/zerolog"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	storagev1 "k8s.io/api/storage/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"

	"github.com/scenario-runner/runner/localcluster/clustertest"
)

// testLogLevel is the simulator's log level in integration tests.
var testLogLevel = zerolog.DebugLevel

func TestMain(m *testing.M) { os.Exit(clustertest.Main(m)) }

// env is one integration test's view of the shared cluster.
type env struct {
	t    *testing.T
	ctx  context.Context
	cfg  *rest.Config
	kube kubernetes.Interface
	dyn  dynamic.Interface
}

// newEnv connects to the shared cluster (skipping under -short) and starts a
// simulator with opts that stops when the test ends.
func newEnv(t *testing.T, opts Options) *env {
	t.Helper()
	e := connect(t)
	e.startSim(opts)
	return e
}

// connect connects to the shared cluster, skipping under -short.
func connect(t *testing.T) *env {
	t.Helper()
	cfg := clustertest.Config(t)
	cfg.QPS, cfg.Burst = 200, 400
	// Longhorn's finalizer is "longhorn.io", which the API server warns about
	// on every write; the warning told a reader of CI's log nothing.
	cfg.WarningHandler = rest.NoWarnings{}
	e := &env{t: t, ctx: t.Context(), cfg: cfg}
	var err error
	if e.kube, err = kubernetes.NewForConfig(cfg); err != nil {
		t.Fatal(err)
	}
	if e.dyn, err = dynamic.NewForConfig(cfg); err != nil {
		t.Fatal(err)
	}
	return e
}

// startSim runs a simulator until the returned stop function is called or
// the test ends.
func (e *env) startSim(opts Options) (stop func()) {
	e.t.Helper()
	opts.Logger = zerolog.New(zerolog.NewTestWriter(e.t)).Level(testLogLevel)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- Run(ctx, e.cfg, opts) }()
	var once sync.Once
	stop = func() {
		once.Do(func() {
			cancel()
			if err := <-done; err != nil {
				e.t.Errorf("Run: %v", err)
			}
		})
	}
	e.t.Cleanup(stop)
	// Run installs the CRDs before it starts; wait until they serve.
	e.waitFor(condTimeout, "Longhorn CRDs served", func() (bool, string) {
		_, err := e.dyn.Resource(volumeGVR).Namespace(Namespace).List(e.ctx, metav1.ListOptions{Limit: 1})
		return err == nil, fmt.Sprint(err)
	})
	return stop
}

// condTimeout bounds a wait for a condition that holds within a second on
// an idle machine. It is generous on purpose: a test must wait for the
// condition, and fail only when it does not come, not because a shared,
// busy machine was slow (CI runs beside other work on two cores).
const condTimeout = 2 * time.Minute

// waitDetached waits until n volumes with the label selector are detached
// (created, with their replicas), listing them once a second.
func (e *env) waitDetached(selector string, n int, timeout time.Duration) {
	e.t.Helper()
	e.waitEvery(time.Second, timeout, fmt.Sprintf("%d volumes detached", n), func() (bool, string) {
		vols, err := e.dyn.Resource(volumeGVR).Namespace(Namespace).List(e.ctx, metav1.ListOptions{LabelSelector: selector})
		if err != nil {
			return false, err.Error()
		}
		detached := 0
		for _, v := range vols.Items {
			if str(&v, "status", "state") == "detached" {
				detached++
			}
		}
		return detached == n, fmt.Sprintf("%d of %d detached", detached, n)
	})
}

// waitFor polls cond every 100ms until it holds, failing with the last
// thing it saw.
func (e *env) waitFor(timeout time.Duration, what string, cond func() (bool, string)) time.Duration {
	e.t.Helper()
	return e.waitEvery(100*time.Millisecond, timeout, what, cond)
}

// waitEvery is waitFor with a poll interval, for conditions that list many
// objects.
func (e *env) waitEvery(interval, timeout time.Duration, what string, cond func() (bool, string)) time.Duration {
	e.t.Helper()
	start := time.Now()
	var last string
	for {
		ok, seen := cond()
		if ok {
			return time.Since(start)
		}
		last = seen
		if time.Since(start) > timeout {
			e.t.Fatalf("timed out after %v waiting for %s; last seen: %s", timeout, what, last)
		}
		select {
		case <-e.ctx.Done():
			e.t.Fatalf("test ended waiting for %s; last seen: %s", what, last)
		case <-time.After(interval):
		}
	}
}

func (e *env) createLH(gvr schema.GroupVersionResource, obj map[string]any) {
	e.t.Helper()
	u := &unstructured.Unstructured{Object: obj}
	u.SetNamespace(Namespace)
	if _, err := e.dyn.Resource(gvr).Namespace(Namespace).Create(e.ctx, u, metav1.CreateOptions{}); err != nil {
		e.t.Fatalf("create %s %s: %v", gvr.Resource, u.GetName(), err)
	}
	e.t.Cleanup(func() {
		_ = e.dyn.Resource(gvr).Namespace(Namespace).Delete(context.Background(), u.GetName(), metav1.DeleteOptions{})
	})
}

func (e *env) getLH(gvr schema.GroupVersionResource, name string) *unstructured.Unstructured {
	u, err := e.dyn.Resource(gvr).Namespace(Namespace).Get(e.ctx, name, metav1.GetOptions{})
	if err != nil {
		return nil
	}
	return u
}

func (e *env) patchLH(gvr schema.GroupVersionResource, name string, body map[string]any) {
	e.t.Helper()
	data, _ := json.Marshal(body)
	if _, err := e.dyn.Resource(gvr).Namespace(Namespace).Patch(e.ctx, name, types.MergePatchType, data, metav1.PatchOptions{}); err != nil {
		e.t.Fatalf("patch %s %s: %v", gvr.Resource, name, err)
	}
}

func str(u *unstructured.Unstructured, path ...string) string {
	if u == nil {
		return "<missing>"
	}
	s, _, _ := unstructured.NestedFieldNoCopy(u.Object, path...)
	return fmt.Sprint(s)
}

func backingImageObj(name string) map[string]any {
	return map[string]any{
		"apiVersion": "longhorn.io/v1beta2", "kind": "BackingImage",
		"metadata": map[string]any{"name": name},
		"spec": map[string]any{"sourceType": "download",
			"sourceParameters": map[string]any{"url": "https://longhorn-backing-image.s3-us-west-1.amazonaws.com/parrot.qcow2"}},
	}
}

func volumeObj(name, bi string) map[string]any {
	return map[string]any{
		"apiVersion": "longhorn.io/v1beta2", "kind": "Volume",
		"metadata": map[string]any{"name": name},
		"spec":     map[string]any{"size": "33554432", "numberOfReplicas": 3, "frontend": "blockdev", "backingImage": bi},
	}
}

// backingImageReady is Longhorn's tests' readiness check: minNumberOfCopies
// disk files, a checksum, and a ready file.
func backingImageReady(u *unstructured.Unstructured) (bool, string) {
	if u == nil {
		return false, "missing"
	}
	files, _, _ := unstructured.NestedMap(u.Object, "status", "diskFileStatusMap")
	minCopies, _, _ := unstructured.NestedInt64(u.Object, "spec", "minNumberOfCopies")
	sum := str(u, "status", "checksum")
	ready := 0
	for _, f := range files {
		if f.(map[string]any)["state"] == "ready" {
			ready++
		}
	}
	return minCopies > 0 && len(files) >= int(minCopies) && ready == len(files) && len(sum) == 128,
		fmt.Sprintf("minNumberOfCopies=%d files=%v checksum=%q", minCopies, files, sum)
}

func TestIntegrationBackingImagesGoReady(t *testing.T) {
	e := newEnv(t, Options{DownloadTime: time.Second})
	for _, name := range []string{"it-bi-ready-1", "it-bi-ready-2"} {
		e.createLH(backingImageGVR, backingImageObj(name))
	}
	sawProgress := false
	for _, name := range []string{"it-bi-ready-1", "it-bi-ready-2"} {
		e.waitFor(condTimeout, "backing image "+name+" ready", func() (bool, string) {
			u := e.getLH(backingImageGVR, name)
			files, _, _ := unstructured.NestedMap(u.Object, "status", "diskFileStatusMap")
			for _, f := range files {
				if f.(map[string]any)["state"] == "in-progress" {
					sawProgress = true
				}
			}
			return backingImageReady(u)
		})
		u := e.getLH(backingImageGVR, name)
		if str(u, "status", "uuid") == "" || str(u, "status", "ownerID") == "" || str(u, "status", "size") == "0" {
			t.Errorf("%s: status %v", name, u.Object["status"])
		}
		if got := str(u, "spec", "minNumberOfCopies"); got != "3" {
			t.Errorf("%s: minNumberOfCopies = %s, want 3", name, got)
		}
	}
	if !sawProgress {
		t.Log("note: never caught a disk file in-progress (download time short)")
	}
}

func TestIntegrationTicketAttachesVolume(t *testing.T) {
	e := newEnv(t, Options{})
	const vol = "it-ticket-vol"
	e.createLH(volumeGVR, volumeObj(vol, ""))
	e.waitFor(condTimeout, "volume detached with its VolumeAttachment", func() (bool, string) {
		v, va := e.getLH(volumeGVR, vol), e.getLH(lhvaGVR, vol)
		return str(v, "status", "state") == "detached" && va != nil, fmt.Sprintf("state=%s lhva=%v", str(v, "status", "state"), va != nil)
	})
	reps, err := e.dyn.Resource(replicaGVR).Namespace(Namespace).List(e.ctx, metav1.ListOptions{LabelSelector: "longhornvolume=" + vol})
	if err != nil || len(reps.Items) != 3 {
		t.Fatalf("replicas: %v, %d items", err, len(reps.Items))
	}
	nodes := map[string]bool{}
	for _, r := range reps.Items {
		nodes[str(&r, "spec", "nodeID")] = true
	}
	if len(nodes) != 3 {
		t.Errorf("replicas on nodes %v, want 3 distinct", nodes)
	}

	start := time.Now()
	e.patchLH(lhvaGVR, vol, map[string]any{"spec": map[string]any{"attachmentTickets": map[string]any{
		"longhorn-ui": map[string]any{"id": "longhorn-ui", "type": "longhorn-api", "nodeID": "node-2",
			"parameters": map[string]any{"disableFrontend": "false"}, "generation": 0}}}})
	e.waitFor(condTimeout, "volume attached to node-2 with the ticket satisfied", func() (bool, string) {
		v, va := e.getLH(volumeGVR, vol), e.getLH(lhvaGVR, vol)
		sat := str(va, "status", "attachmentTicketStatuses", "longhorn-ui", "satisfied")
		return str(v, "status", "state") == "attached" && str(v, "status", "currentNodeID") == "node-2" &&
				str(v, "status", "robustness") == "healthy" && sat == "true",
			fmt.Sprintf("state=%s node=%s robustness=%s satisfied=%s", str(v, "status", "state"), str(v, "status", "currentNodeID"), str(v, "status", "robustness"), sat)
	})
	t.Logf("ticket attach took %v", time.Since(start))
	if eng := e.getLH(engineGVR, engineName(vol)); str(eng, "status", "currentState") != "running" || str(eng, "spec", "nodeID") != "node-2" {
		t.Errorf("engine %s on %s, want running on node-2", str(eng, "status", "currentState"), str(eng, "spec", "nodeID"))
	}

	e.patchLH(lhvaGVR, vol, map[string]any{"spec": map[string]any{"attachmentTickets": map[string]any{"longhorn-ui": nil}}})
	e.waitFor(condTimeout, "volume detached", func() (bool, string) {
		v := e.getLH(volumeGVR, vol)
		eng := e.getLH(engineGVR, engineName(vol))
		return str(v, "status", "state") == "detached" && str(v, "status", "robustness") == "unknown" && str(eng, "status", "currentState") == "stopped",
			fmt.Sprintf("state=%s robustness=%s engine=%s", str(v, "status", "state"), str(v, "status", "robustness"), str(eng, "status", "currentState"))
	})
}

func (e *env) namespace(name string) string {
	e.t.Helper()
	_, err := e.kube.CoreV1().Namespaces().Create(e.ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name}}, metav1.CreateOptions{})
	if err != nil && !apierrors.IsAlreadyExists(err) {
		e.t.Fatal(err)
	}
	e.t.Cleanup(func() { _ = e.kube.CoreV1().Namespaces().Delete(context.Background(), name, metav1.DeleteOptions{}) })
	return name
}

func (e *env) storageClass(name, bi string) {
	e.t.Helper()
	immediate := storagev1.VolumeBindingImmediate
	del := corev1.PersistentVolumeReclaimDelete
	sc := &storagev1.StorageClass{
		ObjectMeta:        metav1.ObjectMeta{Name: name},
		Provisioner:       DriverName,
		ReclaimPolicy:     &del,
		VolumeBindingMode: &immediate,
		Parameters: map[string]string{"numberOfReplicas": "3", "staleReplicaTimeout": "2880", "fromBackup": "",
			"fsType": "ext4", "backingImage": bi},
	}
	if _, err := e.kube.StorageV1().StorageClasses().Create(e.ctx, sc, metav1.CreateOptions{}); err != nil {
		e.t.Fatal(err)
	}
	e.t.Cleanup(func() {
		_ = e.kube.StorageV1().StorageClasses().Delete(context.Background(), name, metav1.DeleteOptions{})
	})
}

func claimTemplate(name, class string) corev1.PersistentVolumeClaim {
	return corev1.PersistentVolumeClaim{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec: corev1.PersistentVolumeClaimSpec{
			AccessModes:      []corev1.PersistentVolumeAccessMode{corev1.ReadWriteOnce},
			StorageClassName: &class,
			Resources:        corev1.VolumeResourceRequirements{Requests: corev1.ResourceList{corev1.ResourceStorage: resource.MustParse("32Mi")}},
		},
	}
}

func TestIntegrationStatefulSetWithBackingImage(t *testing.T) {
	e := newEnv(t, Options{DownloadTime: time.Second})
	ns := e.namespace("it-sts")
	e.createLH(backingImageGVR, backingImageObj("it-sts-bi"))
	e.storageClass("it-sts-class", "it-sts-bi")

	replicas := int32(2)
	labels := map[string]string{"app": "it-sts"}
	sts := &appsv1.StatefulSet{
		ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: ns},
		Spec: appsv1.StatefulSetSpec{
			Replicas:            &replicas,
			Selector:            &metav1.LabelSelector{MatchLabels: labels},
			ServiceName:         "web",
			PodManagementPolicy: appsv1.ParallelPodManagement,
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: labels},
				Spec: corev1.PodSpec{Containers: []corev1.Container{{
					Name: "nginx", Image: "registry.k8s.io/nginx-slim:0.8",
					VolumeMounts: []corev1.VolumeMount{{Name: "www1", MountPath: "/a"}, {Name: "www2", MountPath: "/b"}},
				}}},
			},
			VolumeClaimTemplates: []corev1.PersistentVolumeClaim{claimTemplate("www1", "it-sts-class"), claimTemplate("www2", "it-sts-class")},
		},
	}
	if _, err := e.kube.AppsV1().StatefulSets(ns).Create(e.ctx, sts, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	e.waitFor(2*time.Minute, "4 PVCs Bound, 2 pods Running, 4 volumes attached and healthy", func() (bool, string) {
		pvcs, err := e.kube.CoreV1().PersistentVolumeClaims(ns).List(e.ctx, metav1.ListOptions{})
		if err != nil {
			return false, err.Error()
		}
		bound, attached := 0, 0
		var seen []string
		for _, c := range pvcs.Items {
			if c.Status.Phase == corev1.ClaimBound {
				bound++
			}
			v := e.getLH(volumeGVR, volumeNameForClaim(string(c.UID)))
			if str(v, "status", "state") == "attached" && str(v, "status", "robustness") == "healthy" {
				attached++
			}
			seen = append(seen, fmt.Sprintf("%s:%s/%s/%s", c.Name, c.Status.Phase, str(v, "status", "state"), str(v, "status", "robustness")))
		}
		pods, err := e.kube.CoreV1().Pods(ns).List(e.ctx, metav1.ListOptions{})
		if err != nil {
			return false, err.Error()
		}
		running := 0
		for _, p := range pods.Items {
			if p.Status.Phase == corev1.PodRunning {
				running++
			}
			seen = append(seen, p.Name+":"+string(p.Status.Phase))
		}
		return bound == 4 && attached == 4 && running == 2, fmt.Sprint(seen)
	})
	t.Logf("StatefulSet with 2 pods x 2 Longhorn claims ready in %v", time.Since(start))

	// Every volume is attached where its pod runs, through a csi ticket.
	pods, _ := e.kube.CoreV1().Pods(ns).List(e.ctx, metav1.ListOptions{})
	for _, p := range pods.Items {
		for _, tmpl := range []string{"www1", "www2"} {
			c, err := e.kube.CoreV1().PersistentVolumeClaims(ns).Get(e.ctx, tmpl+"-"+p.Name, metav1.GetOptions{})
			if err != nil {
				t.Fatal(err)
			}
			vol := c.Spec.VolumeName
			if want := volumeNameForClaim(string(c.UID)); vol != want {
				t.Errorf("claim %s bound to %s, want %s", c.Name, vol, want)
			}
			v := e.getLH(volumeGVR, vol)
			if str(v, "status", "currentNodeID") != p.Spec.NodeName || str(v, "spec", "backingImage") != "it-sts-bi" {
				t.Errorf("volume %s on %s backing image %s; pod %s on %s", vol, str(v, "status", "currentNodeID"), str(v, "spec", "backingImage"), p.Name, p.Spec.NodeName)
			}
			ks, _, _ := unstructured.NestedMap(v.Object, "status", "kubernetesStatus")
			ws, _ := ks["workloadsStatus"].([]any)
			if ks["pvName"] != vol || ks["pvcName"] != c.Name || ks["namespace"] != ns || ks["pvStatus"] != "Bound" || len(ws) != 1 ||
				ws[0].(map[string]any)["podName"] != p.Name || ws[0].(map[string]any)["workloadType"] != "StatefulSet" {
				t.Errorf("volume %s kubernetesStatus %v, want PV %s, claim %s/%s, pod %s of a StatefulSet", vol, ks, vol, ns, c.Name, p.Name)
			}
			va := e.getLH(lhvaGVR, vol)
			tickets, _, _ := unstructured.NestedMap(va.Object, "spec", "attachmentTickets")
			if _, ok := tickets[csiTicketID(vol, p.Spec.NodeName)]; !ok || len(tickets) != 1 {
				t.Errorf("volume %s tickets %v, want one csi-attacher ticket", vol, tickets)
			}
		}
	}

	// Scaling to zero detaches; deleting the claims deletes the volumes.
	if _, err := e.kube.AppsV1().StatefulSets(ns).Patch(e.ctx, "web", types.MergePatchType, []byte(`{"spec":{"replicas":0}}`), metav1.PatchOptions{}); err != nil {
		t.Fatal(err)
	}
	pvcs, _ := e.kube.CoreV1().PersistentVolumeClaims(ns).List(e.ctx, metav1.ListOptions{})
	e.waitFor(2*time.Minute, "volumes detached after scale-down", func() (bool, string) {
		var seen []string
		ok := true
		for _, c := range pvcs.Items {
			st := str(e.getLH(volumeGVR, c.Spec.VolumeName), "status", "state")
			ok = ok && st == "detached"
			seen = append(seen, c.Name+":"+st)
		}
		vas, _ := e.kube.StorageV1().VolumeAttachments().List(e.ctx, metav1.ListOptions{})
		for _, va := range vas.Items {
			for _, c := range pvcs.Items {
				if va.Spec.Source.PersistentVolumeName != nil && *va.Spec.Source.PersistentVolumeName == c.Spec.VolumeName {
					ok = false
					seen = append(seen, "storage VA "+va.Name+" left")
				}
			}
		}
		return ok, fmt.Sprint(seen)
	})
	for _, c := range pvcs.Items {
		if err := e.kube.CoreV1().PersistentVolumeClaims(ns).Delete(e.ctx, c.Name, metav1.DeleteOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	e.waitFor(2*time.Minute, "PVs, volumes, replicas gone after the claims", func() (bool, string) {
		var left []string
		for _, c := range pvcs.Items {
			if _, err := e.kube.CoreV1().PersistentVolumes().Get(e.ctx, c.Spec.VolumeName, metav1.GetOptions{}); err == nil {
				left = append(left, "pv/"+c.Spec.VolumeName)
			}
			if e.getLH(volumeGVR, c.Spec.VolumeName) != nil {
				left = append(left, "volume/"+c.Spec.VolumeName)
			}
			reps, _ := e.dyn.Resource(replicaGVR).Namespace(Namespace).List(e.ctx, metav1.ListOptions{LabelSelector: "longhornvolume=" + c.Spec.VolumeName})
			if reps != nil && len(reps.Items) > 0 {
				left = append(left, fmt.Sprintf("%d replicas of %s", len(reps.Items), c.Spec.VolumeName))
			}
		}
		return len(left) == 0, fmt.Sprint(left)
	})
}

func TestIntegrationMissingBackingImageKeepsClaimPending(t *testing.T) {
	e := newEnv(t, Options{})
	ns := e.namespace("it-missing-bi")
	e.storageClass("it-missing-bi-class", "no-such-image")
	c := claimTemplate("data", "it-missing-bi-class")
	c.Namespace = ns
	if _, err := e.kube.CoreV1().PersistentVolumeClaims(ns).Create(e.ctx, &c, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	e.waitFor(condTimeout, "a ProvisioningFailed warning", func() (bool, string) {
		evs, err := e.kube.CoreV1().Events(ns).List(e.ctx, metav1.ListOptions{FieldSelector: "involvedObject.name=data"})
		if err != nil {
			return false, err.Error()
		}
		var seen []string
		for _, ev := range evs.Items {
			if ev.Type == corev1.EventTypeWarning && ev.Reason == "ProvisioningFailed" {
				return true, ""
			}
			seen = append(seen, ev.Reason)
		}
		return false, fmt.Sprint(seen)
	})
	time.Sleep(2 * time.Second)
	got, err := e.kube.CoreV1().PersistentVolumeClaims(ns).Get(e.ctx, "data", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if got.Status.Phase != corev1.ClaimPending || got.Spec.VolumeName != "" {
		t.Errorf("claim %s bound to %q, want Pending", got.Status.Phase, got.Spec.VolumeName)
	}
	if v := e.getLH(volumeGVR, volumeNameForClaim(string(got.UID))); v != nil {
		t.Errorf("volume %s created for a missing backing image", v.GetName())
	}
}
