package report

import (
	"bytes"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	junit "github.com/joshdk/go-junit"
	"github.com/santhosh-tekuri/jsonschema/v6"
)

const schemaPath = "../schemas/report.schema.json"

// compileSchema compiles the schema on disk, with formats (date-time)
// asserted.
func compileSchema(t *testing.T) *jsonschema.Schema {
	t.Helper()
	f, err := os.Open(schemaPath)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	doc, err := jsonschema.UnmarshalJSON(f)
	if err != nil {
		t.Fatal(err)
	}
	c := jsonschema.NewCompiler()
	c.AssertFormat()
	if err := c.AddResource(SchemaID, doc); err != nil {
		t.Fatal(err)
	}
	s, err := c.Compile(SchemaID)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestJSONValidatesAgainstSchema(t *testing.T) {
	var b bytes.Buffer
	if err := fixtureReport().WriteJSON(&b); err != nil {
		t.Fatal(err)
	}
	inst, err := jsonschema.UnmarshalJSON(bytes.NewReader(b.Bytes()))
	if err != nil {
		t.Fatal(err)
	}
	if err := compileSchema(t).Validate(inst); err != nil {
		t.Fatalf("report.json does not validate:\n%v\n%s", err, b.String())
	}

	// The schema rejects what it does not describe.
	var doc map[string]any
	if err := json.Unmarshal(b.Bytes(), &doc); err != nil {
		t.Fatal(err)
	}
	doc["plans"].([]any)[0].(map[string]any)["surprise"] = 1
	if err := compileSchema(t).Validate(doc); err == nil {
		t.Error("a plan with an unknown field validates")
	}
}

func TestJSONContent(t *testing.T) {
	var b bytes.Buffer
	if err := fixtureReport().WriteJSON(&b); err != nil {
		t.Fatal(err)
	}
	var r Report
	if err := json.Unmarshal(b.Bytes(), &r); err != nil {
		t.Fatal(err)
	}
	if r.SchemaVersion != SchemaVersion || r.Outcome != "timed-out" || len(r.Plans) != 2 {
		t.Fatalf("schemaVersion %q, outcome %q, %d plans", r.SchemaVersion, r.Outcome, len(r.Plans))
	}
	if r.Runner.Version != "v0.1.0-test" || r.Cluster.Version != "v1.33.1" || r.Cluster.Host == "" {
		t.Errorf("runner %+v cluster %+v", r.Runner, r.Cluster)
	}
	if r.DurationSeconds != 22.7 {
		t.Errorf("duration %v, want 22.7", r.DurationSeconds)
	}
	p := r.Plans[0]
	if p.Vars["replicas"] != 3.0 || p.Vars["attachBudget"] != "60s" {
		t.Errorf("vars %v", p.Vars)
	}
	if len(p.Steps) != 5 || p.Steps[4].Start != nil || p.Steps[4].Outcome != "skipped" {
		t.Fatalf("steps %+v", p.Steps)
	}
	if w := p.Steps[1]; w.Summary != "250/250 satisfied" || len(w.Progress) != 5 || w.Progress[3].Done != 242 {
		t.Errorf("wait %+v progress %+v", w.Summary, w.Progress)
	}
	if p.Steps[4].Skip != "an earlier step failed" {
		t.Errorf("skip reason %q", p.Steps[4].Skip)
	}
	if !strings.HasPrefix(p.Steps[3].Error, "step timeout of 2s reached") || p.Steps[3].DurationSeconds != 2 {
		t.Errorf("failed step %+v", p.Steps[3])
	}
	if c := p.Cleanup; c == nil || !c.Ran || len(c.Deleted) != 1 || len(c.Left) != 1 || len(c.Errors) != 1 {
		t.Errorf("cleanup %+v", c)
	}
}

func TestJUnitReadBack(t *testing.T) {
	var b bytes.Buffer
	if err := fixtureReport().WriteJUnit(&b); err != nil {
		t.Fatal(err)
	}
	suites, err := junit.Ingest(b.Bytes())
	if err != nil {
		t.Fatal(err)
	}
	if len(suites) != 2 {
		t.Fatalf("%d suites, want 2:\n%s", len(suites), b.String())
	}
	res := fixture()
	s := suites[0]
	if s.Name != "bi-scalability" {
		t.Errorf("suite name %q", s.Name)
	}
	type tc struct {
		name   string
		status junit.Status
		secs   float64
	}
	want := []tc{
		{"create config maps", junit.StatusPassed, 2},
		{"every config map is done", junit.StatusPassed, 12.5},
		{"timeProbe create-and-attach", junit.StatusPassed, 3.6},
		{"timeProbe create-and-attach / apply Volume bi-scalability-probe", junit.StatusPassed, 0.1},
		{"timeProbe create-and-attach / the volume is attached", junit.StatusPassed, 3.5},
		{"every pod is Running", junit.StatusFailed, 2},
		{"timeProbe delete-volume", junit.StatusSkipped, 0},
		{"cleanup", junit.StatusFailed, 1.3},
	}
	if len(s.Tests) != len(want) {
		t.Fatalf("%d cases, want %d:\n%s", len(s.Tests), len(want), b.String())
	}
	for i, w := range want {
		got := s.Tests[i]
		if got.Name != w.name || got.Status != w.status || got.Classname != "bi-scalability" {
			t.Errorf("case %d: %q %s (class %q), want %q %s", i, got.Name, got.Status, got.Classname, w.name, w.status)
		}
		if d := got.Duration - time.Duration(w.secs*float64(time.Second)); d > time.Millisecond || d < -time.Millisecond {
			t.Errorf("case %q: time %s, want %vs", w.name, got.Duration, w.secs)
		}
	}
	// The failure's message is the step's error, as the console shows it.
	fail := s.Tests[5]
	if fail.Message != res[0].Steps[3].Error || fail.Error == nil || !strings.Contains(fail.Error.Error(), "not satisfied: pod/web-1") {
		t.Errorf("failure message %q, want %q", fail.Message, res[0].Steps[3].Error)
	}
	if s.Totals.Tests != 8 || s.Totals.Failed != 2 || s.Totals.Skipped != 1 || s.Totals.Passed != 5 {
		t.Errorf("totals %+v", s.Totals)
	}
	for k, v := range map[string]string{
		"probe.create-and-attach.p90": "3.6s", "probe.create-and-attach.runs": "1",
		"var.replicas": "3", "var.attachBudget": "60s", "var.labels": `{"app":"web"}`,
		"cluster.version": "v1.33.1", "runner.version": "v0.1.0-test",
	} {
		if s.Properties[k] != v {
			t.Errorf("property %s = %q, want %q", k, s.Properties[k], v)
		}
	}
	if suites[1].Name != "smoke" || len(suites[1].Tests) != 2 || suites[1].Totals.Failed != 0 {
		t.Errorf("second suite %+v", suites[1])
	}
}

// TestJUnitXMLLint checks junit.xml is well-formed XML with libxml2's own
// parser. CI installs xmllint (.ci/run); elsewhere the check is skipped.
func TestJUnitXMLLint(t *testing.T) {
	xmllint, err := exec.LookPath("xmllint")
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatal("xmllint not found (CI installs Debian's libxml2-utils)")
		}
		t.Skip("xmllint not found: install libxml2-utils to run this check")
	}
	f := filepath.Join(t.TempDir(), "junit.xml")
	var b bytes.Buffer
	if err := fixtureReport().WriteJUnit(&b); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(f, b.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command(xmllint, "--noout", f).CombinedOutput(); err != nil {
		t.Fatalf("xmllint: %v\n%s", err, out)
	}
}

