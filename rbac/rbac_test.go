package rbac_test

import (
	"strings"
	"testing"

	"github.com/scenario-runner/runner/engine"
	"github.com/scenario-runner/runner/rbac"
	"github.com/scenario-runner/runner/steps"
)

func derive(t *testing.T, plan string) *rbac.Policy {
	t.Helper()
	p, err := engine.LoadBytes("plan.yaml", []byte(plan), engine.LoadOptions{Registry: steps.Kinds()})
	if err != nil {
		t.Fatal(err)
	}
	policy, err := rbac.Derive(p.Cells(), steps.Kinds(), rbac.Guess{})
	if err != nil {
		t.Fatal(err)
	}
	return policy
}

// rules renders a policy one rule a line: "ns group resource verbs".
func rules(p *rbac.Policy) string {
	var b strings.Builder
	for _, r := range p.Rules {
		ns := r.Namespace
		if ns == "" {
			ns = "*"
		}
		b.WriteString(ns + " " + r.What() + " " + strings.Join(r.Verbs, ",") + "\n")
	}
	return b.String()
}

func TestDerive(t *testing.T) {
	for _, tc := range []struct {
		name, plan, want string
		unknown          int
	}{{
		name: "a wait in the default namespace is a Role's",
		plan: `name: p
steps:
  - waitFor: {apiVersion: v1, kind: Pod, labelSelector: app=x, condition: "true"}
`,
		want: "default events list\ndefault pods get,list,watch\n",
	}, {
		name: "a variable's namespace is known before the run",
		plan: `name: p
vars: {ns: qa}
collect: {events: false}
steps:
  - waitFor: {apiVersion: longhorn.io/v1beta2, kind: Volume, namespace: "${{ ns }}", name: v, condition: "true"}
`,
		want: "qa volumes.longhorn.io get,list,watch\n",
	}, {
		name: "allNamespaces and a namespace from the run id go cluster-wide",
		plan: `name: p
collect: {events: false}
steps:
  - waitFor: {apiVersion: v1, kind: Pod, allNamespaces: true, labelSelector: app=x, condition: "true"}
  - waitFor: {apiVersion: v1, kind: ConfigMap, namespace: "t-${{ runID }}", name: c, condition: "true"}
`,
		want: "* configmaps get,list,watch\n* pods get,list,watch\n",
	}, {
		name: "apply adds cleanup and restore; a namespace the plan creates is not a Role's",
		plan: `name: p
collect: {events: false}
steps:
  - apply:
      manifest: |
        apiVersion: v1
        kind: Namespace
        metadata: {name: fresh}
        ---
        apiVersion: v1
        kind: ConfigMap
        metadata: {name: c, namespace: fresh}
        ---
        apiVersion: apps/v1
        kind: Deployment
        metadata: {name: d, namespace: old}
`,
		want: "* configmaps create,delete,get,list,patch,watch\n* namespaces create,delete,get,list,patch,watch\nold deployments.apps create,delete,get,list,patch,watch\n",
	}, {
		name: "forEach over variables renders every namespace",
		plan: `name: p
vars: {nss: [a, b]}
collect: {events: false}
steps:
  - apply:
      forEach: nss
      manifest: |
        apiVersion: v1
        kind: ConfigMap
        metadata: {name: c, namespace: "${{ item }}"}
`,
		want: "a configmaps create,delete,get,list,patch,watch\nb configmaps create,delete,get,list,patch,watch\n",
	}, {
		name: "scale is a patch of the subresource; its restore patches the object",
		plan: `name: p
collect: {events: false}
steps:
  - scale: {apiVersion: apps/v1, kind: StatefulSet, name: s, replicas: 2}
`,
		want: "default statefulsets.apps get,patch\ndefault statefulsets.apps/scale patch\n",
	}, {
		name: "exec and a pods metrics source",
		plan: `name: p
collect: {events: false}
steps:
  - exec: {namespace: app, name: web-0, command: [true]}
  - metrics:
      pods: {namespace: longhorn-system, labelSelector: app=longhorn-manager}
      queries: {up: sum(up)}
`,
		want: "app pods get,list\napp pods/exec create\nlonghorn-system pods list\nlonghorn-system pods/proxy get\n",
	}, {
		name: "a cluster-scoped kind, a resource by name and nested steps",
		plan: `name: p
collect: {events: false}
steps:
  - timeProbe:
      name: t
      steps:
        - patch: {apiVersion: v1, kind: Node, name: n1, merge: {metadata: {labels: {a: b}}}}
        - waitFor: {resource: customresourcedefinitions.apiextensions.k8s.io, name: volumes.longhorn.io, condition: "true"}
`,
		want: "* nodes get,list,patch\n* customresourcedefinitions.apiextensions.k8s.io get,list,watch\n",
	}, {
		name: "a kind from an output cannot be derived",
		plan: `name: p
collect: {events: false}
steps:
  - apply:
      manifest: |
        apiVersion: v1
        kind: ConfigMap
        metadata: {name: c}
      outputs: {k: "objects[0].kind"}
  - waitFor: {apiVersion: v1, kind: "${{ k }}", name: c, condition: "true"}
`,
		want:    "default configmaps create,delete,get,list,patch,watch\n",
		unknown: 1,
	}, {
		name: "collect reads pod logs and the kinds it names",
		plan: `name: p
collect:
  events: false
  podLogs: [{namespace: longhorn-system, labelSelector: app=longhorn-manager}]
  resources: [{apiVersion: longhorn.io/v1beta2, kind: Engine}]
steps:
  - sleep: 1s
`,
		want: "* engines.longhorn.io get,list\nlonghorn-system pods list\nlonghorn-system pods/log get\n",
	}} {
		t.Run(tc.name, func(t *testing.T) {
			p := derive(t, tc.plan)
			if got := rules(p); got != tc.want {
				t.Errorf("rules:\n%s\nwant:\n%s", got, tc.want)
			}
			if len(p.Unknown) != tc.unknown {
				t.Errorf("unknown: %q, want %d", p.Unknown, tc.unknown)
			}
		})
	}
}

