package steps

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/scenario-runner/runner/engine"
	"github.com/scenario-runner/runner/engine/eval"
	"github.com/scenario-runner/runner/result"
)

// CommandSpec is the YAML shape of a command step: a program run on the
// machine runner runs on (a cloud CLI powering a node off, kubectl drain,
// ssh node reboot). A plan with one runs only with --allow-commands.
type CommandSpec struct {
	Argv           []engine.Text          `yaml:"argv" required:"true" doc:"The program and its arguments, e.g. [kubectl, drain, node-1]; no shell unless it names one ([sh, -c, ...]). Each element may hold ${{ }}."`
	Env            map[string]engine.Text `yaml:"env" doc:"Environment variables added to runner's own (values may hold ${{ }})."`
	Dir            string                 `yaml:"dir" doc:"Working directory, relative to the plan's folder and inside it (or --root); default the plan's folder."`
	Stdin          engine.Text            `yaml:"stdin" doc:"Text given to the program's standard input, which is then closed (default: empty)."`
	ExpectExitCode engine.IntOrExpr       `yaml:"expectExitCode" doc:"The exit code the program must end with (default 0); any other fails the step."`
	Outputs        map[string]engine.Expr `yaml:"outputs" doc:"Names bound for later steps, from expressions over result: {stdout, stderr, exitCode}."`
}

// commandBinds are the names a command step's outputs see besides vars.
var commandBinds = []string{"result"}

// Describe implements engine.Describer.
func (s *CommandSpec) Describe() string {
	var argv []string
	for _, a := range s.Argv {
		argv = append(argv, a.Value)
	}
	return "command " + shorten(strings.Join(argv, " "), 60)
}

type commandAction struct {
	argv    []*eval.Template
	env     map[string]*eval.Template
	dir     string
	stdin   *eval.Template
	expect  engine.IntValue
	outputs outputs
}

// killGrace is how long a program gets between SIGTERM and SIGKILL when
// its step ends early (timeout, Ctrl-C).
const killGrace = 2 * time.Second

// Build implements engine.Spec.
func (s *CommandSpec) Build(b *engine.Builder) (engine.Action, error) {
	a := &commandAction{dir: b.Dir, env: map[string]*eval.Template{}}
	if len(s.Argv) == 0 {
		b.Errorf(b.Here(), "command needs argv: the program and its arguments as a list, e.g. [kubectl, get, nodes]")
	}
	for _, t := range s.Argv {
		a.argv = append(a.argv, b.Template(t, b.Scope()))
	}
	for k, v := range s.Env {
		if k == "" || strings.ContainsAny(k, "=\x00") {
			b.Errorf(v.Pos, "env: %q is not a variable name", k)
			continue
		}
		a.env[k] = b.Template(v, b.Scope())
	}
	if s.Dir != "" {
		if b.Root == nil {
			b.Errorf(b.Here(), "dir %q: the plan's folder cannot be read", s.Dir)
		} else if real, err := b.Root.Resolve(b.Dir, s.Dir); err != nil {
			b.Errorf(b.Here(), "dir: %v", err)
		} else if fi, err := os.Stat(real); err != nil || !fi.IsDir() {
			b.Errorf(b.Here(), "dir %q is not a folder", s.Dir)
		} else {
			a.dir = real
		}
	}
	a.stdin = b.Template(s.Stdin, b.Scope())
	a.expect = b.Int(s.ExpectExitCode, b.Scope())
	a.outputs = buildOutputsOver(b, s.Outputs, "result", map[string]any{})
	return a, nil
}

// CommandDetail is a command step's result.
type CommandDetail struct {
	Argv        []string `json:"argv"`
	Dir         string   `json:"dir"`
	ExitCode    int      `json:"exitCode"`
	Expected    int      `json:"expectedExitCode"`
	StdoutBytes int      `json:"stdoutBytes"`
	StderrTail  string   `json:"stderrTail,omitempty" doc:"The last lines of stderr when the exit code was not the expected one."`
	Killed      bool     `json:"killed,omitempty" doc:"The program was killed at the step's timeout or on Ctrl-C."`
}

// Summary implements result.Detail.
func (d *CommandDetail) Summary() string {
	if d.Killed {
		return "killed"
	}
	return fmt.Sprintf("exit %d", d.ExitCode)
}

// Properties implements result.Detail.
func (d *CommandDetail) Properties() []result.Property {
	return []result.Property{{Name: "argv", Value: strings.Join(d.Argv, " ")}, {Name: "exitCode", Value: strconv.Itoa(d.ExitCode)}}
}

