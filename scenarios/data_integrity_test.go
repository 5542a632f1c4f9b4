package scenarios_test

import (
	"bytes"
	"os"
	"strings"
	"testing"

	"github.com/scenario-runner/runner/cli"
	"github.com/scenario-runner/runner/localcluster/clustertest"
)

// dataIntegrityPlan is the example whose pods are exec'd.
const dataIntegrityPlan = "examples/longhorn-data-integrity.yaml"

// TestDataIntegrityLostWithAllReplicas runs the data-integrity example's
// variant where the nodes of both replicas go down: the volume is faulted,
// its data lost, and the plan fails reading the file back (TestExamples
// runs the plan as shipped, which passes).
func TestDataIntegrityLostWithAllReplicas(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("its exec steps need root on the local cluster (localcluster/podexec)")
	}
	kc := clustertest.Kubeconfig(t)
	var out, errOut bytes.Buffer
	err := cli.Execute([]string{"--kubeconfig", kc, "--log-level", "warn", "--set", "loseAllReplicas=true", dataIntegrityPlan}, cli.Streams{Out: &out, Err: &errOut})
	if err == nil {
		t.Fatalf("the plan passed with every replica lost:\n%s", out.String())
	}
	for _, want := range []string{
		"FAIL        the data reads back the same on the new node",
		"[md5sum /data/file] exited with code 1, want 0; stderr: md5sum: /data/file: No such file or directory",
	} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("the summary lacks %q:\n%s", want, out.String())
		}
	}
	if !cleanedUp.MatchString(out.String()) {
		t.Errorf("cleanup left something:\n%s", out.String())
	}
}
