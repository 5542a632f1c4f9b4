package scenarios_test

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/scenario-runner/runner/cli"
	"github.com/scenario-runner/runner/localcluster"
	"github.com/scenario-runner/runner/localcluster/clustertest"
	"github.com/scenario-runner/runner/metrics"
)

// promPlan reads Longhorn's managers and the API server from Prometheus,
// with PromQL the pods source does not evaluate (binary operators,
// histogram_quantile), once and during a probe.
const promPlan = `# yaml-language-server: $schema=../schemas/scenario.schema.json
name: prometheus-source
vars: {prom: "http://127.0.0.1:9090"}
steps:
  - name: Prometheus scrapes every manager
    metrics:
      prometheus: ${{ prom }}
      queries:
        managers: count(up{job="longhorn-manager"} == 1)
        nodes: max(longhorn_node_count_total)
        apiserver: sum(up{job="kube-apiserver"})
      until: managers.value == nodes.value && apiserver.value == 1
      every: 1s
      outputs:
        scraped: managers.value
  - timeProbe:
      name: configmap
      measure:
        prometheus: ${{ prom }}
        every: 500ms
        queries:
          writes: sum(rate(apiserver_request_total{verb=~"APPLY|POST|PATCH|DELETE", resource="configmaps"}[10s]))
          p99: histogram_quantile(0.99, sum by (le) (rate(apiserver_request_duration_seconds_bucket{verb="POST"}[1m])))
          readyRatio: sum(longhorn_node_status{condition="ready"}) / count(longhorn_node_status{condition="ready"})
          missing: longhorn_backup_state
        assert:
          - readyRatio.min == 1
          - missing.absent
      steps:
        - apply:
            manifest: |
              apiVersion: v1
              kind: ConfigMap
              metadata: {name: prom-probe}
        - sleep: 3s
        - delete: {apiVersion: v1, kind: ConfigMap, name: prom-probe}
`

// TestPrometheusSource runs a real Prometheus (sim up --prometheus's,
// built by make prometheus-bin) beside the shared cluster: it finds the
// longhorn-manager pods by Kubernetes service discovery and scrapes them
// and the API server; the metrics step and a measure query it by URL.
func TestPrometheusSource(t *testing.T) {
	bin, err := localcluster.PrometheusBin()
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatal(err)
		}
		t.Skip(err)
	}
	c := clustertest.Cluster(t)
	start := time.Now()
	url, err := c.StartPrometheus(t.Context(), bin)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("prometheus ready at %s in %v", url, time.Since(start))
	src, err := metrics.NewPromSource(url)
	if err != nil {
		t.Fatal(err)
	}
	q, _ := metrics.Compile(`up`)
	if r, err := src.Read(t.Context(), []*metrics.Query{q}); err != nil {
		t.Fatalf("query up: %v", err)
	} else {
		t.Logf("up: %v", r.Vectors[0])
	}

	dir := t.TempDir()
	plan := filepath.Join(dir, "prom.yaml")
	if err := os.WriteFile(plan, []byte(promPlan), 0o644); err != nil {
		t.Fatal(err)
	}
	var out, errOut bytes.Buffer
	err = cli.Execute([]string{"--kubeconfig", clustertest.Kubeconfig(t), "--log-level", "warn", "--set", "prom=" + url, "--report-dir", dir, plan},
		cli.Streams{Out: &out, Err: &errOut})
	t.Logf("summary:\n%s", out.String())
	if err != nil {
		t.Fatalf("runner: %v\n%s", err, errOut.String())
	}
	for _, want := range []string{"managers=3, nodes=3", "measured ", "missing absent", "readyRatio max 1"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("the summary lacks %q", want)
		}
	}
	html := readFile(t, filepath.Join(dir, "report.html"))
	if !strings.Contains(html, "measured writes") || !strings.Contains(html, `<polyline class="series s0"`) {
		t.Error("report.html lacks the measured charts")
	}
}
