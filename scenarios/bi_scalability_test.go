package scenarios_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/rs/zerolog"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/rest"

	"github.com/scenario-runner/runner/cli"
	"github.com/scenario-runner/runner/localcluster"
	"github.com/scenario-runner/runner/longhornsim"
)

// ciScale runs the seed scenario at a scale CI can afford: 8 pods x 10
// volumes (80 volumes, 240 replicas).
var ciScale = []string{"--set", "replicas=8"}

func runScenario(t *testing.T, kubeconfig string, extra ...string) (string, error) {
	t.Helper()
	var out, errOut bytes.Buffer
	args := append([]string{"--kubeconfig", kubeconfig}, extra...)
	args = append(args, "bi-scalability.yaml")
	err := cli.Execute(args, cli.Streams{In: strings.NewReader(""), Out: &out, Err: &errOut})
	t.Logf("summary:\n%s", out.String())
	return out.String(), err
}

// TestBIScalabilityPassesOnFixedLonghorn: the simulator in its default mode
// behaves like Longhorn after the fix (1.2.3+): the scenario passes and
// leaves nothing behind. The budgets are the seed plan's own (60 s): a new
// volume attaches in about a second here, and a test must not fail because
// a shared machine is slow. It runs as a ServiceAccount bound to exactly
// what runner rbac prints for the plan.
func TestBIScalabilityPassesOnFixedLonghorn(t *testing.T) {
	dir := t.TempDir()
	out, err := runScenario(t, boundKubeconfig(t, "bi-scalability.yaml"), append(append([]string{}, ciScale...), "--report-dir", dir)...)
	if err != nil {
		t.Fatalf("want a pass, got %v", err)
	}
	if !strings.Contains(out, "OK bi-scalability") || !strings.Contains(out, "left 0") {
		t.Errorf("summary does not say passed and left nothing:\n%s", out)
	}
	// The fixed replica queue adds without rate limit: no retries.
	if retries, absent := probeMeasured(t, dir, "create-and-attach", "replicaQueueRetries"); absent || retries > 5 {
		t.Errorf("replica queue retries during create-and-attach: %.1f/s (absent %v), want about 0", retries, absent)
	}
}

// legacySpeed is the simulator's SpeedFactor in the legacy-queue-jam
// cluster: resyncs every 3.75 s, a bucket of 800 tokens a second.
const legacySpeed = 8

// jamBudget is the attach and delete budget of the legacy run.
const jamBudget = 3 * time.Second

// jamEstablished is the replica queue wait the test waits for before the
// scenario runs. Once the jam grows (see jamEnvVolumes), the wait falls by
// at most one resync period (3.75 s at legacySpeed) before the next resync
// adds more than that back, so from then on every replica enqueued waits at
// least jamEstablished - 3.75 s = 4.5 s: more than jamBudget, whatever the
// machine's speed. Creating and attaching a volume waits for its replicas at
// least once, and so does deleting one.
const jamEstablished = jamBudget + 30*time.Second/legacySpeed + 1500*time.Millisecond

// jamEnvVolumes is the legacy cluster's workload before the scenario: 100
// volumes of 3 replicas, without a backing image, beside the seed's 10
// backing images, whose files are on every disk. Each 30 s resync then asks
// the replica queue's bucket for (10 images + the replicas' own resync + the
// instance managers') x 300 = 3,600 tokens against the 3,000 it grants:
// the wait grows by 600 tokens' worth with every resync and never drains
// (0.2 s a second at any SpeedFactor). The scenario
// (--set replicas=1) adds 30 replicas: 3,960 tokens a resync.
const jamEnvVolumes = 100

