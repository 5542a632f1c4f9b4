package steps

import (
	"context"
	"errors"
	"io"
	"strings"
	"sync"
	"testing"

	"github.com/rs/zerolog"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/scenario-runner/runner/engine"
	"github.com/scenario-runner/runner/kube"
	"github.com/scenario-runner/runner/result"
)

// execCluster is a fake cluster whose exec runs a Go function per pod.
type execCluster struct {
	*fakeCluster
	mu   sync.Mutex
	reqs []kube.ExecRequest
	run  func(r kube.ExecRequest, stdin string) (stdout, stderr string, code int, err error)
}

func (c *execCluster) Exec(ctx context.Context, r kube.ExecRequest) (int, error) {
	in := ""
	if r.Stdin != nil {
		b, _ := io.ReadAll(r.Stdin)
		in = string(b)
	}
	c.mu.Lock()
	c.reqs = append(c.reqs, r)
	c.mu.Unlock()
	out, errOut, code, err := c.run(r, in)
	if _, werr := io.WriteString(r.Stdout, out); werr != nil {
		return 0, werr
	}
	io.WriteString(r.Stderr, errOut)
	return code, err
}

func TestExec(t *testing.T) {
	t.Parallel()
	// md5 prints the pod and its node; "fail" exits 3 with a message;
	// "cat" echoes stdin; "big" writes more than the step keeps.
	run := func(r kube.ExecRequest, stdin string) (string, string, int, error) {
		switch r.Command[0] {
		case "md5":
			return "sum-of-" + r.Pod + "\n", "", 0, nil
		case "fail":
			return "", "line 1\nline 2\nmd5sum: /data/file: No such file or directory\n", 3, nil
		case "cat":
			return stdin, "", 0, nil
		case "container":
			return r.Container, "", 0, nil
		case "big":
			return strings.Repeat("x", maxExecOutput+1), "", 0, nil
		case "broken":
			return "", "", 0, errors.New("upgrade request required")
		}
		return "", "", 127, nil
	}
	cases := []struct {
		name  string
		steps string
		// want is an assertion over the outputs that must hold; err a
		// substring of the failure.
		want, err string
		pods      int
	}{
		{name: "one pod by name", steps: `
- exec: {name: web-a, command: [md5]}
  name: x
`, pods: 1},
		{name: "outputs over results", steps: `
- exec:
    name: web-a
    command: [md5]
    outputs:
      sum: trim(results[0].stdout)
      node: results[0].node
      code: results[0].exitCode
- assert: ['sum == "sum-of-web-a"', 'node == "node-web-a"', 'code == 0']
`, pods: 1},
		{name: "all pods of a selector", steps: `
- exec:
    labelSelector: app=web
    all: true
    command: [md5]
    outputs:
      pods: map(results, .pod)
      sums: map(results, trim(.stdout))
- assert: ['pods == ["web-a", "web-b", "web-c"]', 'sums[2] == "sum-of-web-c"']
`, pods: 3},
		{name: "a selector matching several without all", steps: `
- exec: {labelSelector: app=web, command: [md5]}
`, err: "3 pods match", pods: 0},
		{name: "nothing matched", steps: `
- exec: {labelSelector: app=none, all: true, command: [md5]}
`, err: "no pod matches", pods: 0},
		{name: "non-zero exit fails with pod, command, code and stderr", steps: `
- exec: {name: web-b, command: [fail, "/data/my file"]}
`, err: `pod default/web-b (node node-web-b): [fail "/data/my file"] exited with code 3, want 0; stderr: line 1 | line 2 | md5sum: /data/file: No such file or directory`, pods: 1},
		{name: "expected exit code", steps: `
- exec:
    name: web-b
    command: [fail]
    expectExitCode: 3
    outputs: {err: "results[0].stderr"}
- assert: ['err contains "No such file"']
`, pods: 1},
		{name: "stdin", steps: `
- exec: {name: web-a, command: [cat], stdin: "hello ${{ 1 + 1 }}", outputs: {out: "results[0].stdout"}}
- assert: ['out == "hello 2"']
`, pods: 1},
		{name: "the first container by default", steps: `
- exec: {name: web-a, command: [container], outputs: {c: "results[0].stdout"}}
- exec: {name: web-a, container: side, command: [container], outputs: {c2: "results[0].stdout"}}
- assert: ['c == "app"', 'c2 == "side"']
`, pods: 2},
		{name: "forEach", steps: `
- exec: {forEach: '["a", "c"]', as: p, name: "web-${{ p }}", command: [md5], outputs: {n: len(results)}}
- assert: ['n == 2']
`, pods: 2},
		{name: "output over the limit", steps: `
- exec: {name: web-a, command: [big]}
`, err: "stdout over 4 MiB", pods: 1},
		{name: "a stream error", steps: `
- exec: {name: web-a, command: [broken]}
`, err: "exec in pod default/web-a: upgrade request required", pods: 1},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			cl := &execCluster{fakeCluster: newFakeCluster(t, newPod("web-c"), newPod("web-a"), newPod("web-b")), run: run}
			p := loadYAML(t, "name: t\nsteps:\n"+tc.steps)
			res := engine.Run(t.Context(), p, engine.RunOptions{Cluster: cl, Log: zerolog.Nop()})
			switch {
			case tc.err == "" && res.Outcome != result.Passed:
				t.Fatalf("outcome %s: %s", res.Outcome, res.Error)
			case tc.err != "" && !strings.Contains(res.Error, tc.err):
				t.Fatalf("error %q, want it to contain %q", res.Error, tc.err)
			}
			if len(cl.reqs) != tc.pods {
				t.Errorf("%d execs, want %d", len(cl.reqs), tc.pods)
			}
		})
	}
}

