package cli

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// reportJSON is a minimal report.json of one cell with a step whose detail
// carries samples, as a timeProbe's does.
func reportJSON(start, version, outcome string, wait float64, samples ...float64) string {
	stats := fmt.Sprintf(`{"p50": %g, "p90": %g, "max": %g}`, samples[2], samples[4], samples[4])
	s := fmt.Sprintf("%g", samples[0])
	for _, x := range samples[1:] {
		s += fmt.Sprintf(", %g", x)
	}
	return fmt.Sprintf(`{"schemaVersion": "runner.report/v2", "start": %q, "outcome": %q, "cluster": {"version": %q}, "meta": {"longhorn": %q},
  "plans": [
    {"id": "bi[replicas=5]", "name": "bi", "outcome": %q, "durationSeconds": 30, "start": %q, "steps": [
      {"name": "claims bound", "kind": "waitFor", "outcome": "passed", "start": %q, "end": %q, "durationSeconds": %g},
      {"name": "attach", "kind": "timeProbe", "outcome": "passed", "start": %q, "end": %q, "durationSeconds": 3,
       "detail": {"name": "attach", "runs": 5, "samplesSeconds": [%s], "statsSeconds": %s, "assertions": []}}]},
    {"id": "smoke", "name": "smoke", "outcome": "passed", "durationSeconds": 1, "start": %q, "steps": []}]}`,
		start, outcome, version, version, outcome, start, start, start, wait, start, start, s, stats, start)
}

func TestReportCommands(t *testing.T) {
	dir := t.TempDir()
	write := func(name, body string) string {
		p := filepath.Join(dir, name)
		_ = os.MkdirAll(filepath.Dir(p), 0o755)
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	base := write("base/report.json", reportJSON("2026-12-05T03:17:00Z", "v1.9.1", "passed", 10, 0.5, 0.52, 0.55, 0.6, 0.62))
	same := write("same/report.json", reportJSON("2026-12-06T03:17:00Z", "v1.9.2", "passed", 10.02, 0.51, 0.53, 0.54, 0.58, 0.63))
	slow := write("slow/report.json", reportJSON("2026-12-07T03:17:00Z", "v1.9.2", "passed", 14, 1.5, 1.6, 1.7, 1.8, 12))
	failing := write("failing/report.json", reportJSON("2026-12-08T03:17:00Z", "v1.9.2", "failed", 10, 0.5, 0.52, 0.55, 0.6, 0.62))
	old := write("old/report.json", `{"schemaVersion": "runner.report/v1", "plans": []}`)

	if out, _, err := run(t, "report", "compare", base, same); err != nil {
		t.Errorf("same: %v\n%s", err, out)
	}
	out, _, err := run(t, "report", "compare", base, slow, "-o", "markdown", "--report-dir", filepath.Join(dir, "cmp"))
	if !errors.Is(err, ErrFailed) {
		t.Errorf("slow: want exit 1, got %v", err)
	}
	golden(t, "testdata/compare-slow.golden", strings.ReplaceAll(out, dir, "DIR"))
	for _, f := range []string{"compare.html", "compare.json", "compare.md"} {
		if _, err := os.Stat(filepath.Join(dir, "cmp", f)); err != nil {
			t.Error(err)
		}
	}
	if _, _, err := run(t, "report", "compare", base, slow, "--max-slowdown", "3000%"); err != nil {
		t.Errorf("--max-slowdown 3000%%: %v", err)
	}
	if out, _, err := run(t, "report", "compare", base, failing, "-o", "json"); !errors.Is(err, ErrFailed) || !strings.Contains(out, `"newlyFailing": 1`) {
		t.Errorf("failing: %v\n%s", err, out)
	}
	for _, args := range [][]string{
		{"report", "compare", base, old},
		{"report", "compare", base, slow, "-o", "yaml"},
		{"report", "compare", base, slow, "--max-slowdown", "much"},
		{"report", "merge", base, old, "--report-dir", filepath.Join(dir, "m")},
		{"report", "merge", base, same, "--report-dir", filepath.Join(dir, "m")}, // the same cells twice
		{"report", "merge", base},
	} {
		_, _, err := run(t, args...)
		if !errors.Is(err, ErrUsage) {
			t.Errorf("%q: want a usage error, got %v", args[1:], err)
		}
	}
	if _, _, err := run(t, "report", "merge", base, same, "--latest", "--report-dir", filepath.Join(dir, "m")); err != nil {
		t.Errorf("merge --latest: %v", err)
	}
	if _, _, err := run(t, "report", "trend", base, same, slow, failing, "-o", filepath.Join(dir, "trend.html")); err != nil {
		t.Fatal(err)
	}
	html, _ := os.ReadFile(filepath.Join(dir, "trend.html"))
	for _, want := range []string{"2026-12-05 03:17 v1.9.1 longhorn=v1.9.1", "bi[replicas=5]", "attach", "<polyline"} {
		if !strings.Contains(string(html), want) {
			t.Errorf("trend.html lacks %q", want)
		}
	}
}