var (
	volumeGVR       = schema.GroupVersionResource{Group: "longhorn.io", Version: "v1beta2", Resource: "volumes"}
	backingImageGVR = schema.GroupVersionResource{Group: "longhorn.io", Version: "v1beta2", Resource: "backingimages"}
	// probeFailureRE matches a failed step-6 assertion with its values.
	probeFailureRE = regexp.MustCompile(`assertion failed: duration < duration\((attachBudget|deleteBudget)\): duration = ([0-9.hms]+), (?:attachBudget|deleteBudget) = "3s"`)
	// failLineRE matches a summary line of a plan or step that did not pass.
	failLineRE = regexp.MustCompile(`(?m)^\s*(FAIL|TIMEOUT|INTERRUPTED)\s+(\S+)\s+(\S+)`)
)

// TestBIScalabilityCatchesTheQueueJam: the simulator in legacy-queue-jam
// mode models Longhorn issue 3242 (1.2.2). On a cluster that already runs
// the seed's backing images and 100 volumes, and whose replica queue is
// jammed (the simulator's meter says so, not the clock), the seed scenario
// must fail on its step 6, creating or deleting a volume, and say which
// assertion failed with the measured time and the budget. The outcome does
// not depend on the machine's speed: the jam is established before the
// scenario starts and only grows while it runs.
func TestBIScalabilityCatchesTheQueueJam(t *testing.T) {
	if testing.Short() {
		t.Skip("integration test")
	}
	meter := &longhornsim.Meter{}
	c := startCluster(t, longhornsim.ModeLegacyQueueJam, meter)
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Minute)
	defer cancel()
	cfg := c.RESTConfig()
	cfg.WarningHandler = rest.NoWarnings{} // Longhorn's finalizer has no path; the API server says so on every write
	dyn, err := dynamic.NewForConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	createJamEnv(ctx, t, dyn)
	t.Logf("%d volumes and 10 backing images in %v", jamEnvVolumes, time.Since(start).Round(time.Second))
	waitForJam(ctx, t, meter)

	dir := t.TempDir()
	out, err := runScenario(t, c.Kubeconfig(), "--set", "replicas=1", "--report-dir", dir,
		"--set", "attachBudget="+jamBudget.String(), "--set", "deleteBudget="+jamBudget.String())
	if !errors.Is(err, cli.ErrFailed) {
		t.Fatalf("want the scenario to fail (exit 1), got %v", err)
	}
	for _, m := range failLineRE.FindAllStringSubmatch(out, -1) {
		if m[2] != "timeProbe" && m[2] != "bi-scalability" {
			t.Errorf("%s %s %s: only step 6 (the timeProbes) may fail", m[1], m[2], m[3])
		}
	}
	failures := probeFailureRE.FindAllStringSubmatch(out, -1)
	if len(failures) == 0 {
		t.Fatalf("the failure does not name the attach or delete assertion with its values:\n%s", out)
	}
	for _, m := range failures {
		d, err := time.ParseDuration(m[2])
		if err != nil || d < jamBudget {
			t.Errorf("%s: measured %s, which is within the budget: the message is inconsistent", m[1], m[2])
		}
	}
	if !strings.Contains(out, "left 0") {
		t.Errorf("a failed run left objects behind:\n%s", out)
	}
	// The report shows the jam: every enqueue of the legacy replica queue
	// is rate-limited, and each resync makes thousands (3,960 here).
	if retries, absent := probeMeasured(t, dir, "create-and-attach", "replicaQueueRetries"); absent || retries < 100 {
		t.Errorf("replica queue retries during create-and-attach: %.1f/s (absent %v), want the jam's hundreds a second", retries, absent)
	}
}

