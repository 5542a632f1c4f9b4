// Command runner runs declarative Kubernetes test scenarios written as YAML
// plans. See README.md; `runner --help` lists the commands.
package main

import (
	"errors"
	"os"
	"runtime/debug"

	"github.com/scenario-runner/runner/cli"
	"github.com/scenario-runner/runner/engine"
	"github.com/scenario-runner/runner/kube"
)

// Exit codes, listed in the README. They are decided here and nowhere else.
const (
	exitPassed      = 0
	exitFailed      = 1
	exitInvalid     = 2
	exitUnreachable = 3 // the cluster did not answer, or the preflight refused the run
	exitInterrupted = 130
)

func main() {
	// A Go fatal error (out of memory, a crash in a goroutine) exits 2 by
	// default, which here means "invalid plan, nothing touched the
	// cluster". Make it abort with SIGABRT instead (exit status 134).
	debug.SetTraceback("crash")
	err := cli.Execute(os.Args[1:], cli.Streams{In: os.Stdin, Out: os.Stdout, Err: os.Stderr})
	os.Exit(exitCode(err))
}

func exitCode(err error) int {
	switch {
	case err == nil:
		return exitPassed
	case errors.Is(err, cli.ErrInterrupted):
		return exitInterrupted
	case errors.Is(err, cli.ErrUsage), errors.Is(err, engine.ErrInvalid):
		return exitInvalid
	case errors.Is(err, kube.ErrUnreachable), errors.Is(err, cli.ErrPreflight):
		return exitUnreachable
	default:
		return exitFailed
	}
}
