package metrics

import (
	"os"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/common/model"
)

func TestParseLonghornManagerText(t *testing.T) {
	f, err := os.Open("testdata/longhorn-manager-node-1.txt")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	at := time.Date(2026, 12, 6, 21, 0, 0, 0, time.UTC)
	v, err := Parse(f, at)
	if err != nil {
		t.Fatal(err)
	}
	find := func(text string) (float64, bool) {
		for _, s := range v {
			if s.Metric.String() == text {
				return float64(s.Value), true
			}
		}
		return 0, false
	}
	tests := []struct {
		series string
		want   float64
	}{
		{`longhorn_volume_actual_size_bytes{node="node-1", pvc="data-web-0", pvc_namespace="default", volume="pvc-0a1b"}`, 10485760},
		{`longhorn_volume_robustness{node="node-1", pvc="data-web-1", pvc_namespace="default", volume="pvc-2c3d"}`, 2},
		{`longhorn_node_count_total`, 3},
		{`longhorn_node_status{condition="ready", condition_reason="", node="node-1"}`, 1},
		{`longhorn_workqueue_depth{name="longhorn-replica"}`, 37},
		{`longhorn_workqueue_retries_total{name="longhorn-replica"}`, 5120},
		// A histogram becomes its buckets, sum and count, as Prometheus stores it.
		{`longhorn_workqueue_queue_duration_seconds_bucket{le="+Inf", name="longhorn-replica"}`, 1873},
		{`longhorn_workqueue_queue_duration_seconds_count{name="longhorn-replica"}`, 1873},
		{`longhorn_workqueue_queue_duration_seconds_sum{name="longhorn-replica"}`, 94.2},
	}
	for _, tt := range tests {
		got, ok := find(tt.series)
		if !ok {
			t.Errorf("%s: missing", tt.series)
			continue
		}
		if got != tt.want {
			t.Errorf("%s = %v, want %v", tt.series, got, tt.want)
		}
	}
	for _, s := range v {
		if s.Timestamp != model.TimeFromUnixNano(at.UnixNano()) {
			t.Fatalf("%s has timestamp %v, want the scrape's", s.Metric, s.Timestamp)
		}
	}
}

func TestParseRejectsBrokenText(t *testing.T) {
	for _, in := range []string{
		"longhorn_workqueue_depth{name=\"x\" 1\n",
		"# TYPE a counter\na -x\n",
	} {
		if _, err := Parse(strings.NewReader(in), time.Now()); err == nil {
			t.Errorf("Parse(%q) accepted it", in)
		}
	}
}
