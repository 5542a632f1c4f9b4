package bench

import (
	"reflect"
	"strings"
	"testing"
	"time"

	"sigs.k8s.io/yaml"

	"github.com/scenario-runner/runner/engine"
	"github.com/scenario-runner/runner/engine/diag"
	"github.com/scenario-runner/runner/engine/eval"
	"github.com/scenario-runner/runner/engine/manifest"
	"github.com/scenario-runner/runner/steps"
)

// The plans given to runner load without a problem.
func TestRunnerPlansLoad(t *testing.T) {
	plans := map[string]string{
		"apply-cm.yaml": ConfigMaps(3).RunnerApplyPlan("ns", "apply", 16),
		"apply-bi.yaml": BackingImages(3).RunnerApplyPlan("ns", "apply", 16),
		"wait.yaml":     RunnerWaitPlan("ns", "wait"),
	}
	for name, text := range plans {
		if _, err := engine.LoadBytes(name, []byte(text), engine.LoadOptions{Registry: steps.Kinds()}); err != nil {
			t.Errorf("%s:\n%s\n%v", name, text, err)
		}
	}
}

// Runner's template renders exactly the objects of the file that kubectl,
// chainsaw and the client-go loop are given: a fair comparison.
func TestRunnerRendersTheSameObjects(t *testing.T) {
	for _, w := range []Workload{ConfigMaps(3), BackingImages(3)} {
		t.Run(w.Name, func(t *testing.T) {
			tmpl := w.doc("ns", "apply", "${{ i }}")
			docs, err := manifest.Parse(tmpl, diag.NewSource("t.yaml", []byte(tmpl)), eval.NewScope(nil).With("i", 0))
			if err != nil || len(docs) != 1 {
				t.Fatalf("parse: %v (%d docs)", err, len(docs))
			}
			files := strings.Split(w.YAML("ns", "apply"), "---\n")[1:]
			if len(files) != 3 {
				t.Fatalf("YAML has %d documents, want 3", len(files))
			}
			for i, f := range files {
				got, err := docs[0].Render(eval.Values{"i": i + 1})
				if err != nil {
					t.Fatal(err)
				}
				var want map[string]any
				if err := yaml.Unmarshal([]byte(f), &want); err != nil {
					t.Fatal(err)
				}
				if !reflect.DeepEqual(got.Object, want) {
					t.Errorf("object %d:\nrunner renders %v\nthe file holds %v", i+1, got.Object, want)
				}
			}
		})
	}
}

func TestChainsawWaitTestIsAnErrorOperation(t *testing.T) {
	s := ChainsawWaitTest(WaitTarget{Namespace: "w", Label: "n250", Want: "v3"}, 30*time.Second)
	var doc map[string]any
	if err := yaml.Unmarshal([]byte(s), &doc); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"error:", "(state != 'v3'): true", "bench: n250", "error: 30s"} {
		if !strings.Contains(s, want) {
			t.Errorf("chainsaw test lacks %q:\n%s", want, s)
		}
	}
}