var barRE = regexp.MustCompile(`<rect class="bar"`)

func TestHTMLSelfContained(t *testing.T) {
	var b bytes.Buffer
	if err := fixtureReport().WriteHTML(&b); err != nil {
		t.Fatal(err)
	}
	html := b.String()
	// Nothing that would make the browser fetch or run anything.
	for _, bad := range []string{"<script", "<link", "<img", "<iframe", "@import", "url(", "src=", "https://cdn", "//fonts."} {
		if strings.Contains(html, bad) {
			t.Errorf("report.html contains %q", bad)
		}
	}
	for _, u := range regexp.MustCompile(`https?://[^\s"<]+`).FindAllString(html, -1) {
		if u != "http://www.w3.org/2000/svg" && u != "https://127.0.0.1:6443" {
			t.Errorf("report.html mentions %s", u)
		}
	}
	// One bar per step that ran: 4 + 2 nested of the first plan, 1 of the second.
	if n := len(barRE.FindAllString(html, -1)); n != 7 {
		t.Errorf("%d step bars, want 7", n)
	}
	for _, want := range []string{
		`data-outcome="timed-out"`,        // the failed bar is marked
		"step timeout of 2s reached",      // the failure's message
		"duration &lt; 1m (attachBudget)", // the budget line's label
		`class="budget"`,
		"242/250", // a progress tooltip
		"<th>replicas</th><td><code>3</code>",
		"v1.33.1", "cleanup error: deleting ConfigMap/default/cm-2: forbidden",
		// A measured metric: a line per series, an absent one says so.
		`<h5>measured replicaQueue</h5>`, `<polyline class="series s0" points=`, `<polyline class="series s1" points=`,
		`— pod=longhorn-manager-a`, `absent: no series matched`,
	} {
		if !strings.Contains(html, want) {
			t.Errorf("report.html lacks %q", want)
		}
	}
}

func TestAxis(t *testing.T) {
	for _, tc := range []struct {
		raw, want float64
	}{{0.03, 0.05}, {0.7, 1}, {3, 5}, {10, 10}, {11, 15}, {40, 60}, {200, 300}, {5000, 7200}} {
		if got := niceTime(tc.raw); got != tc.want {
			t.Errorf("niceTime(%v) = %v, want %v", tc.raw, got, tc.want)
		}
	}
	for s, want := range map[float64]string{0: "0", 0.25: "250ms", 1.5: "1.5s", 45: "45s", 60: "1m", 150: "2m30s", 3600: "1h", 5400: "1h30m"} {
		if got := axisTime(s); got != want {
			t.Errorf("axisTime(%v) = %q, want %q", s, got, want)
		}
	}
}

func TestWriteDir(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "out")
	paths, err := WriteDir(dir, fixtureReport(), nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(paths) != 3 {
		t.Fatalf("paths %v", paths)
	}
	for _, p := range paths {
		if fi, err := os.Stat(p); err != nil || fi.Size() == 0 {
			t.Errorf("%s: %v", p, err)
		}
	}
}
