package steps

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/rs/zerolog"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	k8stesting "k8s.io/client-go/testing"

	"github.com/scenario-runner/runner/engine"
	"github.com/scenario-runner/runner/result"
)

// dryRunPlans has one plan per registered kind; TestDryRunEveryKind fails
// when a kind is added without one, so every kind is proven to honour
// --dry-run.
var dryRunPlans = map[string]struct {
	steps string
	// observing kinds are skipped in a dry run.
	observing bool
}{
	"apply":     {steps: "- apply:\n    manifest: |\n      apiVersion: v1\n      kind: ConfigMap\n      metadata: {name: dry}\n"},
	"delete":    {steps: "- delete: {apiVersion: v1, kind: ConfigMap, name: pre}\n"},
	"scale":     {steps: "- scale: {apiVersion: apps/v1, kind: Deployment, name: web, replicas: 3}\n"},
	"waitFor":   {steps: "- waitFor: {apiVersion: v1, kind: ConfigMap, name: never, condition: 'false'}\n", observing: true},
	"timeProbe": {steps: "- timeProbe:\n    name: p\n    steps:\n      - sleep: 1h\n"},
	"sleep":     {steps: "- sleep: 1h\n", observing: true},
	"measure":   {steps: "- measure:\n    pods: {namespace: longhorn-system, labelSelector: app=longhorn-manager}\n    queries: {depth: longhorn_workqueue_depth}\n    steps: [{sleep: 1h}]\n"},
	"metrics":   {steps: "- metrics:\n    pods: {namespace: longhorn-system, labelSelector: app=longhorn-manager}\n    queries: {depth: longhorn_workqueue_depth}\n", observing: true},
	"command":   {steps: "- command: {argv: [touch, /tmp/runner-dry-run-ran]}\n", observing: true},
	"exec":      {steps: "- exec: {name: web, command: [rm, -rf, /data]}\n", observing: true},
	"assert":    {steps: "- assert: ['1 < 2']\n"},
	"patch":     {steps: "- patch: {apiVersion: v1, kind: ConfigMap, name: pre, merge: {data: {k: v}}}\n"},
}

// TestDryRunEveryKind: in a dry run no kind changes the cluster (every
// write carries dryRun=All), and waits and sleeps are skipped at once.
func TestDryRunEveryKind(t *testing.T) {
	t.Parallel()
	for _, kind := range Kinds().Names() {
		tc, ok := dryRunPlans[kind]
		if !ok {
			t.Errorf("kind %s has no dry-run plan in dryRunPlans", kind)
			continue
		}
		t.Run(kind, func(t *testing.T) {
			t.Parallel()
			pre := object(map[string]any{"apiVersion": "v1", "kind": "ConfigMap", "metadata": map[string]any{"name": "pre", "namespace": "default"}})
			web := object(map[string]any{"apiVersion": "apps/v1", "kind": "Deployment", "metadata": map[string]any{"name": "web", "namespace": "default"}, "spec": map[string]any{"replicas": int64(1)}})
			cl := newFakeCluster(t, pre, web)
			p := loadYAML(t, "name: t\nsteps:\n"+tc.steps)
			start := time.Now()
			res := engine.Run(t.Context(), p, engine.RunOptions{Cluster: cl, Log: zerolog.Nop(), DryRun: true})
			if time.Since(start) > 10*time.Second {
				t.Errorf("a dry run took %s: something waited or slept", time.Since(start))
			}
			if res.Outcome != result.Passed {
				t.Fatalf("outcome %s: %s", res.Outcome, res.Error)
			}
			if got := res.Steps[0].Outcome == result.Skipped; got != tc.observing {
				t.Errorf("step %s: outcome %s, skipped should be %v", kind, res.Steps[0].Outcome, tc.observing)
			}
			for _, a := range cl.dyn.Actions() {
				var dry []string
				switch a := a.(type) {
				case k8stesting.CreateActionImpl:
					dry = a.CreateOptions.DryRun
				case k8stesting.PatchActionImpl:
					dry = a.PatchOptions.DryRun
				case k8stesting.DeleteActionImpl:
					dry = a.DeleteOptions.DryRun
				case k8stesting.UpdateActionImpl:
					dry = a.UpdateOptions.DryRun
				default:
					continue
				}
				if !slices.Equal(dry, []string{metav1.DryRunAll}) {
					t.Errorf("%s %s without dryRun=All", a.GetVerb(), a.GetResource().Resource)
				}
			}
		})
	}
}

