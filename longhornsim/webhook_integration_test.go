package longhornsim

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

// waitWebhook waits until the API server sends Longhorn writes through the
// simulator's mutator (a dry-run create comes back with the finalizer).
func (e *env) waitWebhook() {
	e.t.Helper()
	probe := backingImageObj("it-webhook-probe")
	e.waitFor(time.Minute, "the admission webhook active", func() (bool, string) {
		u := &unstructured.Unstructured{Object: probe}
		u.SetNamespace(Namespace)
		got, err := e.dyn.Resource(backingImageGVR).Namespace(Namespace).Create(e.ctx, u.DeepCopy(), metav1.CreateOptions{DryRun: []string{metav1.DryRunAll}})
		if err != nil {
			return false, err.Error()
		}
		return slices.Contains(got.GetFinalizers(), longhornFinalizer), fmt.Sprintf("finalizers %v", got.GetFinalizers())
	})
}

// createRaw creates a Longhorn object and returns what the API server
// answered, stored object or error, without failing the test.
func (e *env) createRaw(gvr schema.GroupVersionResource, obj map[string]any) (*unstructured.Unstructured, error) {
	u := &unstructured.Unstructured{Object: obj}
	u.SetNamespace(Namespace)
	got, err := e.dyn.Resource(gvr).Namespace(Namespace).Create(e.ctx, u, metav1.CreateOptions{})
	if err == nil {
		name := got.GetName()
		e.t.Cleanup(func() {
			_ = e.dyn.Resource(gvr).Namespace(Namespace).Delete(context.Background(), name, metav1.DeleteOptions{})
		})
	}
	return got, err
}

// wantDenied checks an API error is the validator's refusal with Longhorn's
// message, as a plan (or kubectl) sees it.
func wantDenied(t *testing.T, what string, err error, msg string) {
	t.Helper()
	want := `admission webhook "validator.longhorn.io" denied the request: ` + msg
	switch {
	case err == nil:
		t.Errorf("%s: accepted, want refusal %q", what, want)
	case err.Error() != want:
		t.Errorf("%s: error %q, want %q", what, err.Error(), want)
	case !apierrors.IsInvalid(err):
		t.Errorf("%s: error reason %v, want Invalid (422)", what, apierrors.ReasonForError(err))
	}
}

func (e *env) gone(gvr schema.GroupVersionResource, name string) (bool, string) {
	u := e.getLH(gvr, name)
	if u == nil {
		return true, ""
	}
	return false, fmt.Sprintf("%s %s still there (deletionTimestamp %v, finalizers %v)", gvr.Resource, name, u.GetDeletionTimestamp(), u.GetFinalizers())
}

