package cli

import (
	"bytes"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/scenario-runner/runner/engine"
)

var update = flag.Bool("update", false, "rewrite golden files")

// run executes the command line in the repository root and returns stdout,
// stderr and the error.
func run(t *testing.T, args ...string) (string, string, error) {
	t.Helper()
	var out, errOut bytes.Buffer
	err := Execute(args, Streams{In: strings.NewReader(""), Out: &out, Err: &errOut})
	return out.String(), errOut.String(), err
}

func golden(t *testing.T, path, got string) {
	t.Helper()
	if *update {
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test ./cli -update to create it)", err)
	}
	if got != string(want) {
		t.Errorf("output differs from %s:\n--- got ---\n%s--- want ---\n%s", path, got, want)
	}
}

// TestValidateInvalid checks every plan in testdata/invalid against the
// exact error output in its golden file, and that it is refused as invalid.
func TestValidateInvalid(t *testing.T) {
	t.Chdir("..")
	t.Setenv("KUBECONFIG", "/nonexistent/kubeconfig")
	t.Setenv("HOME", t.TempDir())
	files, err := filepath.Glob("testdata/invalid/*.yaml")
	if err != nil || len(files) == 0 {
		t.Fatalf("no fixtures: %v", err)
	}
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			stdout, stderr, err := run(t, "validate", f)
			if !errorsIsInvalid(err) {
				t.Fatalf("validate %s: want an invalid-plan error, got %v", f, err)
			}
			if stdout != "" {
				t.Errorf("stdout should be empty, got %q", stdout)
			}
			golden(t, strings.TrimSuffix(f, ".yaml")+".golden", stderr)
		})
	}
}

func errorsIsInvalid(err error) bool {
	return err != nil && (isUsage(err) || isInvalidPlan(err))
}

func isUsage(err error) bool { return bytes.Contains([]byte(err.Error()), []byte("usage error")) }

func isInvalidPlan(err error) bool {
	for _, e := range unwrapAll(err) {
		if e == engine.ErrInvalid {
			return true
		}
	}
	return false
}

func unwrapAll(err error) []error {
	out := []error{err}
	switch x := err.(type) {
	case interface{ Unwrap() []error }:
		for _, e := range x.Unwrap() {
			out = append(out, unwrapAll(e)...)
		}
	case interface{ Unwrap() error }:
		if e := x.Unwrap(); e != nil {
			out = append(out, unwrapAll(e)...)
		}
	}
	return out
}

// TestThreeErrorsAllReported makes sure errors are collected, not stopped at the first.
func TestThreeErrorsAllReported(t *testing.T) {
	t.Chdir("..")
	_, stderr, err := run(t, "validate", "testdata/invalid/three-errors.yaml")
	if err == nil {
		t.Fatal("want an error")
	}
	if n := strings.Count(stderr, "testdata/invalid/three-errors.yaml:"); n != 3 {
		t.Errorf("want 3 positioned errors, got %d:\n%s", n, stderr)
	}
}

// TestValidateWithoutCluster validates every shipped scenario and valid
// fixture with no kubeconfig anywhere.
func TestValidateWithoutCluster(t *testing.T) {
	t.Chdir("..")
	t.Setenv("KUBECONFIG", "")
	t.Setenv("HOME", t.TempDir())
	var files []string
	for _, g := range []string{"scenarios/*.yaml", "scenarios/examples/*.yaml", "testdata/valid/*.yaml"} {
		m, _ := filepath.Glob(g)
		files = append(files, m...)
	}
	if len(files) == 0 {
		t.Skip("no plans yet")
	}
	stdout, stderr, err := run(t, append([]string{"validate"}, files...)...)
	if err != nil {
		t.Fatalf("validate: %v\n%s", err, stderr)
	}
	if got := strings.Count(stdout, ": valid\n"); got != len(files) {
		t.Errorf("want %d valid lines, got:\n%s", len(files), stdout)
	}
}

// TestSchemaMatchesTypes fails when schemas/scenario.schema.json drifts from
// the Go types it is generated from (fix: make schema).
func TestSchemaMatchesTypes(t *testing.T) {
	t.Chdir("..")
	stdout, _, err := run(t, "schema")
	if err != nil {
		t.Fatal(err)
	}
	onDisk, err := os.ReadFile("schemas/scenario.schema.json")
	if err != nil {
		t.Fatal(err)
	}
	if stdout != string(onDisk) {
		t.Error("schemas/scenario.schema.json is out of date with the Go types: run `make schema`")
	}
	stdout, _, err = run(t, "schema", "--report")
	if err != nil {
		t.Fatal(err)
	}
	if onDisk, err = os.ReadFile("schemas/report.schema.json"); err != nil {
		t.Fatal(err)
	}
	if stdout != string(onDisk) {
		t.Error("schemas/report.schema.json is out of date with the Go types and the step kinds' details: run `make schema`")
	}
}

func TestUsageErrors(t *testing.T) {
	t.Chdir("..")
	for _, args := range [][]string{
		{},
		{"--no-such-flag", "x.yaml"},
		{"validate"},
		{"--cleanup", "sometimes", "testdata/valid/minimal.yaml"},
		{"--set", "novalue", "testdata/valid/minimal.yaml"},
	} {
		_, _, err := run(t, args...)
		if err == nil || !isUsage(err) {
			t.Errorf("runner %v: want a usage error, got %v", args, err)
		}
	}
}

// TestUnreachableCluster: a valid plan and no reachable cluster is exit 3,
// and the message names the server.
func TestUnreachableCluster(t *testing.T) {
	t.Chdir("..")
	dir := t.TempDir()
	kc := filepath.Join(dir, "kubeconfig")
	os.WriteFile(kc, []byte(`apiVersion: v1
kind: Config
clusters: [{name: c, cluster: {server: "https://127.0.0.1:1"}}]
users: [{name: u, user: {token: x}}]
contexts: [{name: ctx, context: {cluster: c, user: u}}]
current-context: ctx
`), 0o600)
	_, _, err := run(t, "--kubeconfig", kc, "testdata/valid/minimal.yaml")
	if err == nil || !strings.Contains(err.Error(), "cluster unreachable") || !strings.Contains(err.Error(), "https://127.0.0.1:1") || !strings.Contains(err.Error(), `"ctx"`) {
		t.Fatalf("want unreachable error naming server and context, got %v", err)
	}
}
