package steps

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"strings"
	"sync"
	"testing"

	"k8s.io/apimachinery/pkg/runtime"

	"github.com/scenario-runner/runner/engine"
	"github.com/scenario-runner/runner/result"
)

// managersCluster is a fake cluster whose longhorn-manager pods serve the
// text that texts returns for them, counting each pod's scrapes.
type managersCluster struct {
	*fakeCluster
	mu      sync.Mutex
	scrapes map[string]int
	text    func(pod string, n int) (string, error)
}

func newManagersCluster(t *testing.T, text func(pod string, n int) (string, error), nodes ...string) *managersCluster {
	t.Helper()
	var objs []runtime.Object
	for i, n := range nodes {
		objs = append(objs, object(map[string]any{
			"apiVersion": "v1", "kind": "Pod",
			"metadata": map[string]any{"name": "longhorn-manager-" + n, "namespace": "longhorn-system", "labels": map[string]any{"app": "longhorn-manager"}},
			"spec": map[string]any{"nodeName": n, "containers": []any{map[string]any{"name": "longhorn-manager",
				"ports": []any{map[string]any{"name": "manager", "containerPort": int64(19500 + i)}}}}},
			"status": map[string]any{"phase": "Running", "podIP": "192.0.2.2"},
		}))
	}
	return &managersCluster{fakeCluster: newFakeCluster(t, objs...), scrapes: map[string]int{}, text: text}
}

func (c *managersCluster) ProxyGet(_ context.Context, ns, pod, port, path string) ([]byte, error) {
	if ns != "longhorn-system" || path != "/metrics" || !strings.HasPrefix(port, "195") {
		return nil, fmt.Errorf("unexpected GET %s/%s:%s%s", ns, pod, port, path)
	}
	c.mu.Lock()
	n := c.scrapes[pod]
	c.scrapes[pod]++
	c.mu.Unlock()
	text, err := c.text(pod, n)
	return []byte(text), err
}

const managersSource = `pods: {namespace: longhorn-system, labelSelector: app=longhorn-manager, port: manager}`

func TestMetricsStepReadsEveryManager(t *testing.T) {
	t.Parallel()
	c := newManagersCluster(t, func(pod string, _ int) (string, error) {
		node := strings.TrimPrefix(pod, "longhorn-manager-")
		return fmt.Sprintf("longhorn_workqueue_depth{name=\"longhorn-replica\"} 3\nlonghorn_volume_state{node=%q,volume=\"v-%s\"} 2\n", node, node), nil
	}, "node-1", "node-2", "node-3")
	res := runYAML(t.Context(), t, c, `name: m
steps:
- metrics:
    `+managersSource+`
    queries:
      depth: sum(longhorn_workqueue_depth{name="longhorn-replica"})
      volumes: count(longhorn_volume_state)
      engines: longhorn_engine_state
    assert:
    - depth.value == 9 && volumes.value == 3
    - engines.absent
    outputs:
      attached: 'len(filter(volumes.series, true)) + 0'
      nodes: map(depth.series, .value)
- assert: [attached == 1]
`)
	if res.Outcome != result.Passed {
		t.Fatalf("outcome %s: %s", res.Outcome, res.Error)
	}
	d := res.Steps[0].Detail.(*MetricsDetail)
	if got := d.Summary(); got != "depth=9, engines absent, volumes=3" {
		t.Errorf("summary %q", got)
	}
	if len(c.scrapes) != 3 {
		t.Errorf("scraped %v, want each of the 3 managers", c.scrapes)
	}
}

func TestMetricsStepAssertionSaysWhatItRead(t *testing.T) {
	t.Parallel()
	c := newManagersCluster(t, func(string, int) (string, error) {
		return "longhorn_workqueue_depth{name=\"longhorn-replica\"} 37\n", nil
	}, "node-1", "node-2")
	res := runYAML(t.Context(), t, c, `name: m
steps:
- metrics:
    `+managersSource+`
    queries:
      depth: longhorn_workqueue_depth{name="longhorn-replica"}
      engines: sum(longhorn_engine_state)
    assert:
    - depth.value < 10
    - engines.value >= 0
`)
	want := `step "metrics depth, engines": 2 assertions failed: depth.value < 10: depth = 74 (sum of 2 series); engines.value >= 0: engines = absent`
	if res.Outcome != result.Failed || res.Error != want {
		t.Fatalf("outcome %s:\n got %s\nwant %s", res.Outcome, res.Error, want)
	}
}

