package bench

import (
	"fmt"
	"strings"
	"time"
)

// Label is put on every object the benchmarks create, with the suite as
// its value, and selects them.
const Label = "bench"

// Workload is a set of N objects of one kind that every tool applies: the
// same names, labels and fields whatever the tool.
type Workload struct {
	Name       string // configmaps or backingimages
	APIVersion string
	Kind       string
	Resource   string // plural, for the API server's counters
	N          int
	prefix     string
	// body is the YAML after metadata, indented for a document, with %[1]d
	// for the index.
	body string
}

// ConfigMaps is N ConfigMaps cm-1..cm-N with two data fields.
func ConfigMaps(n int) Workload {
	return Workload{Name: "configmaps", APIVersion: "v1", Kind: "ConfigMap", Resource: "configmaps", N: n, prefix: "cm",
		body: "data:\n  index: \"%[1]d\"\n  state: pending\n"}
}

// BackingImages is N Longhorn BackingImages bi-1..bi-N (the simulator's
// CRD, longhorn.io/v1beta2), with a download source.
func BackingImages(n int) Workload {
	return Workload{Name: "backingimages", APIVersion: "longhorn.io/v1beta2", Kind: "BackingImage", Resource: "backingimages", N: n, prefix: "bi",
		body: "spec:\n  sourceType: download\n  sourceParameters:\n    url: \"https://example.invalid/bench-%[1]d.qcow2\"\n"}
}

// doc is one object as YAML; index is %[1]d in the body or a template.
func (w Workload) doc(ns, label, index string) string {
	return fmt.Sprintf("apiVersion: %s\nkind: %s\nmetadata:\n  name: \"%s-%s\"\n  namespace: %s\n  labels: {%s: %s}\n",
		w.APIVersion, w.Kind, w.prefix, index, ns, Label, label) +
		strings.ReplaceAll(w.body, "%[1]d", index)
}

// YAML is every object as a multi-document file, for kubectl, chainsaw and
// the client-go loop.
func (w Workload) YAML(ns, label string) string {
	var b strings.Builder
	for i := 1; i <= w.N; i++ {
		b.WriteString("---\n")
		b.WriteString(w.doc(ns, label, fmt.Sprint(i)))
	}
	return b.String()
}

// RunnerApplyPlan applies the same objects with one forEach apply step.
func (w Workload) RunnerApplyPlan(ns, label string, parallel int) string {
	return fmt.Sprintf(`name: bench-apply-%s
cleanup: never
defaults: {namespace: %s, timeout: 30m}
steps:
  - name: apply %d %s
    apply:
      forEach: 1..%d
      as: i
      parallel: %d
      manifest: |
%s`, w.Name, ns, w.N, w.Name, w.N, parallel, indent(w.doc(ns, label, "${{ i }}"), "        "))
}

// ChainsawApplyTest applies objects.yaml (the YAML above, in the same
// folder) in namespace ns; cleanup is skipped with --skip-delete.
func ChainsawApplyTest(name, ns string) string {
	return fmt.Sprintf(`apiVersion: chainsaw.kyverno.io/v1alpha1
kind: Test
metadata: {name: %s}
spec:
  namespace: %s
  steps:
    - try:
        - apply:
            file: objects.yaml
`, name, ns)
}

// WaitTarget is what the wait benchmarks wait for: every ConfigMap with
// label bench=<Label> in Namespace has data.state == Want.
type WaitTarget struct {
	Namespace string
	Label     string
	Want      string
}

// RunnerWaitPlan waits with one waitFor (quantifier all, the default, which
// also needs at least one object). The value comes from --set want=...
func RunnerWaitPlan(ns, label string) string {
	return fmt.Sprintf(`name: bench-wait
cleanup: never
vars: {want: ""}
defaults: {namespace: %s, timeout: 1h}
steps:
  - name: all objects flipped
    waitFor:
      apiVersion: v1
      kind: ConfigMap
      labelSelector: %s=%s
      condition: object.data?.state == want
`, ns, Label, label)
}

// RunnerWaitArgs are the arguments that make runner wait for t, bounded by
// timeout.
func RunnerWaitArgs(kubeconfig, plan string, t WaitTarget, timeout time.Duration) []string {
	return []string{"--kubeconfig", kubeconfig, "--log-format", "json", "--timeout", timeout.String(), "--set", "want=" + t.Want, plan}
}

// RunnerHoldsAll is the part of runner's progress log line that says its
// waitFor (quantifier all, so needed = matched) holds n objects and has
// evaluated each: "<satisfied>/<n> satisfied". Runner writes such a line at
// most every 10 s, and a heartbeat after 30 s of silence, so it can come
// well after the list itself.
func RunnerHoldsAll(n int) string { return fmt.Sprintf("/%d satisfied", n) }

// KubectlWaitArgs wait for t with kubectl wait --for=jsonpath.
func KubectlWaitArgs(kubeconfig string, t WaitTarget, timeout time.Duration) []string {
	return []string{"--kubeconfig", kubeconfig, "wait", "configmap", "-n", t.Namespace, "-l", Label + "=" + t.Label,
		"--for=jsonpath={.data.state}=" + t.Want, "--timeout=" + timeout.String()}
}

// ChainsawWaitTest is chainsaw's faithful "all" wait: an error operation
// that fails while any labelled object has another state. (An unnamed
// assert passes as soon as one object matches.) Like every error
// operation, it passes when no object has the label.
func ChainsawWaitTest(t WaitTarget, timeout time.Duration) string {
	return fmt.Sprintf(`apiVersion: chainsaw.kyverno.io/v1alpha1
kind: Test
metadata: {name: wait}
spec:
  namespace: %s
  timeouts: {error: %s}
  steps:
    - try:
        - error:
            resource:
              apiVersion: v1
              kind: ConfigMap
              metadata:
                labels: {%s: %s}
              data:
                (state != '%s'): true
`, t.Namespace, timeout, Label, t.Label, t.Want)
}

func indent(s, prefix string) string {
	lines := strings.SplitAfter(s, "\n")
	var b strings.Builder
	for _, l := range lines {
		if l != "" {
			b.WriteString(prefix + l)
		}
	}
	return b.String()
}