func TestGuess(t *testing.T) {
	for _, tc := range []struct {
		apiVersion, kind, resource string
		want                       rbac.Resource
	}{
		{"v1", "Pod", "", rbac.Resource{Resource: "pods", Namespaced: true}},
		{"v1", "Node", "", rbac.Resource{Resource: "nodes"}},
		{"v1", "Endpoints", "", rbac.Resource{Resource: "endpoints", Namespaced: true}},
		{"storage.k8s.io/v1", "StorageClass", "", rbac.Resource{Group: "storage.k8s.io", Resource: "storageclasses"}},
		{"longhorn.io/v1beta2", "BackingImage", "", rbac.Resource{Group: "longhorn.io", Resource: "backingimages", Namespaced: true}},
		{"networking.k8s.io/v1", "NetworkPolicy", "", rbac.Resource{Group: "networking.k8s.io", Resource: "networkpolicies", Namespaced: true}},
		{"", "", "customresourcedefinitions.apiextensions.k8s.io", rbac.Resource{Group: "apiextensions.k8s.io", Resource: "customresourcedefinitions"}},
		{"", "", "pods", rbac.Resource{Resource: "pods", Namespaced: true}},
		{"", "", "Volumes.longhorn.io", rbac.Resource{Group: "longhorn.io", Resource: "volumes", Namespaced: true}},
	} {
		got, err := rbac.Guess{}.Map(tc.apiVersion, tc.kind, tc.resource)
		if err != nil || got != tc.want {
			t.Errorf("Map(%q, %q, %q) = %+v, %v; want %+v", tc.apiVersion, tc.kind, tc.resource, got, err, tc.want)
		}
	}
}

// TestYAMLNamesTheSteps: every rule is commented with the steps that need
// it, file:line first, and the output is the same on every call.
func TestYAMLNamesTheSteps(t *testing.T) {
	p := derive(t, `name: p
collect: {events: false}
steps:
  - name: wait for pods
    waitFor: {apiVersion: v1, kind: Pod, labelSelector: app=x, condition: "true"}
  - apply:
      manifest: |
        apiVersion: v1
        kind: Pod
        metadata: {name: x}
`)
	a, err := p.YAML(rbac.Options{ServiceAccount: &rbac.ServiceAccount{Namespace: "qa", Name: "ci"}}, "header")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := p.YAML(rbac.Options{ServiceAccount: &rbac.ServiceAccount{Namespace: "qa", Name: "ci"}}, "header")
	if string(a) != string(b) {
		t.Error("two renderings differ")
	}
	for _, want := range []string{
		"# header\n",
		"  # plan.yaml:5 wait for pods\n  # plan.yaml:6 apply manifest (and its cleanup, restore)\n  - apiGroups:\n",
		"kind: RoleBinding\n", "name: ci\n    namespace: qa\n",
	} {
		if !strings.Contains(string(a), want) {
			t.Errorf("missing %q in:\n%s", want, a)
		}
	}
}

// TestCleanupRole: what runner cleanup --all needs is, cluster-wide, the
// kinds the plans create or change, and nothing for what they only read.
func TestCleanupRole(t *testing.T) {
	p, err := engine.LoadBytes("plan.yaml", []byte(`name: p
steps:
  - apply:
      manifest: |
        apiVersion: v1
        kind: ConfigMap
        metadata: {name: c, namespace: qa}
  - scale: {apiVersion: apps/v1, kind: StatefulSet, name: s, replicas: 2}
  - waitFor: {apiVersion: v1, kind: Pod, name: x, condition: "true"}
`), engine.LoadOptions{Registry: steps.Kinds()})
	if err != nil {
		t.Fatal(err)
	}
	policy, err := rbac.CleanupRole([]*engine.Plan{p}, steps.Kinds(), rbac.Guess{})
	if err != nil {
		t.Fatal(err)
	}
	want := "* configmaps delete,get,list,patch,watch\n* statefulsets.apps delete,get,list,patch,watch\n"
	if got := rules(policy); got != want {
		t.Errorf("rules:\n%s\nwant:\n%s", got, want)
	}
}
