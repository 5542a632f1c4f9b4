package steps_test

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net/http"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rs/zerolog"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/rest"

	"github.com/scenario-runner/runner/engine"
	"github.com/scenario-runner/runner/result"
	"github.com/scenario-runner/runner/steps"
)

// progressWatcher is an engine.Observer that hands on the progress of the
// first step whose wait matched at least n objects.
type progressWatcher struct {
	n    int
	once sync.Once
	seen chan struct{}
}

func (p *progressWatcher) StepStarted(*result.Step)  {}
func (p *progressWatcher) StepFinished(*result.Step) {}
func (p *progressWatcher) StepProgress(_ *result.Step, pr result.Progress) {
	if pr.Matched >= p.n {
		p.once.Do(func() { close(p.seen) })
	}
}

// apiRequests sums apiserver_request_total over the series of resource whose
// verb is one of verbs (every series when resource is empty).
func apiRequests(t *testing.T, cfg *rest.Config, resource string, verbs ...string) float64 {
	t.Helper()
	hc, err := rest.HTTPClientFor(cfg)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := hc.Get(strings.TrimSuffix(cfg.Host, "/") + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(resp.Body)
		t.Fatalf("GET /metrics: %s: %s", resp.Status, b)
	}
	label := regexp.MustCompile(`(\w+)="([^"]*)"`)
	var sum float64
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if !strings.HasPrefix(line, "apiserver_request_total{") {
			continue
		}
		end := strings.LastIndexByte(line, '}')
		labels := map[string]string{}
		for _, m := range label.FindAllStringSubmatch(line[:end], -1) {
			labels[m[1]] = m[2]
		}
		if resource != "" && labels["resource"] != resource {
			continue
		}
		if len(verbs) > 0 && !containsString(verbs, labels["verb"]) {
			continue
		}
		v, err := strconv.ParseFloat(strings.TrimSpace(line[end+1:]), 64)
		if err != nil {
			t.Fatalf("metrics line %q: %v", line, err)
		}
		sum += v
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return sum
}

