package scenarios_test

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/scenario-runner/runner/cli"
	"github.com/scenario-runner/runner/localcluster/clustertest"
	"github.com/scenario-runner/runner/report/browsertest"
)

const metricsPlan = "examples/longhorn-metrics.yaml"

// probeMeasure is what the test reads of report.json: the timeProbe's
// measure record and assertions.
type probeMeasure struct {
	Plans []struct {
		Steps []struct {
			Name   string `json:"name"`
			Detail struct {
				Measure *struct {
					Reads    int `json:"reads"`
					Measured []struct {
						Name   string `json:"name"`
						Absent bool   `json:"absent"`
						Series []struct {
							Max     float64 `json:"max"`
							Samples []struct{ T, V float64 }
						} `json:"series"`
					} `json:"measured"`
				} `json:"measure"`
				MeasureAssertions []struct {
					Expr   string            `json:"expr"`
					Passed bool              `json:"passed"`
					Values map[string]string `json:"values"`
				} `json:"measureAssertions"`
			} `json:"detail"`
		} `json:"steps"`
	} `json:"plans"`
}

// TestMeasureLonghornManagers runs the metrics example on the simulator:
// the managers are scraped through the API server's pod proxy during a
// timeProbe, the samples land in report.json, the chart in report.html
// (read back in headless Chromium when it is installed), the absent metric
// is reported absent; with a limit the queue exceeds, the measure's
// assertion fails the plan with the values it read.
func TestMeasureLonghornManagers(t *testing.T) {
	kc := clustertest.Kubeconfig(t)
	dir := t.TempDir()
	var out, errOut bytes.Buffer
	if err := cli.Execute([]string{"--kubeconfig", kc, "--log-level", "warn", "--report-dir", dir, metricsPlan}, cli.Streams{Out: &out, Err: &errOut}); err != nil {
		t.Fatalf("runner %s: %v\nstdout:\n%s\nstderr:\n%s", metricsPlan, err, out.String(), errOut.String())
	}
	t.Logf("summary:\n%s", out.String())
	if !strings.Contains(out.String(), "measured ") || !strings.Contains(out.String(), "backups absent") {
		t.Errorf("the summary does not show the measure:\n%s", out.String())
	}

	var rep probeMeasure
	if err := json.Unmarshal([]byte(readFile(t, filepath.Join(dir, "report.json"))), &rep); err != nil {
		t.Fatal(err)
	}
	var found bool
	for _, s := range rep.Plans[0].Steps {
		m := s.Detail.Measure
		if m == nil {
			continue
		}
		found = true
		if m.Reads < 2 {
			t.Errorf("%d reads during the probe", m.Reads)
		}
		for _, q := range m.Measured {
			switch q.Name {
			case "backups":
				if !q.Absent || len(q.Series) != 0 {
					t.Errorf("backups: absent %v, %d series; want absent", q.Absent, len(q.Series))
				}
			case "replicaQueue", "volumeQueue", "attachedVolumes":
				if q.Absent || len(q.Series) != 1 || len(q.Series[0].Samples) < 2 {
					t.Errorf("%s: absent %v, %d series", q.Name, q.Absent, len(q.Series))
				}
			}
		}
		for _, a := range s.Detail.MeasureAssertions {
			if !a.Passed {
				t.Errorf("assertion %s failed: %v", a.Expr, a.Values)
			}
		}
	}
	if !found {
		t.Fatal("report.json has no measure")
	}

	if max, absent := probeMeasured(t, dir, "create-and-attach", "attachedVolumes"); absent || max != 1 {
		t.Errorf("attachedVolumes: max %v, absent %v; want 1", max, absent)
	}
	if _, absent := probeMeasured(t, dir, "create-and-attach", "backups"); !absent {
		t.Error("backups: want absent")
	}

	html := readFile(t, filepath.Join(dir, "report.html"))
	for _, want := range []string{"measured replicaQueue", `<polyline class="series s0"`, "absent: no series matched", "sum(longhorn_workqueue_depth{name=&#34;longhorn-replica&#34;})"} {
		if !strings.Contains(html, want) {
			t.Errorf("report.html lacks %q", want)
		}
	}

	t.Run("chromium", func(t *testing.T) {
		bin := browsertest.Chromium(t)
		dom, _ := browsertest.Headless(t, bin, filepath.Join(dir, "report.html"), "--dump-dom")
		if n := strings.Count(dom, `<polyline class="series `); n < 4 {
			t.Errorf("the rendered report has %d measured lines, want one per present query (4)", n)
		}
		if !strings.Contains(dom, "measured backups") || !strings.Contains(dom, "absent: no series matched") {
			t.Error("the rendered report does not say backups are absent")
		}
		shot := filepath.Join(dir, "measure.png")
		browsertest.Headless(t, bin, filepath.Join(dir, "report.html"), "--hide-scrollbars", "--window-size=1280,2400", "--screenshot="+shot)
		if fi, err := os.Stat(shot); err != nil || fi.Size() < 10000 {
			t.Errorf("screenshot: %v", err)
		}
	})

	t.Run("assertion fails with the values it read", func(t *testing.T) {
		var out, errOut bytes.Buffer
		err := cli.Execute([]string{"--kubeconfig", kc, "--log-level", "warn", "--set", "maxReplicaQueue=-1", metricsPlan}, cli.Streams{Out: &out, Err: &errOut})
		if err == nil {
			t.Fatalf("the plan passed with maxReplicaQueue=-1:\n%s", out.String())
		}
		want := "measure: assertion failed: replicaQueue.max < maxReplicaQueue: replicaQueue = {min 0, max 0, mean 0, first 0, last 0; 1 series, "
		if !strings.Contains(out.String(), want) {
			t.Errorf("the summary lacks %q:\n%s", want, out.String())
		}
	})
}