// TestProbeDetail: the statistics, summary, JUnit properties and the
// report section of a timeProbe, with budgets read from the assertions'
// syntax trees.
func TestProbeDetail(t *testing.T) {
	t.Parallel()
	p := loadYAML(t, `name: t
vars: {budget: 1m}
steps:
  - timeProbe:
      name: fast
      repeat: 3
      steps: [{sleep: 1ms}]
      assert:
        - duration < duration(budget) && p90 <= duration("30s")
        - len(samples) == 3
        - duration("2m") > max
`)
	res := engine.Run(t.Context(), p, engine.RunOptions{Cluster: newFakeCluster(t), Log: zerolog.Nop()})
	if res.Outcome != result.Passed {
		t.Fatalf("outcome %s: %s", res.Outcome, res.Error)
	}
	d := res.Steps[0].Detail.(*ProbeDetail)
	if d.Runs != 3 || len(d.SamplesSeconds) != 3 || d.StatsSeconds["p90"] < 0.001 {
		t.Fatalf("detail %+v", d)
	}
	var labels []string
	for _, b := range d.Budgets {
		labels = append(labels, b.Label)
	}
	want := []string{"duration < 1m (budget)", "p90 <= 30s", "max < 2m"}
	if !slices.Equal(labels, want) {
		t.Errorf("budgets %q, want %q", labels, want)
	}
	if s := d.Summary(); !strings.HasPrefix(s, "3 sample(s): min ") || !strings.Contains(s, "p90 ") {
		t.Errorf("summary %q", s)
	}
	props := map[string]string{}
	for _, sp := range d.SuiteProperties() {
		props[sp.Name] = sp.Value
	}
	if props["probe.fast.runs"] != "3" || props["probe.fast.p90"] == "" ||
		props["probe.fast.assert.2"] != "passed: len(samples) == 3 (samples = "+formatProbeValue(d.samples)+")" {
		t.Errorf("suite properties %v", props)
	}
	sec := d.Section()
	if sec.Group != "Time probes" || len(sec.Chart.Bars) != 3 || len(sec.Chart.Limits) != 3 || len(sec.Checks) != 3 || !sec.Chart.Seconds {
		t.Errorf("section %+v", sec)
	}
}

// TestAssertIfExpect covers assert, if and expectError on the fake client.
func TestAssertIfExpect(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		steps    string
		outcome  result.Outcome
		err      string   // the plan's error, exactly
		statuses []string // each step's outcome and detail or skip reason
	}{
		{
			name:     "assert passes",
			steps:    "- assert: ['node == \"node-1\"', 'count > 1']\n",
			outcome:  result.Passed,
			statuses: []string{"passed 2/2 held"},
		},
		{
			name:    "assert fails with the values it read",
			steps:   "- assert: ['victim != node', 'count > 1']\n",
			outcome: result.Failed,
			err:     `step "assert 2 conditions": assertion failed: victim != node: victim = "node-1", node = "node-1"`,
		},
		{
			name:     "if false skips, if true runs",
			steps:    "- sleep: 1ms\n  if: count > 5\n- assert: ['true']\n  if: count == 3\n",
			outcome:  result.Passed,
			statuses: []string{"skipped if: count > 5", "passed 1/1 held"},
		},
		{
			name:     "expected refusal passes",
			steps:    "- scale: {apiVersion: apps/v1, kind: Deployment, name: missing, replicas: 1}\n  expectError: {message: not found}\n",
			outcome:  result.Passed,
			statuses: []string{"passed "},
		},
		{
			name:    "expected error that does not come fails",
			steps:   "- delete: {apiVersion: v1, kind: ConfigMap, name: nobody}\n  expectError: {reason: Forbidden}\n",
			outcome: result.Failed,
			err:     `step "delete ConfigMap nobody": expected an error with reason Forbidden, but the step succeeded`,
		},
		{
			name:    "another error than expected fails",
			steps:   "- scale: {apiVersion: apps/v1, kind: Deployment, name: missing, replicas: 1}\n  expectError: {message: in use}\n",
			outcome: result.Failed,
			err:     `step "scale Deployment missing": expected an error with message containing "in use", but the message does not contain "in use": Deployment in default named missing: not found`,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			p := loadYAML(t, "name: t\nvars: {victim: node-1, node: node-1, count: 3}\nsteps:\n"+tt.steps)
			res := engine.Run(t.Context(), p, engine.RunOptions{Cluster: newFakeCluster(t), Log: zerolog.Nop()})
			if res.Outcome != tt.outcome || (tt.err != "" && res.Error != tt.err) {
				t.Errorf("outcome %s, error %q\nwant %s, %q", res.Outcome, res.Error, tt.outcome, tt.err)
			}
			for i, want := range tt.statuses {
				s := res.Steps[i]
				got := string(s.Outcome) + " " + s.Skip
				if s.Detail != nil {
					got += s.Detail.Summary()
				}
				if got != want {
					t.Errorf("step %d: %q, want %q", i, got, want)
				}
			}
		})
	}
}