func containsString(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// TestWaitForThousandConfigMapsLive flips the data of 1,000 config maps one
// by one while a waitFor watches them: the step must end within a second of
// the last flip, and cost the API server a constant number of requests (one
// LIST, one WATCH), not one per object.
func TestWaitForThousandConfigMapsLive(t *testing.T) {
	c := liveCluster(t)
	const ns, n = "waitfor-live", 1000
	ctx := context.Background()
	nsObj := &unstructured.Unstructured{Object: map[string]any{"apiVersion": "v1", "kind": "Namespace", "metadata": map[string]any{"name": ns}}}
	if _, err := c.Dynamic().Resource(namespaces).Create(ctx, nsObj, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Dynamic().Resource(namespaces).Delete(context.Background(), ns, metav1.DeleteOptions{}) })
	cms := c.Dynamic().Resource(configMaps).Namespace(ns)
	name := func(i int) string { return fmt.Sprintf("cm-%04d", i) }
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for w := range 8 {
		wg.Go(func() {
			for i := w; i < n; i += 8 {
				cm := &unstructured.Unstructured{Object: map[string]any{
					"apiVersion": "v1", "kind": "ConfigMap",
					"metadata": map[string]any{"name": name(i), "labels": map[string]any{"suite": ns}},
					"data":     map[string]any{"ready": "no"},
				}}
				if _, err := cms.Create(ctx, cm, metav1.CreateOptions{}); err != nil {
					errs <- err
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}

	p, err := engine.LoadBytes(filepath.Join(t.TempDir(), "plan.yaml"), []byte(`
name: waitfor-live
steps:
  - timeout: 2m
    waitFor:
      apiVersion: v1
      kind: ConfigMap
      namespace: waitfor-live
      labelSelector: suite=waitfor-live
      condition: object.data?.ready == "yes"
      min: 1000
`), engine.LoadOptions{Registry: steps.Kinds()})
	if err != nil {
		t.Fatal(err)
	}
	reads := func() float64 { return apiRequests(t, c.Config, "configmaps", "LIST", "WATCH", "GET") }
	before, beforeAll := reads(), apiRequests(t, c.Config, "")
	seen := &progressWatcher{n: n, seen: make(chan struct{})}
	done := make(chan *result.Plan)
	go func() {
		done <- engine.Run(ctx, p, engine.RunOptions{Cluster: c, Observer: seen, Log: zerolog.New(zerolog.NewTestWriter(t)).Level(zerolog.WarnLevel)})
	}()
	select {
	case <-seen.seen:
	case r := <-done:
		t.Fatalf("the wait ended before the flips: %s %s", r.Outcome, r.Error)
	case <-time.After(time.Minute):
		t.Fatal("the wait never saw the 1000 config maps")
	}

	start := time.Now()
	patch := []byte(`{"data":{"ready":"yes"}}`)
	for i := range n {
		if _, err := cms.Patch(ctx, name(i), types.MergePatchType, patch, metav1.PatchOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	lastFlip := time.Now()
	r := <-done
	if r.Outcome != result.Passed {
		t.Fatalf("outcome %s: %s", r.Outcome, r.Error)
	}
	sr := r.Steps[0]
	lag := sr.End.Sub(lastFlip)
	if lag > time.Second {
		t.Errorf("the step ended %s after the last flip, want under 1s", lag)
	}
	if w := sr.Detail.(*steps.WaitDetail); w == nil || w.Matched != n || w.Satisfied != n {
		t.Errorf("wait result %+v", w)
	}

	// A WATCH is counted when it ends: give the server a moment to see the
	// informer go.
	var grew float64
	for range 5 {
		time.Sleep(100 * time.Millisecond)
		if grew = reads() - before; grew >= 2 {
			break
		}
	}
	all := apiRequests(t, c.Config, "") - beforeAll
	t.Logf("flipped %d config maps in %s; the step ended %s after the last flip; config map reads (LIST, WATCH, GET) grew by %.0f, all requests by %.0f (%d of them the flips)",
		n, lastFlip.Sub(start).Round(time.Millisecond), lag, grew, all, n)
	if grew > 10 {
		t.Errorf("config map reads grew by %.0f during the wait, want a small constant (1 LIST + 1 WATCH)", grew)
	}
}

// TestWaitForStatefulSetLive scales a StatefulSet from 0 to 10 and waits for
// its pods to run on the KWOK nodes.
func TestWaitForStatefulSetLive(t *testing.T) {
	c := liveCluster(t)
	r := runLive(t, c, `
name: sts-live
steps:
  - apply:
      manifest: |
        apiVersion: v1
        kind: Namespace
        metadata: {name: sts-live}
  - apply:
      manifest: |
        apiVersion: apps/v1
        kind: StatefulSet
        metadata: {name: web, namespace: sts-live}
        spec:
          replicas: 0
          serviceName: web
          podManagementPolicy: Parallel
          selector: {matchLabels: {app: web}}
          template:
            metadata: {labels: {app: web}}
            spec:
              containers: [{name: web, image: nginx}]
  - scale: {apiVersion: apps/v1, kind: StatefulSet, namespace: sts-live, name: web, replicas: 10}
  - timeout: 2m
    waitFor:
      apiVersion: v1
      kind: Pod
      namespace: sts-live
      labelSelector: app=web
      condition: object.status?.phase == "Running"
      min: 10
      outputs:
        nodes: map(objects, .spec.nodeName)
        first: objects[0].metadata.name
  - timeout: 1m
    waitFor:
      apiVersion: apps/v1
      kind: StatefulSet
      namespace: sts-live
      name: web
      condition: object.status?.readyReplicas == 10 && len(nodes) == 10 && first == "web-0"
`, nil)
	mustPass(t, r)
	w := r.Steps[3].Detail.(*steps.WaitDetail)
	if w == nil || w.Matched != 10 || w.Satisfied != 10 || w.Needed != 10 {
		t.Errorf("wait result %+v", w)
	}
	t.Logf("10 pods running %s after the scale", r.Steps[3].Duration().Round(time.Millisecond))
}

// TestTimeProbeLive times create, wait and delete of a config map five times;
// its assertion fails on purpose and must show the value it read.
func TestTimeProbeLive(t *testing.T) {
	c := liveCluster(t)
	r := runLive(t, c, `
name: probe-live
steps:
  - apply:
      manifest: |
        apiVersion: v1
        kind: Namespace
        metadata: {name: probe-live}
  - timeProbe:
      name: configmap-roundtrip
      repeat: 5
      steps:
        - apply:
            manifest: |
              apiVersion: v1
              kind: ConfigMap
              metadata: {name: probe, namespace: probe-live}
              data: {at: "x"}
        - waitFor: {apiVersion: v1, kind: ConfigMap, namespace: probe-live, name: probe, condition: 'object.data?.at == "x"'}
        - delete: {apiVersion: v1, kind: ConfigMap, namespace: probe-live, name: probe}
      assert:
        - max < duration("1m")
        - p90 < duration("1us")
`, nil)
	if r.Outcome != result.Failed {
		t.Fatalf("outcome %s, want failed: %s", r.Outcome, r.Error)
	}
	want := regexp.MustCompile(`^step "timeProbe configmap-roundtrip": assertion failed: p90 < duration\("1us"\): p90 = [0-9.]+m?s$`)
	if !want.MatchString(r.Error) {
		t.Errorf("error: %s", r.Error)
	}
	pr := r.Steps[1].Detail.(*steps.ProbeDetail)
	if pr == nil || len(pr.SamplesSeconds) != 5 || len(pr.Assertions) != 2 || !pr.Assertions[0].Passed || pr.Assertions[1].Passed {
		t.Fatalf("probe %+v", pr)
	}
	if n := len(r.Steps[1].Steps); n != 15 {
		t.Errorf("%d nested step results, want 15", n)
	}
	t.Logf("samples %v, stats %v", pr.SamplesSeconds, pr.StatsSeconds)
}
