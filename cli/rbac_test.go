package cli

import (
	"errors"
	"strings"
	"testing"

	"github.com/scenario-runner/runner/engine"
)

// TestRBACCommand: runner rbac works without a cluster, takes --set as a
// run does, prints the same bytes twice, and refuses bad input with exit 2.
func TestRBACCommand(t *testing.T) {
	t.Chdir("..")
	t.Setenv("KUBECONFIG", "")
	t.Setenv("HOME", t.TempDir())
	out, stderr, err := run(t, "rbac", "scenarios/bi-scalability.yaml", "--set", "namespace=qa", "--service-account", "ci/runner")
	if err != nil {
		t.Fatalf("runner rbac: %v\n%s", err, stderr)
	}
	again, _, _ := run(t, "rbac", "scenarios/bi-scalability.yaml", "--set", "namespace=qa", "--service-account", "ci/runner")
	if out != again {
		t.Error("two runs print different output")
	}
	for _, want := range []string{
		"# runner rbac scenarios/bi-scalability.yaml --service-account ci/runner --set namespace=qa: the least RBAC these plans need.\n",
		"kind: ClusterRoleBinding\n", "kind: RoleBinding\n", "  namespace: longhorn-system\n",
		"    name: runner\n    namespace: ci\n",
		"# scenarios/bi-scalability.yaml:130 create the nginx service and StatefulSet (and its cleanup, restore)\n",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("missing %q in:\n%s", want, out)
		}
	}

	for _, tc := range []struct {
		args []string
		want error
		msg  string
	}{
		{[]string{"rbac", "scenarios/bi-scalability.yaml", "--service-account", "runner"}, ErrUsage, "expected NAMESPACE/NAME"},
		{[]string{"rbac", "scenarios/bi-scalability.yaml", "--set", "nope=1"}, engine.ErrInvalid, `has no variable "nope"`},
		{[]string{"rbac", "testdata/invalid/three-errors.yaml"}, engine.ErrInvalid, "three-errors.yaml:"},
	} {
		_, stderr, err := run(t, tc.args...)
		if !errors.Is(err, tc.want) || !strings.Contains(stderr+errString(err), tc.msg) {
			t.Errorf("%v: got %v\n%s\nwant %v saying %q", tc.args, err, stderr, tc.want, tc.msg)
		}
	}
}

func errString(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}