// TestOutputRebind: an output re-bound with name! replaces the earlier one;
// without the ! it is an error that says how.
func TestOutputRebind(t *testing.T) {
	t.Parallel()
	apply := func(name, out string) string {
		return "- apply:\n    manifest: |\n      apiVersion: v1\n      kind: ConfigMap\n      metadata: {name: " + name + "}\n    outputs:\n      " + out + ": objects[0].metadata.name\n"
	}
	p := loadYAML(t, "name: t\nsteps:\n"+apply("first", "last")+apply("second", "last!")+"- assert: ['last == \"second\"']\n")
	res := engine.Run(t.Context(), p, engine.RunOptions{Cluster: newFakeCluster(t), Log: zerolog.Nop()})
	if res.Outcome != result.Passed {
		t.Errorf("outcome %s: %s", res.Outcome, res.Error)
	}
	for _, tc := range []struct{ steps, want string }{
		{apply("first", "last") + apply("second", "last"), `output "last" is already bound by an earlier step: write "last"! to re-bind it`},
		{apply("first", "last!"), `output "last"! re-binds an earlier output, but no earlier step has an output "last"`},
	} {
		_, err := engine.LoadBytes("plan.yaml", []byte("name: t\nsteps:\n"+tc.steps), engine.LoadOptions{Registry: Kinds()})
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("error %v, want %q", err, tc.want)
		}
	}
}

// TestCollectOnFailure: a failed waitFor leaves its objects (a Secret's
// values redacted) and the namespace's events in the report folder, listed
// in the result, before cleanup.
func TestCollectOnFailure(t *testing.T) {
	t.Parallel()
	secret := object(map[string]any{"apiVersion": "v1", "kind": "Secret", "metadata": map[string]any{"name": "creds", "namespace": "default"}, "data": map[string]any{"password": "SHVudGVyMg=="}})
	event := object(map[string]any{"apiVersion": "v1", "kind": "Event", "metadata": map[string]any{"name": "e1", "namespace": "default"},
		"lastTimestamp": "2026-12-01T10:00:00Z", "type": "Warning", "reason": "FailedMount", "message": "volume not attached",
		"involvedObject": map[string]any{"kind": "Pod", "name": "web-1"}})
	cl := newFakeCluster(t, secret, event)
	dir := t.TempDir()
	p := loadYAML(t, `name: collect
collect:
  resources: [{apiVersion: v1, kind: ConfigMap, namespace: default}]
steps:
  - timeout: 50ms
    waitFor: {apiVersion: v1, kind: Secret, name: creds, condition: 'object.data.password == "x"'}
`)
	res := engine.Run(t.Context(), p, engine.RunOptions{Cluster: cl, Log: zerolog.Nop(), ReportDir: dir})
	if res.Outcome != result.TimedOut {
		t.Fatalf("outcome %s: %s", res.Outcome, res.Error)
	}
	got := map[string]string{}
	for _, d := range res.Diagnostics {
		if d.Error != "" {
			t.Errorf("%s: %s", d.What, d.Error)
			continue
		}
		data, err := os.ReadFile(filepath.Join(dir, d.File))
		if err != nil {
			t.Fatal(err)
		}
		got[d.What] = string(data)
	}
	if s := got["Secret in default named creds"]; !strings.Contains(s, "password: <redacted>") || strings.Contains(s, "SHVudGVyMg") {
		t.Errorf("secret as collected:\n%s", s)
	}
	if e := got["events in default"]; !strings.Contains(e, "Warning FailedMount Pod/web-1: volume not attached") {
		t.Errorf("events:\n%s", e)
	}
	if _, ok := got["ConfigMap in default"]; !ok {
		t.Errorf("resources not collected: %v", got)
	}
}
