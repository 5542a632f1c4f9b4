package manifest_test

import (
	"fmt"
	"strings"
	"testing"

	"github.com/scenario-runner/runner/engine/diag"
	"github.com/scenario-runner/runner/engine/eval"
	"github.com/scenario-runner/runner/engine/manifest"
	"github.com/scenario-runner/runner/redact"
)

func parseBudget(t *testing.T, text string, b *manifest.Budget) ([]*manifest.Doc, error) {
	t.Helper()
	return manifest.ParseWithin(text, diag.NewSource("m.yaml", []byte(text)), eval.NewScope(nil), b)
}

func TestLimits(t *testing.T) {
	cm := func(i int) string {
		return fmt.Sprintf("---\n{apiVersion: v1, kind: ConfigMap, metadata: {name: c%d}}\n", i)
	}
	var many strings.Builder
	for i := range manifest.MaxDocuments + 1 {
		many.WriteString(cm(i))
	}
	list := func(n int) string {
		return "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: l}\nx: [" + strings.Repeat("1,", n) + "1]\n"
	}
	for _, tc := range []struct {
		name, text, want string
	}{
		{"one document", cm(0), ""},
		{"too many documents", many.String(), fmt.Sprintf("more than %d documents", manifest.MaxDocuments)},
		{"nodes under the budget", list(manifest.MaxNodes / 2), ""},
		{"nodes over the budget", list(manifest.MaxNodes), fmt.Sprintf("expand to more than %d YAML nodes", manifest.MaxNodes)},
		{"laughs", "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: l}\na: &a [x,x,x,x,x,x,x,x,x,x]\nb: &b [*a,*a,*a,*a,*a,*a,*a,*a,*a,*a]\nc: &c [*b,*b,*b,*b,*b,*b,*b,*b,*b,*b]\nd: &d [*c,*c,*c,*c,*c,*c,*c,*c,*c,*c]\ne: &e [*d,*d,*d,*d,*d,*d,*d,*d,*d,*d]\nf: [*e,*e,*e,*e,*e,*e,*e,*e,*e,*e]\n", "expand to more than"},
	} {
		_, err := parseBudget(t, tc.text, manifest.NewBudget())
		if (tc.want == "") != (err == nil) || err != nil && !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: got %v, want %q", tc.name, err, tc.want)
		}
	}
}

// The manifests of one plan share one budget: each may be under it while
// together they are over.
func TestBudgetIsShared(t *testing.T) {
	half := "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: l}\nx: [" + strings.Repeat("1,", manifest.MaxNodes/2) + "1]\n"
	b := manifest.NewBudget()
	if _, err := parseBudget(t, half, b); err != nil {
		t.Fatal(err)
	}
	if _, err := parseBudget(t, half, b); err == nil || !b.Spent() {
		t.Errorf("second half: %v, spent=%v; want over the budget", err, b.Spent())
	}
}

func TestRenderRecordsSecretValues(t *testing.T) {
	text := "apiVersion: v1\nkind: Secret\nmetadata: {name: s}\nstringData: {password: \"${{ pw }}\"}\n"
	docs, err := manifest.Parse(text, diag.NewSource("m.yaml", []byte(text)), eval.NewScope(map[string]any{"pw": ""}))
	if err != nil {
		t.Fatal(err)
	}
	run, other := redact.New(), redact.New()
	if _, err := docs[0].Render(eval.Values{"pw": "rendered-secret-value"}.WithRedact(run)); err != nil {
		t.Fatal(err)
	}
	if got := run.String("x rendered-secret-value y"); got != "x <redacted> y" {
		t.Errorf("the run's set: got %q", got)
	}
	// Another run (a plan side by side with --parallel) has its own set.
	if got := other.String("x rendered-secret-value y"); got != "x rendered-secret-value y" {
		t.Errorf("another run's set: got %q", got)
	}
}
