package bench

import (
	"encoding/json"
	"strings"
	"testing"
)

func TestBalance(t *testing.T) {
	cells, tm := SkewedSuite(SuiteBalancePlans, SuiteBalanceSeedOffset)
	for _, b := range Balance(cells, tm, []int{2, 3, 4, 8}) {
		if b.LongestFirst > GoalSuiteBalance || b.Contiguous <= b.LongestFirst {
			t.Errorf("%d shards: longest first %.2f, contiguous %.2f", b.Shards, b.LongestFirst, b.Contiguous)
		}
	}
}

func TestSplitReport(t *testing.T) {
	r, err := SplitReport([]byte(`{"schemaVersion": "runner.report/v2", "outcome": "passed", "plans": [{"id": "a"}, {"id": "b", "steps": []}]}`))
	if err != nil {
		t.Fatal(err)
	}
	if len(r.Plans) != 2 || !strings.HasSuffix(r.Head, ",") {
		t.Fatalf("%+v", r)
	}
	var doc map[string]any
	if err := json.Unmarshal([]byte(r.Head+`"plans": [`+r.Plans[1]+"]}"), &doc); err != nil {
		t.Fatal(err)
	}
	if doc["schemaVersion"] != "runner.report/v2" || len(doc["plans"].([]any)) != 1 {
		t.Errorf("%v", doc)
	}
}

func TestSuitesMarkdown(t *testing.T) {
	r := &Results{PlanSuite: &SuitesBench{Plans: 200, Parallel: 8, ListFiles: 1000, ListSeconds: 0.4, MergeReports: 500, MergeSeconds: 0.9,
		Runs:    []SuiteRun{{Parallel: 1, WallSeconds: 100, OwnMSPerPlan: 6}, {Parallel: 8, WallSeconds: 18, OwnMSPerPlan: 7}},
		Balance: []BalanceShard{{Shards: 4, LongestFirst: 1, Contiguous: 2.7}}}}
	md := Markdown(r, "x.json")
	for _, want := range []string{"### Suites: many plans", "| --parallel 8 | 18.0 |", "5.56× (100.0 s → 18.0 s) | **met**", "| 4 | 1.00× | 2.70× |"} {
		if !strings.Contains(md, want) {
			t.Errorf("markdown lacks %q:\n%s", want, md)
		}
	}
}
