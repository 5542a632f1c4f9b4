package main

import (
	"errors"
	"testing"

	"github.com/scenario-runner/runner/engine"
	"github.com/scenario-runner/runner/steps"
)

// The measure suite's plans are valid runner plans, with and without the
// measure block.
func TestMeasurePlansValidate(t *testing.T) {
	for _, m := range []bool{false, true} {
		_, err := engine.LoadBytes("probe.yaml", []byte(measurePlan(m)), engine.LoadOptions{Registry: steps.Kinds()})
		var inv *engine.InvalidError
		if errors.As(err, &inv) {
			t.Errorf("measure %v:\n%s", m, inv.Render())
		} else if err != nil {
			t.Errorf("measure %v: %v", m, err)
		}
	}
}
