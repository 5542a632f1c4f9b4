package main

import (
	"errors"
	"fmt"
	"testing"

	"github.com/scenario-runner/runner/cli"
	"github.com/scenario-runner/runner/engine"
	"github.com/scenario-runner/runner/kube"
)

func TestExitCode(t *testing.T) {
	for _, tc := range []struct {
		err  error
		want int
	}{
		{nil, 0},
		{fmt.Errorf("%w: [a]", cli.ErrFailed), 1},
		{fmt.Errorf("%w: --x", cli.ErrUsage), 2},
		{&engine.InvalidError{File: "p.yaml"}, 2},
		{fmt.Errorf("%w: server x", kube.ErrUnreachable), 3},
		{fmt.Errorf("%w: 2 missing permission(s)", cli.ErrPreflight), 3},
		{cli.ErrInterrupted, 130},
		{errors.New("anything else"), 1},
	} {
		if got := exitCode(tc.err); got != tc.want {
			t.Errorf("exitCode(%v) = %d, want %d", tc.err, got, tc.want)
		}
	}
}
