// Command runner runs declarative Kubernetes test scenarios written as YAML
// plans. See README.md; `runner --help` lists the commands.
package main

import (
	"errors"
	"os"

	"github.com/scenario-runner/runner/cli"
	"github.com/scenario-runner/runner/engine"
	"github.com/scenario-runner/runner/kube"
)

// Exit codes, listed in the README. They are decided here and nowhere else.
const (
	exitPassed      = 0
	exitFailed      = 1
	exitInvalid     = 2
	exitUnreachable = 3
	exitInterrupted = 130
)

func main() {
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
	case errors.Is(err, kube.ErrUnreachable):
		return exitUnreachable
	default:
		return exitFailed
	}
}
