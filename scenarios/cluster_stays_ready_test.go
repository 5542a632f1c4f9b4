package scenarios_test

import (
	"bufio"
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/scenario-runner/runner/cli"
	"github.com/scenario-runner/runner/localcluster/clustertest"
)

// stayReadyPlan is run by TestClusterStaysReady, not by TestExamples.
const stayReadyPlan = "examples/cluster-stays-ready.yaml"

// kcmFlip is in what kube-controller-manager logs, at its default
// verbosity, when it hears from no node any more and again when it does
// ("Controller detected that all Nodes are not-Ready. Entering master
// disruption mode", pkg/controller/nodelifecycle/node_lifecycle_controller.go,
// handleDisruption).
const kcmFlip = "disruption mode"

// TestClusterStaysReady is the regression test for nodes that went NotReady
// every ~55s because KWOK kept no node Leases: on the shared cluster, every
// node stays Ready for 4 minutes and every pod of a Deployment stays Ready
// (the plan), and kube-controller-manager's log never mentions disruption
// mode. It takes about 4.5 minutes, nearly all of it watching.
func TestClusterStaysReady(t *testing.T) {
	kc := clustertest.Kubeconfig(t)
	var out, errOut bytes.Buffer
	err := cli.Execute([]string{"--kubeconfig", kc, "--log-level", "warn", stayReadyPlan}, cli.Streams{Out: &out, Err: &errOut})
	t.Logf("runner %s:\n%s", stayReadyPlan, out.String())
	if err != nil {
		t.Errorf("runner %s: %v\nstderr:\n%s", stayReadyPlan, err, errOut.String())
	}
	if !cleanedUp.MatchString(out.String()) {
		t.Errorf("the summary does not say the cleanup left nothing")
	}
	c := clustertest.Cluster(t)
	if c == nil {
		t.Log("external cluster from $KUBECONFIG: kube-controller-manager's log not checked")
		return
	}
	logPath := filepath.Join(c.Dir(), "logs", "kube-controller-manager.log")
	f, err := os.Open(logPath)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 0, 64*1024), 1024*1024)
	for sc.Scan() {
		if strings.Contains(sc.Text(), kcmFlip) {
			t.Errorf("%s: %s", logPath, sc.Text())
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatalf("reading %s: %v", logPath, err)
	}
}