// TestIntegrationWebhook goes through Longhorn's admission on the real API
// server: defaults, refusals with Longhorn's messages, ticket generations,
// and finalizers added and then removed so that deletes complete.
func TestIntegrationWebhook(t *testing.T) {
	e := newEnv(t, Options{DownloadTime: time.Second})
	e.waitWebhook()
	const bi, vol = "it-wh-bi", "it-wh-vol"

	// Defaults: the backing image gets Longhorn's default number of copies
	// (no setting exists) and the finalizer.
	got, err := e.createRaw(backingImageGVR, backingImageObj(bi))
	if err != nil {
		t.Fatal(err)
	}
	if n := fieldInt(got.Object, "spec", "minNumberOfCopies"); n != 3 || !slices.Contains(got.GetFinalizers(), longhornFinalizer) || fieldString(got.Object, "spec", "dataEngine") != "v1" {
		t.Errorf("backing image: minNumberOfCopies %d, finalizers %v, dataEngine %q", n, got.GetFinalizers(), fieldString(got.Object, "spec", "dataEngine"))
	}

	// A v1 volume without a frontend is refused; Longhorn does not default it.
	noFrontend := volumeObj("it-wh-nofrontend", "")
	delete(noFrontend["spec"].(map[string]any), "frontend")
	_, err = e.createRaw(volumeGVR, noFrontend)
	wantDenied(t, "v1 volume without frontend", err, "invalid volume frontend specified:  for data engine v1 ")

	// A volume smaller than its backing image's virtual size (32 MiB) is
	// refused once the size is known; the seed's 32Mi is accepted.
	e.waitFor(condTimeout, bi+" ready", func() (bool, string) { return backingImageReady(e.getLH(backingImageGVR, bi)) })
	small := func() map[string]any {
		o := volumeObj("it-wh-small", bi)
		o["spec"].(map[string]any)["size"] = "16777216"
		o["metadata"].(map[string]any)["namespace"] = Namespace
		return o
	}
	e.waitFor(condTimeout, "the simulator's cache has the image's virtual size", func() (bool, string) {
		_, err := e.dyn.Resource(volumeGVR).Namespace(Namespace).Create(e.ctx, &unstructured.Unstructured{Object: small()},
			metav1.CreateOptions{DryRun: []string{metav1.DryRunAll}})
		return err != nil, fmt.Sprint(err)
	})
	_, err = e.createRaw(volumeGVR, small())
	wantDenied(t, "16Mi volume on a 32Mi image", err, "volume size should be larger than the backing image size")
	_, err = e.createRaw(volumeGVR, volumeObj("it-wh-missing", "it-wh-no-such-image"))
	wantDenied(t, "volume on a missing image", err, `backingimage.longhorn.io "it-wh-no-such-image" not found`)

	v := volumeObj(vol, bi)
	spec := v["spec"].(map[string]any)
	delete(spec, "numberOfReplicas")
	spec["size"] = "33554000" // rounded up to 32 MiB
	got, err = e.createRaw(volumeGVR, v)
	if err != nil {
		t.Fatalf("32Mi volume on the 32Mi image: %v", err)
	}
	for path, want := range map[string]any{"spec.size": "33554432", "spec.numberOfReplicas": int64(3), "spec.accessMode": "rwo",
		"spec.dataEngine": "v1", "metadata.labels.longhornvolume": vol} {
		if g := field(got.Object, strings.Split(path, ".")...); g != want {
			t.Errorf("volume %s = %v (%T), want %v", path, g, g, want)
		}
	}
	if !slices.Contains(got.GetFinalizers(), longhornFinalizer) {
		t.Errorf("volume finalizers %v", got.GetFinalizers())
	}

	// The backing image cannot go while the volume's replicas use it.
	e.waitFor(condTimeout, "replicas and VolumeAttachment of "+vol, func() (bool, string) {
		reps, _ := e.dyn.Resource(replicaGVR).Namespace(Namespace).List(e.ctx, metav1.ListOptions{LabelSelector: "longhornvolume=" + vol})
		va := e.getLH(lhvaGVR, vol)
		return reps != nil && len(reps.Items) == 3 && va != nil, fmt.Sprintf("lhva %v", va != nil)
	})
	// The validator reads the simulator's replica cache: a dry run first, so
	// that the real delete does not race the cache.
	e.waitFor(condTimeout, "a dry-run delete of "+bi+" refused", func() (bool, string) {
		err := e.dyn.Resource(backingImageGVR).Namespace(Namespace).Delete(e.ctx, bi, metav1.DeleteOptions{DryRun: []string{metav1.DryRunAll}})
		return err != nil, fmt.Sprint(err)
	})
	err = e.dyn.Resource(backingImageGVR).Namespace(Namespace).Delete(e.ctx, bi, metav1.DeleteOptions{})
	wantDenied(t, "deleting a backing image in use", err, "cannot delete backing image "+bi+" since there are replicas using it")
	if va := e.getLH(lhvaGVR, vol); !slices.Contains(va.GetFinalizers(), longhornFinalizer) {
		t.Errorf("VolumeAttachment finalizers %v", va.GetFinalizers())
	}

	// Ticket generations: a new ticket keeps 0, a changed one goes to 1.
	ticket := func(node string) map[string]any {
		return map[string]any{"spec": map[string]any{"attachmentTickets": map[string]any{"longhorn-ui": map[string]any{
			"id": "longhorn-ui", "type": "longhorn-api", "nodeID": node, "parameters": map[string]any{"disableFrontend": "false"}}}}}
	}
	satisfiedOn := func(node string, gen int64) func() (bool, string) {
		return func() (bool, string) {
			va, vo := e.getLH(lhvaGVR, vol), e.getLH(volumeGVR, vol)
			sg := fieldInt(va.Object, "status", "attachmentTicketStatuses", "longhorn-ui", "generation")
			tg := fieldInt(va.Object, "spec", "attachmentTickets", "longhorn-ui", "generation")
			sat := field(va.Object, "status", "attachmentTicketStatuses", "longhorn-ui", "satisfied") == true
			return sat && sg == gen && tg == gen && str(vo, "status", "currentNodeID") == node,
				fmt.Sprintf("satisfied=%v status gen %d ticket gen %d node %s", sat, sg, tg, str(vo, "status", "currentNodeID"))
		}
	}
	e.patchLH(lhvaGVR, vol, ticket("node-1"))
	e.waitFor(condTimeout, "ticket satisfied on node-1 at generation 0", satisfiedOn("node-1", 0))
	e.patchLH(lhvaGVR, vol, ticket("node-2"))
	e.waitFor(condTimeout, "ticket satisfied on node-2 at generation 1", satisfiedOn("node-2", 1))

	// Deleting the volume completes: engine, replicas and VolumeAttachment
	// go, then the finalizers; then the backing image may go too.
	if err := e.dyn.Resource(volumeGVR).Namespace(Namespace).Delete(e.ctx, vol, metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	e.waitFor(condTimeout, "volume, VolumeAttachment, engine and replicas gone", func() (bool, string) {
		var left []string
		for _, g := range []struct {
			gvr  schema.GroupVersionResource
			name string
		}{{volumeGVR, vol}, {lhvaGVR, vol}, {engineGVR, engineName(vol)}} {
			if ok, seen := e.gone(g.gvr, g.name); !ok {
				left = append(left, seen)
			}
		}
		reps, _ := e.dyn.Resource(replicaGVR).Namespace(Namespace).List(e.ctx, metav1.ListOptions{LabelSelector: "longhornvolume=" + vol})
		if reps == nil || len(reps.Items) > 0 {
			left = append(left, "replicas")
		}
		return len(left) == 0, fmt.Sprint(left)
	})
	t.Logf("attached volume deleted in %v", time.Since(start))
	if err := e.dyn.Resource(backingImageGVR).Namespace(Namespace).Delete(e.ctx, bi, metav1.DeleteOptions{}); err != nil {
		t.Fatalf("deleting the unused backing image: %v", err)
	}
	e.waitFor(condTimeout, "backing image gone", func() (bool, string) { return e.gone(backingImageGVR, bi) })
}

// TestIntegrationWebhookSetting: minNumberOfCopies comes from the setting
// default-min-number-of-backing-image-copies when it exists.
func TestIntegrationWebhookSetting(t *testing.T) {
	e := newEnv(t, Options{})
	e.waitWebhook()
	// The simulator creates Longhorn's settings at start; set this one for
	// the test (restored after it).
	e.setSetting(settingDefaultMinBICopies, "2")
	got, err := e.createRaw(backingImageGVR, backingImageObj("it-wh-setting-bi"))
	if err != nil {
		t.Fatal(err)
	}
	if n := fieldInt(got.Object, "spec", "minNumberOfCopies"); n != 2 {
		t.Errorf("minNumberOfCopies = %d, want 2 from the setting", n)
	}
}

// TestIntegrationWebhookStopRemovesConfiguration: a stopped simulator
// leaves no webhook configuration behind (so writes are not refused for
// want of a listener), and a new one registers a fresh CA and URL.
func TestIntegrationWebhookStopRemovesConfiguration(t *testing.T) {
	e := connect(t)
	stop := e.startSim(Options{})
	e.waitWebhook()
	regs := e.kube.AdmissionregistrationV1()
	first, err := regs.ValidatingWebhookConfigurations().Get(e.ctx, validatingWebhookName, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if u := first.Webhooks[0].ClientConfig.URL; u == nil || !strings.HasPrefix(*u, "https://127.0.0.1:") || len(first.Webhooks[0].ClientConfig.CABundle) == 0 {
		t.Errorf("client config %+v", first.Webhooks[0].ClientConfig)
	}
	stop()
	for _, get := range []func() error{
		func() error {
			_, err := regs.ValidatingWebhookConfigurations().Get(e.ctx, validatingWebhookName, metav1.GetOptions{})
			return err
		},
		func() error {
			_, err := regs.MutatingWebhookConfigurations().Get(e.ctx, mutatingWebhookName, metav1.GetOptions{})
			return err
		},
	} {
		if err := get(); !apierrors.IsNotFound(err) {
			t.Errorf("configuration after stop: %v, want NotFound", err)
		}
	}
	// Without the simulator nothing refuses or mutates, once the API server
	// has seen the configurations go.
	noFrontend := func() map[string]any {
		o := volumeObj("it-wh-stopped", "")
		delete(o["spec"].(map[string]any), "frontend")
		o["metadata"].(map[string]any)["namespace"] = Namespace
		return o
	}
	e.waitFor(condTimeout, "a dry-run create admitted without the webhook", func() (bool, string) {
		_, err := e.dyn.Resource(volumeGVR).Namespace(Namespace).Create(e.ctx, &unstructured.Unstructured{Object: noFrontend()},
			metav1.CreateOptions{DryRun: []string{metav1.DryRunAll}})
		return err == nil, fmt.Sprint(err)
	})
	got, err := e.createRaw(volumeGVR, noFrontend())
	if err != nil || len(got.GetFinalizers()) != 0 {
		t.Fatalf("create without the simulator: %v, finalizers %v", err, got.GetFinalizers())
	}
	if err := e.dyn.Resource(volumeGVR).Namespace(Namespace).Delete(e.ctx, "it-wh-stopped", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}

	e.startSim(Options{})
	e.waitWebhook()
	second, err := regs.ValidatingWebhookConfigurations().Get(e.ctx, validatingWebhookName, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if string(second.Webhooks[0].ClientConfig.CABundle) == string(first.Webhooks[0].ClientConfig.CABundle) {
		t.Error("restart kept the old CA")
	}
}