// TestExecNoExecer: a cluster connection that cannot exec says so.
func TestExecNoExecer(t *testing.T) {
	t.Parallel()
	cl := newFakeCluster(t, newPod("web-a"))
	p := loadYAML(t, "name: t\nsteps:\n- exec: {name: web-a, command: [md5]}\n")
	res := engine.Run(t.Context(), p, engine.RunOptions{Cluster: cl, Log: zerolog.Nop()})
	if !strings.Contains(res.Error, "cannot exec") {
		t.Fatalf("error %q", res.Error)
	}
}

func TestExecInvalid(t *testing.T) {
	t.Parallel()
	cases := map[string]string{
		"- exec: {command: [true]}\n":                                "exec needs name, labelSelector or fieldSelector",
		"- exec: {name: a}\n":                                        `missing required key "command"`,
		"- exec: {name: a, labelSelector: x=y, command: [true]}\n":   "give either name or selectors",
		"- exec: {labelSelector: 'a in (', command: [true]}\n":       "invalid label selector",
		"- exec: {name: a, command: [true], outputs: {x: nope}}\n":   "unknown name nope",
		"- exec: {name: a, command: [true], expectExitCode: many}\n": "unknown name many",
	}
	for plan, want := range cases {
		_, err := engine.LoadBytes("plan.yaml", []byte("name: t\nsteps:\n"+plan), engine.LoadOptions{Registry: Kinds()})
		var inv *engine.InvalidError
		if !errors.As(err, &inv) || !strings.Contains(inv.Render(), want) {
			t.Errorf("%s: got %v, want %q", plan, err, want)
		}
	}
}

func TestLastLines(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]string{
		"":                   "",
		"a\n\nb\n":           "a | b",
		"1\n2\n3\n4\n5\n6\n": "2 | 3 | 4 | 5 | 6",
	} {
		if got := lastLines(in, 5); got != want {
			t.Errorf("lastLines(%q) = %q, want %q", in, got, want)
		}
	}
}

// newPod is a pod in default labelled app=web with two containers.
func newPod(name string) *unstructured.Unstructured {
	return object(map[string]any{
		"apiVersion": "v1", "kind": "Pod",
		"metadata": map[string]any{"name": name, "namespace": "default", "labels": map[string]any{"app": "web"}},
		"spec": map[string]any{"nodeName": "node-" + name, "containers": []any{
			map[string]any{"name": "app", "image": "x"}, map[string]any{"name": "side", "image": "x"},
		}},
	})
}

// TestExecDetail: the summary, properties and report section of an exec
// step say each pod's exit code.
func TestExecDetail(t *testing.T) {
	t.Parallel()
	d := &ExecDetail{Command: []string{"md5sum", "/data/my file"}, Expected: 0, Pods: []ExecResult{
		{Pod: "a", Namespace: "ns", Node: "node-1", Container: "app", ExitCode: 0, StdoutBytes: 44},
		{Pod: "b", Namespace: "ns", Node: "node-2", Container: "app", ExitCode: 1, StderrTail: "no such file"},
	}}
	if got := d.Summary(); got != "2 pod(s), 1 with another exit code than 0" {
		t.Errorf("summary %q", got)
	}
	sec := d.Section()
	if sec.Note != `[md5sum "/data/my file"]` || len(sec.Facts) != 2 || sec.Facts[1].Value != "exit 1 on node-2, 0 bytes of stdout; stderr: no such file" {
		t.Errorf("section %+v", sec)
	}
	if props := d.Properties(); len(props) != 3 || props[2].Name != "exit.ns/b" || props[2].Value != "1" {
		t.Errorf("properties %+v", props)
	}
}
