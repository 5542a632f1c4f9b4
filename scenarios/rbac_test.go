package scenarios_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/yaml"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/scenario-runner/runner/cli"
	"github.com/scenario-runner/runner/engine"
	"github.com/scenario-runner/runner/kube"
	"github.com/scenario-runner/runner/localcluster/clustertest"
	"github.com/scenario-runner/runner/rbac"
	"github.com/scenario-runner/runner/steps"
)

// rbacName names the ServiceAccount and roles of a test for plan.
func rbacName(prefix, plan string) string {
	return prefix + "-" + strings.TrimSuffix(filepath.Base(plan), ".yaml")
}

// runnerRBAC is what `runner rbac PLAN --service-account default/NAME
// --name NAME` prints, as objects.
func runnerRBAC(t *testing.T, plan, name string) []*unstructured.Unstructured {
	t.Helper()
	var out, errOut bytes.Buffer
	if err := cli.Execute([]string{"rbac", plan, "--service-account", "default/" + name, "--name", name}, cli.Streams{Out: &out, Err: &errOut}); err != nil {
		t.Fatalf("runner rbac %s: %v\n%s", plan, err, errOut.String())
	}
	var objs []*unstructured.Unstructured
	dec := yaml.NewYAMLOrJSONDecoder(&out, 4096)
	for {
		var m map[string]any
		if err := dec.Decode(&m); err != nil {
			break
		}
		if m != nil {
			objs = append(objs, &unstructured.Unstructured{Object: m})
		}
	}
	if len(objs) == 0 {
		t.Fatalf("runner rbac %s printed no object:\n%s", plan, out.String())
	}
	return objs
}

// createAll creates objs (roles and bindings) as the admin, deleting them
// when the test ends.
func createAll(t *testing.T, cfg *rest.Config, objs []*unstructured.Unstructured) {
	t.Helper()
	dyn, err := dynamic.NewForConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	for _, o := range objs {
		gvr := schema.GroupVersionResource{Group: "rbac.authorization.k8s.io", Version: "v1", Resource: strings.ToLower(o.GetKind()) + "s"}
		ri := dyn.Resource(gvr).Namespace(o.GetNamespace())
		if _, err := ri.Create(t.Context(), o, metav1.CreateOptions{}); err != nil {
			t.Fatalf("creating %s %s: %v", o.GetKind(), o.GetName(), err)
		}
		t.Cleanup(func() { _ = ri.Delete(context.Background(), o.GetName(), metav1.DeleteOptions{}) })
	}
}

// awaitGranted waits until the API server's authorizer, which learns roles
// through a watch, answers that the identity of kubeconfig has every rule
// of p: a state, asked of the server, not a sleep.
func awaitGranted(t *testing.T, kubeconfig string, p *rbac.Policy) {
	t.Helper()
	cfg, err := clientcmd.BuildConfigFromFlags("", kubeconfig)
	if err != nil {
		t.Fatal(err)
	}
	cfg.QPS, cfg.Burst = 200, 400
	deadline := time.Now().Add(30 * time.Second)
	for {
		missing, err := rbac.Preflight(t.Context(), cfg, p)
		if err == nil && len(missing) == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("the bound roles are not in effect after 30s: %v %v", err, missing)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// policyOf is runner rbac's policy for plan (its cells' needs).
func policyOf(t *testing.T, plan string) *rbac.Policy {
	t.Helper()
	p, err := engine.Load(plan, engine.LoadOptions{Registry: steps.Kinds()})
	if err != nil {
		t.Fatal(err)
	}
	policy, err := rbac.Derive(p.Cells(), steps.Kinds(), rbac.Guess{})
	if err != nil {
		t.Fatal(err)
	}
	return policy
}

// boundKubeconfig is the kubeconfig of a new ServiceAccount bound to
// exactly what runner rbac prints for plan.
func boundKubeconfig(t *testing.T, plan string) string {
	t.Helper()
	cfg := clustertest.Config(t)
	name := rbacName("least", plan)
	kc := clustertest.ServiceAccountKubeconfig(t, cfg, "default", name)
	createAll(t, cfg, runnerRBAC(t, plan, name))
	awaitGranted(t, kc, policyOf(t, plan))
	return kc
}

// preflightPlan is the plan whose rules TestPreflightNamesTheMissingRule
// takes away one by one: it applies, scales (a subresource), waits and
// deletes, in a Role's namespace.
const preflightPlan = "examples/deployment-scale-latency.yaml"

// TestPreflightNamesTheMissingRule binds, for each rule runner rbac
// derives for a plan, every rule but that one: the run must stop at the
// preflight with exit 3, name the missing rule's verbs, resource and
// namespace, and create nothing.
func TestPreflightNamesTheMissingRule(t *testing.T) {
	cfg := clustertest.Config(t)
	full := policyOf(t, preflightPlan)
	if len(full.Rules) < 4 {
		t.Fatalf("want at least 4 rules for %s, got %d", preflightPlan, len(full.Rules))
	}
	client, err := kube.NewForConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	for i, rule := range full.Rules {
		t.Run(fmt.Sprintf("%d-%s", i, strings.ReplaceAll(rule.What(), "/", "-")), func(t *testing.T) {
			less := &rbac.Policy{Rules: slices.Delete(slices.Clone(full.Rules), i, i+1)}
			name := fmt.Sprintf("pf%d", i)
			kc := clustertest.ServiceAccountKubeconfig(t, cfg, "default", name)
			createAll(t, cfg, less.Objects(rbac.Options{Name: name, ServiceAccount: &rbac.ServiceAccount{Namespace: "default", Name: name}}))
			awaitGranted(t, kc, less)

			var out, errOut bytes.Buffer
			err := cli.Execute([]string{"--kubeconfig", kc, "--log-level", "warn", preflightPlan}, cli.Streams{Out: &out, Err: &errOut})
			if !errors.Is(err, cli.ErrPreflight) {
				t.Fatalf("without %s: got %v, want the preflight to refuse\nstderr:\n%s", rule, err, errOut.String())
			}
			t.Logf("runner's stderr:\n%s", errOut.String())
			for _, v := range rule.Verbs {
				m := rule
				m.Verbs = []string{v}
				if line := (rbac.Missing{Rule: m}).String(); !strings.Contains(errOut.String(), line) {
					t.Errorf("stderr does not name the missing permission %q:\n%s", line, errOut.String())
				}
			}
			if !strings.Contains(errOut.String(), "nothing was created") || !strings.Contains(errOut.String(), "- "+rule.Resource) {
				t.Errorf("stderr does not say nothing was created and print the rule that grants it:\n%s", errOut.String())
			}
			for _, sel := range []string{kube.RunLabel, kube.ChangedByLabel} {
				marked, errs := client.FindMarked(t.Context(), sel)
				if len(errs) > 0 {
					t.Fatal(errs)
				}
				if len(marked) > 0 {
					t.Errorf("the refused run left %d objects marked %s, e.g. %v", len(marked), sel, marked[0].Ref)
				}
			}
		})
	}
}
