package cli

import (
	"bytes"
	"context"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	junit "github.com/joshdk/go-junit"
	"github.com/rs/zerolog"
	"github.com/santhosh-tekuri/jsonschema/v6"

	"github.com/scenario-runner/runner/engine"
	"github.com/scenario-runner/runner/localcluster/clustertest"
	"github.com/scenario-runner/runner/report"
	"github.com/scenario-runner/runner/report/browsertest"
	"github.com/scenario-runner/runner/result"
)

// TestWorstOfSeveralPlans: the exit code of an invocation is the worst
// outcome of its plans, and the summary lists each plan then the totals.
func TestWorstOfSeveralPlans(t *testing.T) {
	res := func(name string, o result.Outcome) *result.Plan {
		return &result.Plan{Name: name, File: name + ".yaml", Outcome: o}
	}
	for _, tc := range []struct {
		name    string
		results []*result.Plan
		want    error
	}{
		{"all passed", []*result.Plan{res("a", result.Passed), res("b", result.Passed)}, nil},
		{"one failed", []*result.Plan{res("a", result.Failed), res("b", result.Passed)}, ErrFailed},
		{"one timed out", []*result.Plan{res("a", result.Passed), res("b", result.TimedOut)}, ErrFailed},
		{"interrupted beats failed", []*result.Plan{res("a", result.Failed), res("b", result.Interrupted)}, ErrInterrupted},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := worst(context.Background(), tc.results)
			if !errors.Is(err, tc.want) || (tc.want == nil) != (err == nil) {
				t.Errorf("worst = %v, want %v", err, tc.want)
			}
			var out bytes.Buffer
			for _, r := range tc.results {
				printResult(&out, r)
			}
			printTotals(&out, tc.results)
			lines := strings.Split(strings.TrimSpace(out.String()), "\n")
			if len(lines) != len(tc.results)+1 || !strings.Contains(lines[0], " a (") || !strings.Contains(lines[1], " b (") ||
				!strings.HasPrefix(lines[2], "2 plan(s): ") {
				t.Errorf("summary:\n%s", out.String())
			}
		})
	}
}

// TestLiveProgressConcurrent calls the observers from many goroutines, as
// a parallel apply does, while they redraw; run with -race.
func TestLiveProgressConcurrent(t *testing.T) {
	var out safeBuffer
	live := newLiveProgress(&out, time.Now, 100)
	live.Start()
	logged := newLogObserver(liveLogger(zerolog.New(io.Discard), live), false)
	logged.Start()
	for _, o := range []engine.Observer{live, logged} {
		s := &result.Step{Name: "apply", Start: time.Now()}
		o.StepStarted(s)
		var wg sync.WaitGroup
		for g := range 8 {
			wg.Go(func() {
				for i := range 200 {
					o.StepProgress(s, result.Progress{Done: g*200 + i, Total: 1600, Unit: "applied"})
				}
			})
		}
		wg.Wait()
		s.End, s.Outcome = time.Now(), result.Passed
		o.StepFinished(s)
	}
	live.Stop()
	logged.Stop()
	if !strings.Contains(out.String(), "✓ apply") {
		t.Errorf("no final line in %q", out.String())
	}
}

