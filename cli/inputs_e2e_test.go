package cli

import (
	"context"
	"encoding/base64"
	"os"
	"path/filepath"
	"strings"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/dynamic"

	"github.com/scenario-runner/runner/localcluster/clustertest"
)

// TestSecretsNeverPrintedLive runs a plan that applies a Secret from a
// --set-secret variable and a variable the naming rule marks secret, then
// waits on the Secret until it times out, with a condition that fails on the
// decoded value: not one secret value (plain or base64) may appear in
// stdout, stderr (JSON logs), report.json, junit.xml or report.html.
func TestSecretsNeverPrintedLive(t *testing.T) {
	kc := clustertest.Kubeconfig(t)
	const fromFlag, fromRule = "Hunter2-from-the-flag", "Pa55word-by-naming-rule"
	plan := writePlan(t, `
name: secrets
vars:
  pw: not-the-secret
  dbPassword: `+fromRule+`
steps:
  - apply:
      manifest: |
        apiVersion: v1
        kind: Secret
        metadata: {name: sec-test, labels: {suite: secrets}}
        stringData:
          password: "${{ pw }}"
          other: "${{ dbPassword }}"
          label: "${{ pw + '-' + dbPassword }}"
  - timeout: 2s
    waitFor:
      apiVersion: v1
      kind: Secret
      name: sec-test
      condition: int(fromBase64(object.data.password)) > 0 || object.data.other == "x"
`)
	reports := t.TempDir()
	code, stdout, stderr := runBinary(t, context.Background(), "--kubeconfig", kc, "--log-format", "json",
		"--report-dir", reports, "--set-secret", "pw="+fromFlag, plan)
	if code != 1 {
		t.Fatalf("want exit 1 (the wait times out), got %d\n%s\n%s", code, stdout, stderr)
	}
	if !strings.Contains(stdout, "<redacted>") {
		t.Errorf("the timeout should show the values it read as <redacted>:\n%s", stdout)
	}
	outputs := map[string]string{"stdout": stdout, "stderr": stderr}
	for _, f := range []string{"report.json", "junit.xml", "report.html"} {
		data, err := os.ReadFile(filepath.Join(reports, f))
		if err != nil {
			t.Fatal(err)
		}
		outputs[f] = string(data)
	}
	b64 := base64.StdEncoding.EncodeToString
	for name, out := range outputs {
		for _, secret := range []string{fromFlag, fromRule, b64([]byte(fromFlag)), b64([]byte(fromRule)), fromFlag + "-" + fromRule} {
			if strings.Contains(out, secret) {
				t.Errorf("%s holds the secret %q:\n%s", name, secret, out)
			}
		}
	}
	for i, line := range strings.Split(strings.TrimSpace(stderr), "\n") {
		if line != "" && !strings.HasPrefix(line, "{") {
			t.Errorf("stderr line %d is not JSON with --log-format json: %q", i+1, line)
		}
	}
}

// TestHostileRunsFailCleanlyLive runs plans whose hostility only shows when
// they run: each fails its step (exit 1, not 2 and not a crash) with a clear
// error, and the cleanup deletes what the step before created.
func TestHostileRunsFailCleanlyLive(t *testing.T) {
	kc := clustertest.Kubeconfig(t)
	dyn := dynamic.NewForConfigOrDie(clustertest.Config(t))
	first := `
  - apply:
      manifest: |
        apiVersion: v1
        kind: ConfigMap
        metadata: {name: hostile-first, labels: {suite: hostile}}
`
	for _, tc := range []struct {
		name, steps, want string
		args              []string
	}{
		{"foreach-million", `
  - apply:
      forEach: 1..999999
      manifest: |
        apiVersion: v1
        kind: ConfigMap
        metadata: {name: "m-${{ item }}"}
`, "forEach: 999999 elements, more than maxItems (100000)", nil},
		{"replace-10gb", `
  - apply:
      manifest: |
        apiVersion: v1
        kind: ConfigMap
        metadata: {name: big}
        data: {x: "${{ replace(repeat('a', 100000), 'a', repeat('b', 100000)) }}"}
`, "memory limit exceeded", nil},
		{"template-per-item", `
  - apply:
      forEach: 1..1000
      manifest: |
        apiVersion: v1
        kind: ConfigMap
        metadata: {name: "t-${{ item }}"}
        data: {x: "${{ repeat('a', 900000) }}"}
`, "memory limit exceeded", nil},
		{"set-5x-as-integer", `
  - apply:
      forEach: 1..2
      parallel: ${{ n }}
      manifest: |
        apiVersion: v1
        kind: ConfigMap
        metadata: {name: "p-${{ item }}"}
`, "n: expected an integer, got string (5x)", []string{"--set", "n=5x"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			plan := writePlan(t, "name: "+tc.name+"\nvars: {n: 1}\nsteps:"+first+tc.steps)
			args := append([]string{"--kubeconfig", kc}, tc.args...)
			code, stdout, stderr := runBinary(t, context.Background(), append(args, plan)...)
			if code != 1 {
				t.Fatalf("want exit 1, got %d\nstdout:\n%s\nstderr:\n%s", code, stdout, stderr)
			}
			if !strings.Contains(stdout, tc.want) {
				t.Errorf("stdout does not say %q:\n%s", tc.want, stdout)
			}
			l, err := dyn.Resource(configMapsGVR).Namespace("default").List(context.Background(), metav1.ListOptions{LabelSelector: "suite=hostile"})
			if err != nil {
				t.Fatal(err)
			}
			if len(l.Items) != 0 {
				t.Errorf("cleanup left %d objects\n%s", len(l.Items), stdout)
			}
		})
	}
}