func TestMetricsStepUntilRetriesStopGrowing(t *testing.T) {
	t.Parallel()
	// The retries grow on the first three scrapes, then stay.
	c := newManagersCluster(t, func(_ string, n int) (string, error) {
		return fmt.Sprintf("longhorn_workqueue_retries_total{name=\"longhorn-replica\"} %d\n", 100*min(n, 3)), nil
	}, "node-1")
	res := runYAML(t.Context(), t, c, `name: m
steps:
- metrics:
    `+managersSource+`
    queries:
      retries: sum(longhorn_workqueue_retries_total{name="longhorn-replica"})
    until: retries.value == retries.previous
    every: 100ms
    outputs:
      settled: retries.value
- assert: [settled == 300]
`)
	if res.Outcome != result.Passed {
		t.Fatalf("outcome %s: %s", res.Outcome, res.Error)
	}
	d := res.Steps[0].Detail.(*MetricsDetail)
	if d.Reads != 5 || !d.Until.Passed {
		t.Errorf("reads %d, until %+v: want the 5th read to find 300 twice", d.Reads, d.Until)
	}
	// The report charts the retries over the reads.
	sec := d.Section()
	if sec == nil || len(sec.Plots) != 1 || len(sec.Plots[0].Lines) != 1 || len(sec.Plots[0].Lines[0].Points) != 5 || sec.Plots[0].Lines[0].Points[4].V != 300 {
		t.Errorf("section %+v", sec)
	}
}

func TestMetricsStepUntilTimesOutWithTheLastValues(t *testing.T) {
	t.Parallel()
	c := newManagersCluster(t, func(_ string, n int) (string, error) {
		return fmt.Sprintf("longhorn_workqueue_retries_total{name=\"longhorn-replica\"} %d\n", 10*n), nil
	}, "node-1")
	res := runYAML(t.Context(), t, c, `name: m
steps:
- timeout: 500ms
  metrics:
    `+managersSource+`
    queries:
      retries: sum(longhorn_workqueue_retries_total)
    until: retries.value == retries.previous
    every: 100ms
`)
	want := regexp.MustCompile(`^step "metrics retries": step timeout of 500ms reached: until did not hold after \d+ read\(s\): failed: retries.value == retries.previous \(retries = \d+, previous \d+\)$`)
	if res.Outcome != result.TimedOut || !want.MatchString(res.Error) {
		t.Fatalf("outcome %s: %s", res.Outcome, res.Error)
	}
}

func TestMetricsStepFailsWhenNothingCanBeRead(t *testing.T) {
	t.Parallel()
	c := newManagersCluster(t, func(string, int) (string, error) {
		return "", errors.New(`pods "longhorn-manager-node-1" is forbidden: User "qa" cannot get resource "pods/proxy"`)
	}, "node-1")
	res := runYAML(t.Context(), t, c, `name: m
steps:
- metrics:
    `+managersSource+`
    queries: {depth: longhorn_workqueue_depth}
`)
	if res.Outcome != result.Failed || !strings.Contains(res.Error, "no pod could be scraped") || !strings.Contains(res.Error, "pods/proxy") {
		t.Fatalf("outcome %s: %s", res.Outcome, res.Error)
	}
}

func TestMetricsLoadErrors(t *testing.T) {
	t.Parallel()
	tests := []struct{ body, want string }{
		{"    queries: {a: up}\n", "metrics needs a source: pods (scraped through the API server) or prometheus (a URL)"},
		{"    " + managersSource + "\n    queries: {a: 'up{'}\n", "query a: 1:4: parse error"},
		{"    " + managersSource + "\n    queries: {a: 'histogram_quantile(0.9, x_bucket)'}\n", "query a: function histogram_quantile: the pods source evaluates"},
		{"    prometheus: http://127.0.0.1:9090\n    queries: {a: 'histogram_quantile(0.9, x_bucket)'}\n    assert: [a.valeu > 1]\n", "unknown field valeu"},
		{"    " + managersSource + "\n    queries: {limit: up}\n", `query name "limit" hides a variable`},
		{"    " + managersSource + "\n    queries: {a: up}\n    every: 1s\n", "every is the interval between reads for until"},
		{"    " + managersSource + "\n    prometheus: http://x\n    queries: {a: up}\n", "give either pods or prometheus, not both"},
	}
	for _, tt := range tests {
		_, err := engine.LoadBytes("plan.yaml", []byte("name: m\nvars: {limit: 1}\nsteps:\n- metrics:\n"+tt.body), engine.LoadOptions{Registry: Kinds()})
		var inv *engine.InvalidError
		if !errors.As(err, &inv) || !strings.Contains(inv.Render(), tt.want) {
			t.Errorf("%s: error %v, want one containing %q", tt.body, err, tt.want)
		}
	}
}