// TestReportDirLive runs two plans in one invocation on the local cluster,
// the first failing and the second passing, with --report-dir: exit 1, the
// summary lists both in order, and the three reports hold both plans —
// report.json valid against its schema, junit.xml read back by go-junit.
func TestReportDirLive(t *testing.T) {
	kc := clustertest.Kubeconfig(t)
	failing := writePlan(t, `
name: report-failing
steps:
  - name: create two config maps
    apply:
      forEach: 1..2
      as: i
      manifest: |
        apiVersion: v1
        kind: ConfigMap
        metadata: {name: "rep-${{ i }}", labels: {suite: rep}}
        data: {state: "${{ i == 1 ? 'done' : 'pending' }}"}
  - name: both are done
    timeout: 1s
    waitFor:
      apiVersion: v1
      kind: ConfigMap
      labelSelector: suite=rep
      condition: object.data?.state == "done"
  - name: never runs
    sleep: 1s
`)
	passing := filepath.Join(t.TempDir(), "passing.yaml")
	if err := os.WriteFile(passing, []byte(`
name: report-passing
vars: {budget: 30s}
steps:
  - timeProbe:
      name: create-configmap
      repeat: 2
      steps:
        - apply:
            manifest: |
              apiVersion: v1
              kind: ConfigMap
              metadata: {name: rep-probe, labels: {suite: rep-probe}}
        - delete: {apiVersion: v1, kind: ConfigMap, name: rep-probe}
      assert:
        - p90 < duration(budget)
`), 0o644); err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(t.TempDir(), "report")
	code, stdout, stderr := runBinary(t, context.Background(), "--kubeconfig", kc, "--report-dir", dir, failing, passing)
	if code != 1 {
		t.Fatalf("want exit 1, got %d\n%s\n%s", code, stdout, stderr)
	}
	i, j := strings.Index(stdout, "TIMEOUT report-failing"), strings.Index(stdout, "OK report-passing")
	if i < 0 || j < i || !strings.Contains(stdout, "2 plan(s): 1 passed, 1 failed") {
		t.Errorf("summary does not list both plans in order:\n%s", stdout)
	}
	for _, f := range []string{report.JSONFile, report.JUnitFile, report.HTMLFile} {
		if !strings.Contains(stderr, "report: "+filepath.Join(dir, f)) {
			t.Errorf("stderr does not name %s:\n%s", f, stderr)
		}
	}

	// report.json: valid, both plans, in order.
	data, err := os.ReadFile(filepath.Join(dir, report.JSONFile))
	if err != nil {
		t.Fatal(err)
	}
	c := jsonschema.NewCompiler()
	c.AssertFormat()
	sch, err := c.Compile("../schemas/report.schema.json")
	if err != nil {
		t.Fatal(err)
	}
	inst, err := jsonschema.UnmarshalJSON(bytes.NewReader(data))
	if err != nil {
		t.Fatal(err)
	}
	if err := sch.Validate(inst); err != nil {
		t.Fatalf("report.json does not validate: %v", err)
	}
	doc := inst.(map[string]any)
	plans := doc["plans"].([]any)
	if len(plans) != 2 || plans[0].(map[string]any)["name"] != "report-failing" || doc["outcome"] != "timed-out" {
		t.Errorf("report.json: outcome %v, plans %v", doc["outcome"], plans)
	}

	// junit.xml: two suites; the failure's message is the console's.
	suites, err := junit.IngestFile(filepath.Join(dir, report.JUnitFile))
	if err != nil {
		t.Fatal(err)
	}
	if len(suites) != 2 || suites[0].Name != "report-failing" || suites[1].Name != "report-passing" {
		t.Fatalf("suites %+v", suites)
	}
	s := suites[0]
	if s.Totals.Failed != 1 || s.Totals.Skipped != 1 || s.Tests[1].Status != junit.StatusFailed {
		t.Errorf("first suite totals %+v, cases %+v", s.Totals, s.Tests)
	}
	if msg := s.Tests[1].Message; msg == "" || !strings.Contains(stdout, strings.Split(msg, "\n")[0]) {
		t.Errorf("failure message %q is not what the console shows:\n%s", msg, stdout)
	}
	if s.Tests[1].Duration < 900*time.Millisecond {
		t.Errorf("the 1s wait took %s in junit.xml", s.Tests[1].Duration)
	}
	p := suites[1]
	// timeProbe + 2 runs × 2 nested steps + cleanup
	if len(p.Tests) != 6 || p.Totals.Failed != 0 || p.Properties["probe.create-configmap.runs"] != "2" {
		t.Errorf("second suite: %d cases, totals %+v, properties %v", len(p.Tests), p.Totals, p.Properties)
	}
	if xmllint, err := exec.LookPath("xmllint"); err == nil {
		if out, err := exec.Command(xmllint, "--noout", filepath.Join(dir, report.JUnitFile)).CombinedOutput(); err != nil {
			t.Errorf("xmllint: %v\n%s", err, out)
		}
	}

	html, err := os.ReadFile(filepath.Join(dir, report.HTMLFile))
	if err != nil {
		t.Fatal(err)
	}
	// bars: 2 steps that ran in the first plan; the probe and 4 nested in the second
	if n := strings.Count(string(html), `<rect class="bar"`); n != 7 {
		t.Errorf("report.html has %d step bars, want 7", n)
	}

	// Diagnostics of the failed wait, gathered before cleanup deleted the
	// config maps: in files, in report.json, and under the failure in the
	// page as Chromium renders it.
	diags, _ := plans[0].(map[string]any)["diagnostics"].([]any)
	files := map[string]string{}
	for _, d := range diags {
		m := d.(map[string]any)
		if f, ok := m["file"].(string); ok {
			body, err := os.ReadFile(filepath.Join(dir, f))
			if err != nil {
				t.Fatal(err)
			}
			files[m["what"].(string)] = string(body)
		}
	}
	if cm := files["ConfigMap in default with labels suite=rep"]; !strings.Contains(cm, "name: rep-2") || !strings.Contains(cm, "state: pending") {
		t.Errorf("the failed step's objects were not collected: %v", files)
	}
	if _, ok := files["events in default"]; !ok {
		t.Errorf("no events collected: %v", diags)
	}
	dom, _ := browsertest.Headless(t, browsertest.Chromium(t), filepath.Join(dir, report.HTMLFile), "--dump-dom")
	for _, want := range []string{"ConfigMap in default with labels suite=rep", "diagnostics/report-failing/", "state: pending"} {
		if !strings.Contains(dom, want) {
			t.Errorf("report.html as rendered lacks %q", want)
		}
	}
}

type safeBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *safeBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *safeBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}
