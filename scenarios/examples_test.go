package scenarios_test

import (
	"bytes"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/scenario-runner/runner/cli"
	"github.com/scenario-runner/runner/localcluster/clustertest"
)

// examplePlans lists scenarios/examples/*.yaml.
func examplePlans(t *testing.T) []string {
	t.Helper()
	files, err := filepath.Glob(filepath.Join("examples", "*.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	if len(files) < 3 {
		t.Fatalf("want at least 3 example plans in scenarios/examples, found %d", len(files))
	}
	return files
}

// TestExamplesValid validates every example plan, without a cluster.
func TestExamplesValid(t *testing.T) {
	for _, f := range examplePlans(t) {
		t.Run(strings.TrimSuffix(filepath.Base(f), ".yaml"), func(t *testing.T) {
			var out, errOut bytes.Buffer
			if err := cli.Execute([]string{"validate", f}, cli.Streams{Out: &out, Err: &errOut}); err != nil {
				t.Fatalf("runner validate %s: %v\n%s", f, err, errOut.String())
			}
		})
	}
}

// TestExamplesSchemaHeader checks that every example names the schema, so
// editors complete and check it.
func TestExamplesSchemaHeader(t *testing.T) {
	const header = "# yaml-language-server: $schema=../../schemas/scenario.schema.json\n"
	for _, f := range examplePlans(t) {
		data := readFile(t, f)
		if !strings.HasPrefix(data, header) {
			t.Errorf("%s does not start with %q", f, header)
		}
	}
}

// cleanedUp matches the summary line of a run whose cleanup left nothing.
var cleanedUp = regexp.MustCompile(`(?m)^  cleanup \(always\): deleted \d+, restored \d+, left 0, changed but kept 0 `)

// TestExamples runs every example plan on the shared local cluster, in
// process, as a ServiceAccount bound to exactly what runner rbac prints
// for it (the preflight on): each must pass and its cleanup must leave
// nothing behind.
func TestExamples(t *testing.T) {
	clustertest.Kubeconfig(t)
	for _, f := range examplePlans(t) {
		t.Run(strings.TrimSuffix(filepath.Base(f), ".yaml"), func(t *testing.T) {
			if filepath.ToSlash(f) == stayReadyPlan {
				t.Skip("4.5 minutes: run by TestClusterStaysReady")
			}
			if filepath.ToSlash(f) == dataIntegrityPlan && os.Geteuid() != 0 {
				t.Skip("its exec steps need root on the local cluster (localcluster/podexec)")
			}
			kc := boundKubeconfig(t, f)
			var out, errOut bytes.Buffer
			err := cli.Execute([]string{"--kubeconfig", kc, "--log-level", "warn", f}, cli.Streams{Out: &out, Err: &errOut})
			if err != nil {
				t.Fatalf("runner %s: %v\nstdout:\n%s\nstderr:\n%s", f, err, out.String(), errOut.String())
			}
			if !cleanedUp.MatchString(out.String()) {
				t.Fatalf("runner %s: the summary does not say the cleanup left nothing:\n%s", f, out.String())
			}
			t.Logf("runner %s:\n%s", f, out.String())
		})
	}
}

func readFile(t *testing.T, name string) string {
	t.Helper()
	data, err := os.ReadFile(name)
	if err != nil {
		t.Fatal(err)
	}
	return string(data)
}