// createJamEnv creates the seed's 10 backing images, as the seed's plan
// would (the scenario then applies over them), and jamEnvVolumes volumes
// without one, and waits until every volume has its replicas (detached).
func createJamEnv(ctx context.Context, t *testing.T, dyn dynamic.Interface) {
	t.Helper()
	for i := 1; i <= 10; i++ {
		bi := &unstructured.Unstructured{Object: map[string]any{
			"apiVersion": "longhorn.io/v1beta2", "kind": "BackingImage",
			"metadata": map[string]any{"name": fmt.Sprintf("bi-test%d", i), "namespace": longhornsim.Namespace,
				"labels": map[string]any{"runner.scenario": "bi-scalability"}},
			"spec": map[string]any{"sourceType": "download",
				"sourceParameters": map[string]any{"url": "https://longhorn-backing-image.s3-us-west-1.amazonaws.com/parrot.qcow2"}},
		}}
		if _, err := dyn.Resource(backingImageGVR).Namespace(longhornsim.Namespace).Create(ctx, bi, metav1.CreateOptions{}); err != nil {
			t.Fatalf("create backing image: %v", err)
		}
	}
	for i := 0; i < jamEnvVolumes; i++ {
		v := &unstructured.Unstructured{Object: map[string]any{
			"apiVersion": "longhorn.io/v1beta2", "kind": "Volume",
			"metadata": map[string]any{"name": fmt.Sprintf("jam-env-%03d", i), "namespace": longhornsim.Namespace,
				"labels": map[string]any{"jam-env": "true"}},
			"spec": map[string]any{"size": "33554432", "numberOfReplicas": 3, "frontend": "blockdev"},
		}}
		if _, err := dyn.Resource(volumeGVR).Namespace(longhornsim.Namespace).Create(ctx, v, metav1.CreateOptions{}); err != nil {
			t.Fatalf("create volume: %v", err)
		}
	}
	detached := 0
	err := wait.PollUntilContextTimeout(ctx, time.Second, 10*time.Minute, true, func(ctx context.Context) (bool, error) {
		vols, err := dyn.Resource(volumeGVR).Namespace(longhornsim.Namespace).List(ctx, metav1.ListOptions{LabelSelector: "jam-env=true"})
		if err != nil {
			return false, nil
		}
		detached = 0
		for _, v := range vols.Items {
			if s, _, _ := unstructured.NestedString(v.Object, "status", "state"); s == "detached" {
				detached++
			}
		}
		return detached == jamEnvVolumes, nil
	})
	if err != nil {
		t.Fatalf("waiting for %d volumes to be detached (%d are): %v", jamEnvVolumes, detached, err)
	}
}

// waitForJam waits until the simulator's legacy replica queue makes a
// replica enqueued now wait jamEstablished or more.
func waitForJam(ctx context.Context, t *testing.T, meter *longhornsim.Meter) {
	t.Helper()
	start := time.Now()
	err := wait.PollUntilContextTimeout(ctx, 100*time.Millisecond, 10*time.Minute, true, func(context.Context) (bool, error) {
		return meter.ReplicaQueueWait() >= jamEstablished, nil
	})
	if err != nil {
		t.Fatalf("the replica queue wait is %v after %v, want %v: the legacy queue does not jam", meter.ReplicaQueueWait(), time.Since(start).Round(time.Second), jamEstablished)
	}
	t.Logf("the replica queue makes a new replica wait %v, %v after the workload was in place", meter.ReplicaQueueWait().Round(100*time.Millisecond), time.Since(start).Round(time.Second))
}

// startCluster starts a second local cluster, beside the shared one, with
// the Longhorn simulator in mode, connected to meter.
func startCluster(t *testing.T, mode string, meter *longhornsim.Meter) *localcluster.Cluster {
	t.Helper()
	ctx := context.Background()
	log := zerolog.New(zerolog.NewTestWriter(t)).Level(zerolog.WarnLevel)
	c, err := localcluster.Start(ctx, localcluster.Options{
		Logger: log,
		Hooks:  []func(context.Context, *rest.Config) error{longhornsim.InstallCRDs},
		Addons: []localcluster.Addon{{Name: "longhorn-sim", Run: func(ctx context.Context, cfg *rest.Config) error {
			// Eight times faster: resyncs, the token bucket and every
			// simulated duration scale alike, so the jam grows by the same
			// wait per second as in real time, with resyncs 8 times as
			// often, and the wait it needs is reached sooner.
			return longhornsim.Run(ctx, cfg, longhornsim.Options{Mode: mode, Logger: log, SpeedFactor: legacySpeed, Meter: meter})
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
	return c
}
