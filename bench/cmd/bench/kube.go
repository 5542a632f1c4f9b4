package main

import (
	"context"
	"encoding/json"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/rest"

	"github.com/scenario-runner/runner/bench"
)

var (
	configMaps    = schema.GroupVersionResource{Version: "v1", Resource: "configmaps"}
	backingImages = schema.GroupVersionResource{Group: "longhorn.io", Version: "v1beta2", Resource: "backingimages"}
	namespaces    = schema.GroupVersionResource{Version: "v1", Resource: "namespaces"}
)

// kube is the driver's own access to the cluster: preparing objects,
// flipping them, cleaning up between trials and reading /metrics. Its
// client is not rate-limited: preparing is not what is measured.
type kube struct {
	dyn  dynamic.Interface
	rest rest.Interface
}

func newKube(cfg *rest.Config) (*kube, error) {
	cfg = rest.CopyConfig(cfg)
	cfg.QPS, cfg.Burst = -1, 0 // no client-side rate limit
	dyn, err := dynamic.NewForConfig(cfg)
	if err != nil {
		return nil, err
	}
	rc, err := rest.UnversionedRESTClientFor(dynamic.ConfigFor(cfg))
	if err != nil {
		return nil, err
	}
	return &kube{dyn: dyn, rest: rc}, nil
}

func (k *kube) scrape(ctx context.Context) (bench.RequestCounts, error) {
	return bench.ScrapeRequests(ctx, k.rest)
}

func (k *kube) ensureNamespace(ctx context.Context, name string) error {
	ns := &unstructured.Unstructured{Object: map[string]any{"apiVersion": "v1", "kind": "Namespace", "metadata": map[string]any{"name": name}}}
	_, err := k.dyn.Resource(namespaces).Create(ctx, ns, metav1.CreateOptions{})
	if apierrors.IsAlreadyExists(err) {
		return nil
	}
	return err
}

// parallel runs fn(0..n-1) on workers goroutines and returns the first error.
func parallel(ctx context.Context, n, workers int, fn func(context.Context, int) error) error {
	var next atomic.Int64
	var first error
	var once sync.Once
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var wg sync.WaitGroup
	for range min(workers, n) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1) - 1)
				if i >= n || ctx.Err() != nil {
					return
				}
				if err := fn(ctx, i); err != nil {
					once.Do(func() { first = err; cancel() })
					return
				}
			}
		}()
	}
	wg.Wait()
	if first == nil && ctx.Err() != nil {
		return ctx.Err()
	}
	return first
}

// createConfigMaps creates cm-1..cm-n in ns with label bench=<label> and
// data.state = state.
func (k *kube) createConfigMaps(ctx context.Context, ns, label string, n int, state string) error {
	ri := k.dyn.Resource(configMaps).Namespace(ns)
	return parallel(ctx, n, 32, func(ctx context.Context, i int) error {
		obj := &unstructured.Unstructured{Object: map[string]any{
			"apiVersion": "v1", "kind": "ConfigMap",
			"metadata": map[string]any{"name": fmt.Sprintf("cm-%d", i+1), "labels": map[string]any{bench.Label: label}},
			"data":     map[string]any{"index": fmt.Sprint(i + 1), "state": state},
		}}
		_, err := ri.Create(ctx, obj, metav1.CreateOptions{})
		return err
	})
}

// flipped is when a flip's updates went out and came back.
type flipped struct {
	lastSent time.Time // the latest request sent: no tool may be done before
	last     time.Time // the latest response: the API server accepted every update
}

// flip sets data.state of cm-(from+1)..cm-to to state, 32 at a time.
func (k *kube) flip(ctx context.Context, ns string, from, to int, state string) (flipped, error) {
	ri := k.dyn.Resource(configMaps).Namespace(ns)
	patch := fmt.Appendf(nil, `{"data":{"state":%q}}`, state)
	var mu sync.Mutex
	var f flipped
	err := parallel(ctx, to-from, 32, func(ctx context.Context, i int) error {
		sent := time.Now()
		_, err := ri.Patch(ctx, fmt.Sprintf("cm-%d", from+i+1), types.MergePatchType, patch, metav1.PatchOptions{})
		now := time.Now()
		mu.Lock()
		if now.After(f.last) {
			f.last = now
		}
		if sent.After(f.lastSent) {
			f.lastSent = sent
		}
		mu.Unlock()
		return err
	})
	return f, err
}

// deleteAll deletes the objects of gvr labelled bench=<label> in ns with one
// DELETE collection, and waits until none is listed. The API server deletes
// a collection one object at a time: at 100,000 objects that outlasts its
// request timeout (60 s), so a timeout is retried until none is left.
func (k *kube) deleteAll(ctx context.Context, gvr schema.GroupVersionResource, ns, label string) error {
	ri := k.dyn.Resource(gvr).Namespace(ns)
	sel := metav1.ListOptions{LabelSelector: bench.Label + "=" + label}
	// A DELETE collection of 100,000 objects outlasts the server's request
	// timeout, or has its HTTP/2 stream reset (seen on 2026-12-01): it is
	// idempotent, so any error is retried a few times.
	for attempt := 1; ; attempt++ {
		err := ri.DeleteCollection(ctx, metav1.DeleteOptions{}, sel)
		if err == nil || apierrors.IsNotFound(err) {
			break
		}
		if attempt == 5 || ctx.Err() != nil {
			return fmt.Errorf("deleting %s in %s (attempt %d): %w", gvr.Resource, ns, attempt, err)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(time.Duration(attempt) * time.Second):
		}
	}
	for {
		left, err := k.anyLeft(ctx, gvr, ns, label)
		if err != nil || !left {
			return err
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// anyLeft says whether an object of gvr labelled bench=<label> is left in ns
// (a list of one: cheap however many there are).
func (k *kube) anyLeft(ctx context.Context, gvr schema.GroupVersionResource, ns, label string) (bool, error) {
	list, err := k.dyn.Resource(gvr).Namespace(ns).List(ctx, metav1.ListOptions{LabelSelector: bench.Label + "=" + label, Limit: 1})
	if err != nil {
		return false, err
	}
	return len(list.Items) > 0, nil
}

// count lists the objects of gvr labelled bench=<label> in ns.
func (k *kube) count(ctx context.Context, gvr schema.GroupVersionResource, ns, label string) (int, error) {
	list, err := k.dyn.Resource(gvr).Namespace(ns).List(ctx, metav1.ListOptions{LabelSelector: bench.Label + "=" + label})
	if err != nil {
		return 0, err
	}
	return len(list.Items), nil
}

func (k *kube) serverVersion(ctx context.Context) (string, error) {
	raw, err := k.rest.Get().AbsPath("/version").DoRaw(ctx)
	if err != nil {
		return "", err
	}
	var v struct {
		GitVersion string `json:"gitVersion"`
	}
	if err := json.Unmarshal(raw, &v); err != nil {
		return "", err
	}
	return v.GitVersion, nil
}
