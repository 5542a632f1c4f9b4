package cli

import (
	"fmt"
	"io"
	"strings"

	"github.com/scenario-runner/runner/result"
)

var marks = map[result.Outcome]string{
	result.Passed: "ok", result.Failed: "FAIL", result.TimedOut: "TIMEOUT",
	result.Interrupted: "INTERRUPTED", result.Skipped: "skip",
}

// printResult writes a readable summary of one plan run.
func printResult(w io.Writer, r *result.Plan) {
	name := r.ID
	if name == "" {
		name = r.Name
	}
	fmt.Fprintf(w, "%s %s (%s) %s\n", strings.ToUpper(marks[r.Outcome]), name, result.FormatDuration(r.Duration()), r.File)
	printSteps(w, r.Steps, "  ")
	if r.Error != "" && !stepShowed(r.Steps) {
		fmt.Fprintf(w, "  error: %s\n", r.Error)
	}
	if c := r.Cleanup; c != nil {
		switch {
		case c.Ran:
			fmt.Fprintf(w, "  cleanup (%s): deleted %d, restored %d, left %d, changed but kept %d (%s)\n", c.Policy, len(c.Deleted), len(c.Restored), len(c.Left), len(c.Changed), result.FormatDuration(c.End.Sub(c.Start)))
		default:
			fmt.Fprintf(w, "  cleanup (%s): skipped, %d object(s) kept\n", c.Policy, len(c.Left))
		}
		printLeft(w, r.RunID, c)
		for _, ref := range c.Restored {
			fmt.Fprintf(w, "    restored: %s\n", ref)
		}
		for _, ref := range c.Changed {
			fmt.Fprintf(w, "    changed but kept: %s\n", ref)
		}
		for _, e := range c.Errors {
			fmt.Fprintf(w, "    cleanup error: %s\n", e)
		}
	}
}

func printSteps(w io.Writer, steps []*result.Step, indent string) {
	for _, s := range steps {
		detail := ""
		if s.Detail != nil {
			detail = s.Detail.Summary()
		}
		if s.Outcome == result.Skipped && s.Skip != "" {
			detail = "(" + s.Skip + ")"
		}
		took := ""
		if s.Outcome != result.Skipped {
			took = result.FormatDuration(s.Duration())
		}
		fmt.Fprintf(w, "%s%-11s %-48s %8s  %s\n", indent, marks[s.Outcome], s.Name, took, detail)
		if s.Error != "" && len(s.Steps) == 0 {
			for _, line := range strings.Split(s.Error, "\n") {
				fmt.Fprintf(w, "%s    %s\n", indent, line)
			}
		}
		printSteps(w, lastRun(s), indent+"  ")
		if s.Error != "" && len(s.Steps) > 0 && !stepShowed(lastRun(s)) { // once: where it happened
			fmt.Fprintf(w, "%s    %s\n", indent, s.Error)
		}
	}
}

// lastRun is the nested steps of s's last run: a step repeated five times
// shows one row per nested step, not five (the reports keep every run).
func lastRun(s *result.Step) []*result.Step {
	if s.Runs <= 1 {
		return s.Steps
	}
	var out []*result.Step
	for _, c := range s.Steps {
		if c.Run == s.Runs {
			out = append(out, c)
		}
	}
	return out
}

// stepShowed reports whether a step's summary line carried an error, so
// that the plan's error (the same message) is not printed again.
func stepShowed(steps []*result.Step) bool {
	for _, s := range steps {
		if s.Error != "" || stepShowed(s.Steps) {
			return true
		}
	}
	return false
}

func printTotals(w io.Writer, results []*result.Plan) {
	counts := map[result.Outcome]int{}
	for _, r := range results {
		counts[r.Outcome]++
	}
	fmt.Fprintf(w, "%d plan(s): %d passed, %d failed\n", len(results), counts[result.Passed], counts[result.Failed]+counts[result.TimedOut]+counts[result.Interrupted])
}
