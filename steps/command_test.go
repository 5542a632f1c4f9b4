package steps

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/scenario-runner/runner/engine"
	"github.com/scenario-runner/runner/result"
)

// loadFile writes plan into a fresh folder (with a subfolder sub/) and
// loads it.
func loadFile(t *testing.T, plan string) (*engine.Plan, error) {
	t.Helper()
	dir := t.TempDir()
	if err := os.Mkdir(filepath.Join(dir, "sub"), 0o755); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "plan.yaml")
	if err := os.WriteFile(path, []byte(plan), 0o644); err != nil {
		t.Fatal(err)
	}
	return engine.Load(path, engine.LoadOptions{Registry: Kinds()})
}

func TestCommand(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name, steps string
		err         string
		outcome     result.Outcome
	}{
		{name: "stdout and outputs", steps: `
- command:
    argv: [sh, -c, 'echo "hello ${{ who }}"; echo warn >&2']
    outputs: {out: result.stdout, err: result.stderr, code: result.exitCode}
- assert: ['out == "hello world\n"', 'err == "warn\n"', 'code == 0']
`},
		{name: "no shell unless named", steps: `
- command:
    argv: [echo, '$HOME; ls']
    outputs: {out: result.stdout}
- assert: ['out == "$HOME; ls\n"']
`},
		{name: "env, dir and stdin", steps: `
- command:
    argv: [sh, -c, 'echo "$GREETING $(basename "$PWD") $(cat)"']
    env: {GREETING: "hi ${{ who }}"}
    dir: sub
    stdin: from stdin
    outputs: {out: result.stdout}
- assert: ['out == "hi world sub from stdin\n"']
`},
		{name: "a non-zero exit fails with the code and stderr", steps: `
- command: {argv: [sh, -c, 'echo one >&2; echo two >&2; exit 4']}
`, outcome: result.Failed, err: `[sh -c "echo one >&2; echo two >&2; exit 4"] exited with code 4, want 0; stderr: one | two`},
		{name: "an expected exit code", steps: `
- command:
    argv: [sh, -c, 'exit 4']
    expectExitCode: 4
    outputs: {code: result.exitCode}
- assert: ['code == 4']
`},
		{name: "a missing program", steps: `
- command: {argv: [no-such-program-here]}
`, outcome: result.Failed, err: `starting [no-such-program-here]: exec: "no-such-program-here": executable file not found in $PATH`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			p, err := loadFile(t, "name: t\nvars: {who: world}\nsteps:\n"+tc.steps)
			if err != nil {
				t.Fatal(err)
			}
			res := engine.Run(t.Context(), p, engine.RunOptions{Cluster: newFakeCluster(t), Log: zerolog.Nop(), AllowLocal: true})
			want := tc.outcome
			if want == "" {
				want = result.Passed
			}
			if res.Outcome != want || !strings.Contains(res.Error, tc.err) {
				t.Fatalf("outcome %s, error %q; want %s with %q", res.Outcome, res.Error, want, tc.err)
			}
		})
	}
}

// TestCommandTimeoutKillsGroup: at the step's timeout the program and what
// it started are killed, and the step says so.
func TestCommandTimeoutKillsGroup(t *testing.T) {
	t.Parallel()
	marker := fmt.Sprintf("%d.75", 3000+time.Now().UnixNano()%1000)
	p, err := loadFile(t, fmt.Sprintf("name: t\nsteps:\n- timeout: 500ms\n  command: {argv: [sh, -c, 'sleep %s & sleep %s; echo never']}\n", marker, marker))
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	res := engine.Run(t.Context(), p, engine.RunOptions{Cluster: newFakeCluster(t), Log: zerolog.Nop(), AllowLocal: true})
	if res.Outcome != result.TimedOut || !strings.Contains(res.Error, "killed (process group") {
		t.Fatalf("outcome %s: %s", res.Outcome, res.Error)
	}
	if took := time.Since(start); took > 4*time.Second {
		t.Errorf("took %s", took)
	}
	if left := processesWith(marker); len(left) > 0 {
		t.Errorf("left running: %v", left)
	}
	if d, ok := res.Steps[0].Detail.(*CommandDetail); !ok || !d.Killed {
		t.Errorf("detail %#v, want killed", res.Steps[0].Detail)
	}
}

// TestCommandNotAllowed: a plan with a command step names it for the
// refusal, and the engine does not run it unless allowed; a dry run skips it.
func TestCommandNotAllowed(t *testing.T) {
	t.Parallel()
	flag := filepath.Join(t.TempDir(), "ran")
	plan := "name: t\nsteps:\n- timeProbe:\n    name: p\n    steps:\n      - command: {argv: [touch, " + flag + "]}\n"
	p, err := loadFile(t, plan)
	if err != nil {
		t.Fatal(err)
	}
	var inv *engine.InvalidError
	if err := p.RefuseLocal(); !errors.As(err, &inv) || !strings.Contains(inv.Render(), "plan.yaml:6:9: this command step runs a program on this machine: runner runs it only with --allow-commands") {
		t.Fatalf("RefuseLocal: %v", err)
	}
	res := engine.Run(t.Context(), p, engine.RunOptions{Cluster: newFakeCluster(t), Log: zerolog.Nop()})
	if res.Outcome != result.Failed || !strings.Contains(res.Error, "--allow-commands") {
		t.Errorf("outcome %s: %s", res.Outcome, res.Error)
	}
	res = engine.Run(t.Context(), p, engine.RunOptions{Cluster: newFakeCluster(t), Log: zerolog.Nop(), DryRun: true})
	if res.Outcome != result.Passed {
		t.Errorf("dry run: outcome %s: %s", res.Outcome, res.Error)
	}
	if _, err := os.Stat(flag); err == nil {
		t.Error("the command ran")
	}
	q, err := loadFile(t, "name: t\nsteps:\n- sleep: 1s\n")
	if err != nil || q.RefuseLocal() != nil {
		t.Errorf("a plan without commands: %v, %v", err, q.RefuseLocal())
	}
}

func TestCommandInvalid(t *testing.T) {
	t.Parallel()
	for plan, want := range map[string]string{
		"- command: {argv: []}\n":                          "command needs argv",
		"- command: {argv: [ls], dir: ..}\n":               "outside",
		"- command: {argv: [ls], dir: missing}\n":          "no such file or directory",
		"- command: {argv: [ls], outputs: {x: objects}}\n": "unknown name objects",
	} {
		_, err := loadFile(t, "name: t\nsteps:\n"+plan)
		var inv *engine.InvalidError
		if !errors.As(err, &inv) || !strings.Contains(inv.Render(), want) {
			t.Errorf("%s: got %v, want %q", plan, err, want)
		}
	}
}

// processesWith lists the processes whose command line holds marker.
func processesWith(marker string) []string {
	var out []string
	procs, _ := filepath.Glob("/proc/[0-9]*/cmdline")
	for _, p := range procs {
		b, _ := os.ReadFile(p)
		if strings.Contains(string(b), marker) {
			out = append(out, p)
		}
	}
	return out
}
