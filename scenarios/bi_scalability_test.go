package scenarios_test

import (
	"bytes"
	"context"
	"errors"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/rs/zerolog"
	"k8s.io/client-go/rest"

	"github.com/scenario-runner/runner/cli"
	"github.com/scenario-runner/runner/localcluster"
	"github.com/scenario-runner/runner/localcluster/clustertest"
	"github.com/scenario-runner/runner/longhornsim"
)

// reducedScale runs the seed scenario at a scale CI can afford: 8 pods x 10
// volumes (80 volumes, 240 replicas) and a 3 s attach budget. In default
// mode a new volume attaches in about half a second; in legacy-queue-jam
// mode every replica of the cluster sits in the jammed queue ahead of it.
var reducedScale = []string{"--set", "replicas=8", "--set", "attachBudget=3s", "--set", "deleteBudget=3s"}

func runScenario(t *testing.T, kubeconfig string, extra ...string) (string, error) {
	t.Helper()
	var out, errOut bytes.Buffer
	args := append([]string{"--kubeconfig", kubeconfig}, reducedScale...)
	args = append(args, extra...)
	args = append(args, "bi-scalability.yaml")
	err := cli.Execute(args, cli.Streams{In: strings.NewReader(""), Out: &out, Err: &errOut})
	t.Logf("summary:\n%s", out.String())
	return out.String(), err
}

// TestBIScalabilityPassesOnFixedLonghorn: the simulator in its default mode
// behaves like Longhorn after the fix (1.2.3+): the scenario passes and
// leaves nothing behind.
func TestBIScalabilityPassesOnFixedLonghorn(t *testing.T) {
	out, err := runScenario(t, clustertest.Kubeconfig(t))
	if err != nil {
		t.Fatalf("want a pass, got %v", err)
	}
	if !strings.Contains(out, "OK bi-scalability") || !strings.Contains(out, "left 0") {
		t.Errorf("summary does not say passed and left nothing:\n%s", out)
	}
}

var assertionRE = regexp.MustCompile(`assertion failed: duration < duration\(attachBudget\): duration = ([0-9.hms]+), attachBudget = "3s"`)

// TestBIScalabilityCatchesTheQueueJam: the simulator in legacy-queue-jam mode
// models Longhorn issue 3242; the scenario must fail on its timeProbe, and
// the message must name the assertion, the measured time and the budget.
func TestBIScalabilityCatchesTheQueueJam(t *testing.T) {
	if testing.Short() {
		t.Skip("integration test")
	}
	kubeconfig := startCluster(t, longhornsim.ModeLegacyQueueJam)
	out, err := runScenario(t, kubeconfig, legacyScale...)
	if !errors.Is(err, cli.ErrFailed) {
		t.Fatalf("want the scenario to fail (exit 1), got %v", err)
	}
	m := assertionRE.FindStringSubmatch(out)
	if m == nil {
		t.Fatalf("the failure does not name the attach assertion with its values:\n%s", out)
	}
	d, _ := time.ParseDuration(m[1])
	if d < 3*time.Second {
		t.Errorf("measured %s, which is within the budget: the message is inconsistent", d)
	}
	if !strings.Contains(out, "left 0") {
		t.Errorf("a failed run left objects behind:\n%s", out)
	}
}

// legacySpeed is the simulator's SpeedFactor in the legacy-queue-jam cluster.
const legacySpeed = 4

// legacyScale is the legacy run's scale: 12 pods x 10 volumes, 360 replicas.
// Each 30 s resync then makes about 12 x 360 = 4,320 rate-limited enqueues
// (10 backing images, the replicas' own resync, the instance managers')
// against the 3,000 Longhorn's 100-per-second bucket grants, so the wait
// grows with every resync, as at the seed's 750 replicas. At 8 pods (2,880)
// the bucket nearly keeps up and the jam comes and goes.
var legacyScale = []string{"--set", "replicas=10"}

// startCluster starts a second local cluster, beside the shared one, with
// the Longhorn simulator in mode.
func startCluster(t *testing.T, mode string) string {
	t.Helper()
	ctx := context.Background()
	log := zerolog.New(zerolog.NewTestWriter(t)).Level(zerolog.WarnLevel)
	c, err := localcluster.Start(ctx, localcluster.Options{
		Logger: log,
		Hooks:  []func(context.Context, *rest.Config) error{longhornsim.InstallCRDs},
		Addons: []localcluster.Addon{{Name: "longhorn-sim", Run: func(ctx context.Context, cfg *rest.Config) error {
			// Four times faster: the jam builds up and drains as in real
			// time (resyncs, token bucket and timings all scale), in a
			// quarter of the test time.
			return longhornsim.Run(ctx, cfg, longhornsim.Options{Mode: mode, Logger: log, SpeedFactor: legacySpeed})
		}}},
	})
	if err != nil {
		t.Fatalf("starting a %s cluster: %v", mode, err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		if err := c.Stop(ctx); err != nil {
			t.Errorf("stopping the cluster: %v", err)
		}
	})
	return c.Kubeconfig()
}
