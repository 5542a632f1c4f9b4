package metrics

import (
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/common/model"
)

func mustParse(t *testing.T, text string, at time.Time) model.Vector {
	t.Helper()
	v, err := Parse(strings.NewReader(text), at)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// vectorText writes a vector as sorted "labels value" lines.
func vectorText(v model.Vector) string {
	var lines []string
	for _, s := range v {
		lines = append(lines, s.Metric.String()+" "+FormatValue(float64(s.Value)))
	}
	slices.Sort(lines)
	return strings.Join(lines, "\n")
}

func TestQueryEvalOneScrape(t *testing.T) {
	raw, err := os.ReadFile("testdata/longhorn-manager-node-1.txt")
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	var h History
	h.Add(now, mustParse(t, string(raw), now), 0)
	tests := []struct {
		query, want string
	}{
		{`longhorn_workqueue_depth{name="longhorn-replica"}`, `longhorn_workqueue_depth{name="longhorn-replica"} 37`},
		{`longhorn_workqueue_depth{name=~"longhorn-(volume|engine)"}`,
			"longhorn_workqueue_depth{name=\"longhorn-engine\"} 0\nlonghorn_workqueue_depth{name=\"longhorn-volume\"} 2"},
		{`sum(longhorn_workqueue_depth)`, `{} 39`},
		{`max(longhorn_workqueue_depth{name!="longhorn-replica"})`, `{} 2`},
		{`count(longhorn_volume_state == 2)`, ``}, // not local: checked below
		{`sum by (node) (longhorn_volume_capacity_bytes)`, `{node="node-1"} 5.369e+08`},
		{`avg without (pvc, pvc_namespace, volume) (longhorn_volume_robustness)`, `{node="node-1"} 1.5`},
		{`count(longhorn_node_status{condition="ready"})`, `{} 1`},
		{`(longhorn_node_count_total)`, `longhorn_node_count_total 3`},
		{`longhorn_workqueue_queue_duration_seconds_bucket{name="longhorn-replica",le="+Inf"}`,
			`longhorn_workqueue_queue_duration_seconds_bucket{le="+Inf", name="longhorn-replica"} 1873`},
		// Absent: nothing matches, the vector is empty (never a zero).
		{`longhorn_engine_state`, ``},
		{`sum(longhorn_replica_state)`, ``},
		// A rate needs two scrapes within its range.
		{`rate(longhorn_workqueue_retries_total[1m])`, ``},
	}
	for _, tt := range tests {
		q, err := Compile(tt.query)
		if err != nil {
			t.Fatalf("%s: %v", tt.query, err)
		}
		if q.Local() != nil {
			if tt.want != "" {
				t.Errorf("%s: not local: %v", tt.query, q.Local())
			}
			continue
		}
		v, err := q.Eval(&h)
		if err != nil {
			t.Fatalf("%s: %v", tt.query, err)
		}
		if got := vectorText(v); got != tt.want {
			t.Errorf("%s:\n got %s\nwant %s", tt.query, got, tt.want)
		}
	}
}

func TestQueryRangeFunctions(t *testing.T) {
	t0 := time.Now()
	var h History
	// retries of the replica queue at 0, 10, 20 and 30 s: 100, 160, 40
	// (the manager restarted: a counter reset), 100.
	for i, v := range []string{"100", "160", "40", "100"} {
		at := t0.Add(time.Duration(i) * 10 * time.Second)
		text := "longhorn_workqueue_retries_total{name=\"longhorn-replica\"} " + v + "\nlonghorn_workqueue_retries_total{name=\"longhorn-volume\"} 5\n"
		h.Add(at, mustParse(t, text, at), time.Minute)
	}
	tests := []struct{ query, want string }{
		// increase: 60 + 40 (after the reset) + 60 = 160 over 30 s.
		{`increase(longhorn_workqueue_retries_total{name="longhorn-replica"}[1m])`, `{name="longhorn-replica"} 160`},
		{`rate(longhorn_workqueue_retries_total{name="longhorn-replica"}[1m])`, `{name="longhorn-replica"} 5.333`},
		// Only the scrapes inside the range: 20 s and 30 s.
		{`rate(longhorn_workqueue_retries_total{name="longhorn-replica"}[15s])`, `{name="longhorn-replica"} 6`},
		{`irate(longhorn_workqueue_retries_total{name="longhorn-replica"}[1m])`, `{name="longhorn-replica"} 6`},
		{`sum(rate(longhorn_workqueue_retries_total[1m]))`, `{} 5.333`},
		// A range holding one scrape gives nothing.
		{`rate(longhorn_workqueue_retries_total[5s])`, ``},
	}
	for _, tt := range tests {
		q, err := Compile(tt.query)
		if err != nil {
			t.Fatalf("%s: %v", tt.query, err)
		}
		v, err := q.Eval(&h)
		if err != nil {
			t.Fatalf("%s: %v", tt.query, err)
		}
		if got := vectorText(v); got != tt.want {
			t.Errorf("%s:\n got %s\nwant %s", tt.query, got, tt.want)
		}
	}
}

func TestHistoryKeepsTheRange(t *testing.T) {
	t0 := time.Now()
	var h History
	for i := range 10 {
		h.Add(t0.Add(time.Duration(i)*time.Second), nil, 3*time.Second)
	}
	if len(h.reads) != 4 {
		t.Fatalf("kept %d reads, want 4 (the newest and 3 s before it)", len(h.reads))
	}
	h.Add(t0.Add(time.Hour), nil, 0)
	if len(h.reads) != 1 {
		t.Fatalf("kept %d reads with no range, want 1", len(h.reads))
	}
}

func TestCompileErrors(t *testing.T) {
	tests := []struct {
		query   string
		syntax  string // a syntax error containing this
		noLocal string // parses, but the pods source cannot evaluate it
	}{
		{query: `longhorn_workqueue_depth{name="x"`, syntax: "unexpected end of input"},
		{query: `max(`, syntax: "parse error"},
		{query: `longhorn_workqueue_depth offset 5m`, noLocal: "offset"},
		{query: `topk(3, longhorn_workqueue_depth)`, noLocal: "aggregation topk"},
		{query: `histogram_quantile(0.9, longhorn_workqueue_queue_duration_seconds_bucket)`, noLocal: "function histogram_quantile"},
		{query: `longhorn_workqueue_depth / 2`, noLocal: "use a prometheus source"},
		{query: `rate(longhorn_workqueue_retries_total[5m:1m])`, noLocal: "subquery"},
	}
	for _, tt := range tests {
		q, err := Compile(tt.query)
		if tt.syntax != "" {
			if err == nil || !strings.Contains(err.Error(), tt.syntax) {
				t.Errorf("%s: error %v, want one containing %q", tt.query, err, tt.syntax)
			}
			continue
		}
		if err != nil {
			t.Fatalf("%s: %v", tt.query, err)
		}
		if err := q.Local(); err == nil || !strings.Contains(err.Error(), tt.noLocal) {
			t.Errorf("%s: Local() = %v, want one containing %q", tt.query, err, tt.noLocal)
		}
	}
}
