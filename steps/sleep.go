package steps

import (
	"context"
	"fmt"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/scenario-runner/runner/engine"
	"github.com/scenario-runner/runner/engine/decode"
	"github.com/scenario-runner/runner/result"
)

// SleepSpec is the YAML shape of a sleep step: a bare duration, as in
// `sleep: 5s`.
type SleepSpec struct {
	engine.Duration
}

// DecodeYAML implements decode.Unmarshaler: the step's value is the duration
// itself, not a mapping.
func (s *SleepSpec) DecodeYAML(d *decode.Decoder, n *yaml.Node) error {
	return s.Duration.DecodeYAML(d, n)
}

// Describe implements engine.Describer.
func (s *SleepSpec) Describe() string { return "sleep " + result.FormatDuration(s.Duration.Duration) }

// Build implements engine.Spec.
func (s *SleepSpec) Build(*engine.Builder) (engine.Action, error) {
	return sleepAction{d: s.Duration.Duration}, nil
}

type sleepAction struct{ d time.Duration }

// Run implements engine.Action: it waits for the duration or until ctx ends,
// whichever comes first.
func (a sleepAction) Run(ctx context.Context, _ *engine.Env) error {
	start := time.Now()
	t := time.NewTimer(a.d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("slept %s of %s: %w", result.FormatDuration(time.Since(start)), result.FormatDuration(a.d), ctx.Err())
	}
}

// Observing implements engine.Observing: a dry run skips it. The receiver
// is a value, as Build returns one (a pointer receiver here once made dry
// runs sleep).
func (sleepAction) Observing() bool { return true }
