package cli

import (
	"bufio"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

// TestHostileInputsAreRefused runs validate on every hostile input of
// testdata/hostile (and on those the test makes: a FIFO, 50 MB of documents,
// 20,000 errors on one line, /dev/zero as --values): each is refused as
// invalid (exit 2) with the message of its golden file, before anything is
// read that should not be. Paths of this machine read $REPO and $TMP.
func TestHostileInputsAreRefused(t *testing.T) {
	t.Chdir("..")
	t.Setenv("KUBECONFIG", "/nonexistent/kubeconfig")
	repo, _ := os.Getwd()
	tmp := t.TempDir()
	made := makeHostile(t, tmp)

	type tc struct {
		name string
		args []string
	}
	var cases []tc
	static, _ := filepath.Glob("testdata/hostile/*.yaml")
	for _, f := range static {
		cases = append(cases, tc{strings.TrimSuffix(filepath.Base(f), ".yaml"), append(argsComment(t, f), f)})
	}
	cases = append(cases,
		tc{"fifo", []string{made["fifo"]}},
		tc{"fifo-plan", []string{made["fifo-plan"]}},
		tc{"big-manifest", []string{made["big-manifest"]}},
		tc{"many-documents", []string{made["many-documents"]}},
		tc{"many-errors", []string{made["many-errors"]}},
		tc{"big-plan", []string{made["big-plan"]}},
		tc{"plan-manifests-over-budget", []string{made["over-budget"]}},
		tc{"values-dev-zero", []string{"--values", "/dev/zero", made["plain"]}},
		tc{"values-outside-root", []string{"--values", filepath.Join(repo, "go.mod"), made["plain"]}},
		tc{"root-allows-but-proc-refused", []string{"--root", "/", made["proc-via-root"]}},
	)
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			stdout, stderr, err := run(t, append([]string{"validate"}, c.args...)...)
			if !errorsIsInvalid(err) {
				t.Fatalf("want an invalid-plan or usage error (exit 2), got %v\n%s", err, stderr)
			}
			if stdout != "" {
				t.Errorf("stdout should be empty, got %q", stdout)
			}
			got := strings.ReplaceAll(strings.ReplaceAll(stderr, tmp, "$TMP"), repo, "$REPO")
			golden(t, filepath.Join("testdata/hostile", c.name+".golden"), got)
			if len(got) > 64<<10 {
				t.Errorf("%d bytes of errors: the output is not bounded", len(got))
			}
		})
	}
}

// argsComment reads extra arguments from a first line "# args: ...".
func argsComment(t *testing.T, file string) []string {
	f, err := os.Open(file)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	s := bufio.NewScanner(f)
	if s.Scan() {
		if rest, ok := strings.CutPrefix(s.Text(), "# args: "); ok {
			return strings.Fields(rest)
		}
	}
	return nil
}

// makeHostile writes the hostile inputs too big or too special for git.
func makeHostile(t *testing.T, dir string) map[string]string {
	t.Helper()
	out := map[string]string{}
	write := func(name, body string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	plan := func(name, file string) string {
		return write(name+".yaml", fmt.Sprintf("name: %s\nsteps:\n  - apply:\n      file: %s\n", name, file))
	}
	if err := syscall.Mkfifo(filepath.Join(dir, "fifo.yaml"), 0o644); err != nil {
		t.Fatal(err)
	}
	out["fifo"] = plan("fifo-manifest", "fifo.yaml")
	out["fifo-plan"] = filepath.Join(dir, "fifo.yaml")

	var big strings.Builder
	doc := "---\napiVersion: v1\nkind: ConfigMap\nmetadata: {name: big}\ndata: {k: " + strings.Repeat("x", 1000) + "}\n"
	for big.Len() < 50<<20 {
		big.WriteString(doc)
	}
	write("big.yaml", big.String())
	out["big-manifest"] = plan("big-manifest", "big.yaml")

	var many strings.Builder
	for i := range 10_001 {
		fmt.Fprintf(&many, "---\n{apiVersion: v1, kind: ConfigMap, metadata: {name: m%d}}\n", i)
	}
	write("many.yaml", many.String())
	out["many-documents"] = plan("many-documents", "many.yaml")

	out["many-errors"] = write("many-errors.yaml", "name: many-errors\nsteps: ["+strings.Repeat("{nope: 1}, ", 20_000)+"]\n")
	out["big-plan"] = write("big-plan.yaml", "name: big-plan\nsteps:\n"+strings.Repeat("  - sleep: 1ms\n", 70_000))
	// Three files of 150,000 nodes each: each is fine, the plan is not.
	part := "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: a}\ndata: {x: [" + strings.Repeat("1,", 150_000) + "1]}\n"
	for i := range 3 {
		write(fmt.Sprintf("part%d.yaml", i), part)
	}
	out["over-budget"] = plan("over-budget", "part*.yaml")
	out["plain"] = write("plain.yaml", "name: plain\nvars: {n: 1}\nsteps:\n  - sleep: 1ms\n")
	out["proc-via-root"] = plan("proc-via-root", "/proc/self/environ")
	return out
}