// Section implements result.Sectioned: the program, where it ran, how it
// ended.
func (d *CommandDetail) Section() *result.Section {
	ended := fmt.Sprintf("exit %d (expected %d)", d.ExitCode, d.Expected)
	if d.Killed {
		ended = "killed at the step's timeout or on Ctrl-C"
	}
	facts := []result.Property{{Name: "folder", Value: d.Dir}, {Name: "ended", Value: ended}, {Name: "stdout", Value: fmt.Sprintf("%d bytes", d.StdoutBytes)}}
	if d.StderrTail != "" {
		facts = append(facts, result.Property{Name: "stderr", Value: d.StderrTail})
	}
	return &result.Section{Group: "Local commands", Note: quoteArgv(d.Argv), Facts: facts}
}

// Observing implements engine.Observing: a dry run never runs a program.
func (*commandAction) Observing() bool { return true }

// Run implements engine.Action: it starts the program in its own process
// group and kills the group when ctx ends (SIGTERM, then SIGKILL after
// killGrace).
func (a *commandAction) Run(ctx context.Context, env *engine.Env) error {
	vals := env.Values()
	det := &CommandDetail{Dir: a.dir}
	env.Result.Detail = det
	for i, t := range a.argv {
		s, err := str(t, vals)
		if err != nil {
			return fmt.Errorf("argv[%d]: %w", i, err)
		}
		det.Argv = append(det.Argv, s)
	}
	if a.expect.IsSet() {
		var err error
		if det.Expected, err = a.expect.Eval(vals); err != nil {
			return fmt.Errorf("expectExitCode: %w", err)
		}
	}
	cmd := exec.Command(det.Argv[0], det.Argv[1:]...)
	cmd.Dir = a.dir
	cmd.Env = os.Environ()
	keys := make([]string, 0, len(a.env))
	for k := range a.env {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		v, err := str(a.env[k], vals)
		if err != nil {
			return fmt.Errorf("env %s: %w", k, err)
		}
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	stdin := ""
	if a.stdin != nil {
		s, err := str(a.stdin, vals)
		if err != nil {
			return fmt.Errorf("stdin: %w", err)
		}
		stdin = s
	}
	cmd.Stdin = strings.NewReader(stdin)
	stdout, stderr := &limitedBuffer{max: maxExecOutput, what: "stdout"}, &limitedBuffer{max: maxExecOutput, what: "stderr"}
	cmd.Stdout, cmd.Stderr = stdout, stderr
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	// Wait returns once the program is gone, even if a child it left
	// behind holds its output open.
	cmd.WaitDelay = killGrace
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("starting %s: %w", quoteArgv(det.Argv), err)
	}
	waitc := make(chan error, 1)
	go func() { waitc <- cmd.Wait() }()
	var err error
	select {
	case err = <-waitc:
	case <-ctx.Done():
		det.Killed = true
		killGroup(cmd.Process.Pid, waitc)
		return fmt.Errorf("%s killed (process group %d): %w", quoteArgv(det.Argv), cmd.Process.Pid, context.Cause(ctx))
	}
	// The program is done; what it started in its group goes with it.
	_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
	var ee *exec.ExitError
	switch {
	case err == nil:
	case errors.As(err, &ee) && ee.Exited():
		det.ExitCode = ee.ExitCode()
	case errors.Is(err, exec.ErrWaitDelay):
	default:
		return fmt.Errorf("running %s: %w", quoteArgv(det.Argv), err)
	}
	det.StdoutBytes = stdout.Len()
	if err := errors.Join(stdout.err, stderr.err); err != nil {
		return err
	}
	if det.ExitCode != det.Expected {
		det.StderrTail = lastLines(stderr.String(), 5)
		msg := fmt.Sprintf("%s exited with code %d, want %d", quoteArgv(det.Argv), det.ExitCode, det.Expected)
		if det.StderrTail != "" {
			msg += "; stderr: " + det.StderrTail
		}
		return errors.New(msg)
	}
	return a.outputs.setOver(env, "result", map[string]any{"stdout": stdout.String(), "stderr": stderr.String(), "exitCode": det.ExitCode})
}

// killGroup sends SIGTERM to the process group, then SIGKILL after
// killGrace, and waits for the program.
func killGroup(pgid int, waitc <-chan error) {
	_ = syscall.Kill(-pgid, syscall.SIGTERM)
	t := time.NewTimer(killGrace)
	defer t.Stop()
	select {
	case <-waitc:
	case <-t.C:
		_ = syscall.Kill(-pgid, syscall.SIGKILL)
		<-waitc
	}
	// Children that outlived the leader's SIGTERM.
	_ = syscall.Kill(-pgid, syscall.SIGKILL)
}

var _ io.Writer = (*limitedBuffer)(nil)
