package report

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/scenario-runner/runner/result"
)

// writeReport writes r as report.json under dir/name and returns its path.
func writeReport(t *testing.T, dir, name string, r *Report) string {
	t.Helper()
	p := filepath.Join(dir, name, JSONFile)
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	var b bytes.Buffer
	if err := r.WriteJSON(&b); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, b.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestReadErrors(t *testing.T) {
	dir := t.TempDir()
	cases := map[string]string{
		"corrupt.json":   `{"schemaVersion": "runner.report/v2", "plans": [`,
		"old.json":       `{"schemaVersion": "runner.report/v1", "plans": []}`,
		"other.json":     `{"apiVersion": "v1", "kind": "ConfigMap"}`,
		"wrongtype.json": `{"schemaVersion": "runner.report/v2", "plans": {"a": 1}}`,
	}
	for name, body := range cases {
		p := filepath.Join(dir, name)
		_ = os.WriteFile(p, []byte(body), 0o644)
		_, err := Read(p, nil)
		if !errors.Is(err, ErrNotReport) || !strings.Contains(err.Error(), p) {
			t.Errorf("%s: %v", name, err)
		}
	}
}

func TestReadBackKeepsSections(t *testing.T) {
	dir := t.TempDir()
	p := writeReport(t, dir, "a", fixtureReport())
	r, err := Read(p, map[string]reflect.Type{"fakeProbe": reflect.TypeFor[*probeDetail](), "fakeCount": reflect.TypeFor[*countDetail]()})
	if err != nil {
		t.Fatal(err)
	}
	var html bytes.Buffer
	if err := r.WriteHTML(&html); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(html.String(), "samples of create-and-attach") {
		t.Error("the HTML of a report read back lost the probe's section")
	}
	if r.Plans[0].ID != "bi-scalability" {
		t.Errorf("id %q", r.Plans[0].ID)
	}
}

func shardReport(shard string, start time.Time, plans ...Plan) *Report {
	r := New(nil, Meta{Generated: start, Shard: shard, Labels: map[string]string{"longhorn": "v1.9.2", "shard": shard}})
	r.Plans = plans
	for _, p := range plans {
		r.Outcome = result.Worst(r.Outcome, p.Outcome)
	}
	r.Start, r.End = start, start.Add(time.Minute)
	return r
}

func TestMerge(t *testing.T) {
	dir := t.TempDir()
	a := writeReport(t, dir, "shard-1", shardReport("1/2", t0, Plan{ID: "a", Name: "a", Outcome: result.Passed, Start: t0, End: at(10), RunID: "r1"}))
	b := writeReport(t, dir, "shard-2", shardReport("2/2", at(5),
		Plan{ID: "b[n=1]", Name: "b", Outcome: result.Failed, Start: at(5), End: at(20), RunID: "r2"},
		Plan{ID: "b[n=2]", Name: "b", Outcome: result.Passed, Start: at(5), End: at(30), RunID: "r3"}))
	rerun := writeReport(t, dir, "rerun", shardReport("", at(100), Plan{ID: "b[n=1]", Name: "b", Outcome: result.Passed, Start: at(100), End: at(110), RunID: "r4"}))

	files, err := FindReports([]string{dir})
	if err != nil || len(files) != 3 {
		t.Fatalf("FindReports: %v %v", files, err)
	}
	read := func(paths ...string) []Input {
		var in []Input
		for _, p := range paths {
			r, err := Read(p, nil)
			if err != nil {
				t.Fatal(err)
			}
			in = append(in, Input{File: p, Report: r})
		}
		return in
	}
	m, err := Merge(read(a, b, a), MergeOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if got := m.IDs(); !reflect.DeepEqual(got, []string{"a", "b[n=1]", "b[n=2]"}) {
		t.Errorf("ids %q", got)
	}
	if m.Outcome != result.Failed || !m.Start.Equal(t0) || !m.End.Equal(at(30)) {
		t.Errorf("outcome %s, %s..%s", m.Outcome, m.Start, m.End)
	}
	if m.Plans[1].Source != b || len(m.Sources) != 3 || m.Sources[1].Shard != "2/2" || m.Sources[1].Cells != 2 || m.Sources[2].Cells != 0 {
		t.Errorf("sources %+v, plan source %s", m.Sources, m.Plans[1].Source)
	}
	if !reflect.DeepEqual(m.Meta, map[string]string{"longhorn": "v1.9.2"}) {
		t.Errorf("meta %v: want the keys every input agrees on", m.Meta)
	}
	// A cell run twice is an error naming both files, unless --latest.
	if _, err := Merge(read(a, b, rerun), MergeOptions{}); err == nil || !strings.Contains(err.Error(), b) || !strings.Contains(err.Error(), rerun) {
		t.Errorf("duplicate: %v", err)
	}
	for _, order := range [][]string{{a, b, rerun}, {rerun, a, b}} {
		m, err = Merge(read(order...), MergeOptions{Latest: true})
		if err != nil {
			t.Fatal(err)
		}
		if m.Outcome != result.Passed || len(m.Plans) != 3 {
			t.Errorf("--latest: outcome %s, %d plans", m.Outcome, len(m.Plans))
		}
	}
	// The merged report is a report: written and read back, it validates.
	var out bytes.Buffer
	if err := m.WriteJSON(&out); err != nil {
		t.Fatal(err)
	}
	if _, err := WriteDir(filepath.Join(dir, "merged"), m, nil); err != nil {
		t.Fatal(err)
	}
	if _, err := Read(filepath.Join(dir, "merged", JSONFile), nil); err != nil {
		t.Fatal(err)
	}
}

// TestOutputsAsJSON checks that a map with keys that are not strings (as
// expr's groupBy makes) shows as JSON in every report, never as map[...].
func TestOutputsAsJSON(t *testing.T) {
	res := fixture()
	res[1].Outputs = map[string]any{"byNode": map[any][]any{"node-3": {"qa-node-down-0"}}, "d": 1500 * time.Millisecond}
	r := New(res, Meta{Generated: t0})
	var js, html, junit bytes.Buffer
	if err := r.WriteJSON(&js); err != nil {
		t.Fatal(err)
	}
	_ = r.WriteHTML(&html)
	_ = r.WriteJUnit(&junit)
	for name, s := range map[string]string{"json": js.String(), "html": html.String()} {
		if strings.Contains(s, "map[") {
			t.Errorf("%s shows Go syntax", name)
		}
	}
	if !strings.Contains(js.String(), `"node-3": [`) || !strings.Contains(html.String(), `{&#34;node-3&#34;:[&#34;qa-node-down-0&#34;]}`) {
		t.Errorf("outputs not as JSON:\n%s", html.String())
	}
}
