package cli

import (
	"bytes"
	"context"
	"encoding/base64"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/scenario-runner/runner/localcluster/clustertest"
)

// secretPlan is a plan that puts the value of its secret variable secretVar
// into a Secret and a ConfigMap (namespaced by tag), then waits on the
// ConfigMap with a condition that fails quoting the value, until the wait
// times out: the value reaches messages, logs and the report unless masked.
func secretPlan(name, tag, secretVar, extraVars string) string {
	return fmt.Sprintf(`name: %[1]s
vars: {%[3]s%[4]s}
steps:
  - apply:
      manifest: |
        apiVersion: v1
        kind: Secret
        metadata: {name: sec-%[2]s}
        stringData: {password: "${{ %[5]s }}"}
  - apply:
      manifest: |
        apiVersion: v1
        kind: ConfigMap
        metadata: {name: cm-%[2]s}
        data: {v: "${{ %[5]s }}"}
  - timeout: 2s
    waitFor:
      apiVersion: v1
      kind: ConfigMap
      name: cm-%[2]s
      condition: int(object.data.v) > 0
`, name, tag, secretVar, extraVars, strings.SplitN(secretVar, ":", 2)[0])
}

// artefacts reads what a run wrote: stdout, stderr and the report files.
func artefacts(t *testing.T, stdout, stderr, dir string) map[string]string {
	t.Helper()
	out := map[string]string{"stdout": stdout, "stderr": stderr}
	for _, f := range []string{"report.json", "junit.xml", "report.html"} {
		data, err := os.ReadFile(filepath.Join(dir, f))
		if err != nil {
			t.Fatal(err)
		}
		out[f] = string(data)
	}
	return out
}

func noSecrets(t *testing.T, what string, outs map[string]string, secrets ...string) {
	t.Helper()
	for name, out := range outs {
		for _, s := range secrets {
			for _, form := range []string{s, base64.StdEncoding.EncodeToString([]byte(s))} {
				if strings.Contains(out, form) {
					t.Errorf("%s: %s holds the secret %q", what, name, form)
				}
			}
		}
	}
}

// TestSecretsOfPlansSideBySideLive: with one process-wide redaction set,
// plans running at the same time masked whatever any of them had loaded.
// Each run has its own set now; whatever runs beside it, no secret reaches
// stdout, stderr (JSON logs), report.json, junit.xml or report.html:
//   - one invocation, --parallel 2, two plans whose secret variables
//     (named by the rule) differ, plus a --set-secret both declare;
//   - two invocations at once in one process (cli.Execute), each with its
//     own --set-secret value and report folder.
func TestSecretsOfPlansSideBySideLive(t *testing.T) {
	kc := clustertest.Kubeconfig(t)
	t.Run("parallel 2", func(t *testing.T) {
		const alpha, bravo, shared = "alpha-Pa55word-1111", "bravo-Pa55word-2222", "shared-flag-secret-3333"
		dir := t.TempDir()
		for _, p := range []struct{ file, body string }{
			{"a.yaml", secretPlan("side-a", "pa", "dbPassword: "+alpha, ", shared: none")},
			{"b.yaml", secretPlan("side-b", "pb", "dbPassword: "+bravo, ", shared: none")},
		} {
			if err := os.WriteFile(filepath.Join(dir, p.file), []byte(p.body), 0o644); err != nil {
				t.Fatal(err)
			}
		}
		reports := t.TempDir()
		code, stdout, stderr := runBinary(t, context.Background(), "--kubeconfig", kc, "--parallel", "2", "--log-format", "json", "--log-level", "debug",
			"--report-dir", reports, "--set-secret", "shared="+shared, dir)
		if code != 1 || strings.Count(stdout, "<redacted>") < 2 {
			t.Fatalf("want exit 1 (both waits time out) and the values they read masked, got %d\n%s\n%s", code, stdout, stderr)
		}
		noSecrets(t, "--parallel 2", artefacts(t, stdout, stderr, reports), alpha, bravo, shared)
	})
	t.Run("two invocations at once", func(t *testing.T) {
		secrets := []string{"alpha-flag-secret-4444", "bravo-flag-secret-5555"}
		var wg sync.WaitGroup
		type ran struct {
			out, errOut bytes.Buffer
			err         error
			reports     string
		}
		runs := make([]*ran, len(secrets))
		for i, s := range secrets {
			plan := writePlan(t, secretPlan(fmt.Sprintf("inv-%d", i), fmt.Sprintf("inv%d", i), "pw: none", ""))
			r := &ran{reports: t.TempDir()}
			runs[i] = r
			wg.Add(1)
			go func() {
				defer wg.Done()
				r.err = Execute([]string{"--kubeconfig", kc, "--log-format", "json", "--log-level", "debug", "--report-dir", r.reports, "--set-secret", "pw=" + s, plan},
					Streams{Out: &r.out, Err: &r.errOut})
			}()
		}
		wg.Wait()
		for i, r := range runs {
			if r.err == nil || !strings.Contains(r.out.String(), "<redacted>") {
				t.Errorf("invocation %d: %v, want a failure showing the value read as <redacted>\n%s", i, r.err, r.out.String())
			}
			noSecrets(t, fmt.Sprintf("invocation %d", i), artefacts(t, r.out.String(), r.errOut.String(), r.reports), secrets...)
		}
	})
}
