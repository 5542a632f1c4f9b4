package cli

import (
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/scenario-runner/runner/engine"
)

var marks = map[engine.Outcome]string{
	engine.Passed: "ok", engine.Failed: "FAIL", engine.TimedOut: "TIMEOUT",
	engine.Interrupted: "INTERRUPTED", engine.Skipped: "skip",
}

// printResult writes a readable summary of one plan run.
func printResult(w io.Writer, r *engine.Result) {
	fmt.Fprintf(w, "%s %s (%s) %s\n", strings.ToUpper(marks[r.Outcome]), r.Name, round(r.Duration()), r.File)
	printSteps(w, r.Steps, "  ")
	if r.Error != "" {
		fmt.Fprintf(w, "  error: %s\n", r.Error)
	}
	if c := r.Cleanup; c != nil {
		switch {
		case c.Ran:
			fmt.Fprintf(w, "  cleanup (%s): deleted %d, left %d, changed but kept %d (%s)\n", c.Policy, len(c.Deleted), len(c.Left), len(c.Changed), round(c.End.Sub(c.Start)))
		default:
			fmt.Fprintf(w, "  cleanup (%s): skipped, %d object(s) kept\n", c.Policy, len(c.Left))
		}
		for _, ref := range c.Left {
			fmt.Fprintf(w, "    left behind: %s\n", ref)
		}
		for _, e := range c.Errors {
			fmt.Fprintf(w, "    cleanup error: %s\n", e)
		}
	}
}

func printSteps(w io.Writer, steps []*engine.StepResult, indent string) {
	for _, s := range steps {
		detail := ""
		switch {
		case s.Wait != nil:
			detail = fmt.Sprintf("%d/%d satisfied, %d matched", s.Wait.Satisfied, s.Wait.Needed, s.Wait.Matched)
			if s.Wait.Satisfied > s.Wait.Needed {
				detail = fmt.Sprintf("%d satisfied (needed %d), %d matched", s.Wait.Satisfied, s.Wait.Needed, s.Wait.Matched)
			}
		case s.Apply != nil && s.Kind == "delete":
			detail = fmt.Sprintf("%d deleted", s.Apply.Deleted)
		case s.Apply != nil:
			detail = fmt.Sprintf("%d/%d applied (%d created, %d changed)", s.Apply.Created+s.Apply.Changed, s.Apply.Objects, s.Apply.Created, s.Apply.Changed)
		case s.Probe != nil:
			detail = probeDetail(s.Probe)
		}
		took := ""
		if s.Outcome != engine.Skipped {
			took = round(s.Duration()).String()
		}
		fmt.Fprintf(w, "%s%-11s %-48s %8s  %s\n", indent, marks[s.Outcome], s.Name, took, detail)
		if s.Error != "" && len(s.Steps) == 0 {
			for _, line := range strings.Split(s.Error, "\n") {
				fmt.Fprintf(w, "%s    %s\n", indent, line)
			}
		}
		printSteps(w, s.Steps, indent+"  ")
		if s.Error != "" && len(s.Steps) > 0 {
			fmt.Fprintf(w, "%s    %s\n", indent, s.Error)
		}
	}
}

func probeDetail(p *engine.ProbeResult) string {
	var parts []string
	for _, k := range []string{"min", "p50", "p90", "max"} {
		if v, ok := p.Stats[k]; ok {
			parts = append(parts, k+" "+v)
		}
	}
	return fmt.Sprintf("%d sample(s): %s", len(p.Samples), strings.Join(parts, ", "))
}

func printTotals(w io.Writer, results []*engine.Result) {
	counts := map[engine.Outcome]int{}
	for _, r := range results {
		counts[r.Outcome]++
	}
	fmt.Fprintf(w, "%d plan(s): %d passed, %d failed\n", len(results), counts[engine.Passed], counts[engine.Failed]+counts[engine.TimedOut]+counts[engine.Interrupted])
}

func round(d time.Duration) time.Duration {
	switch {
	case d >= time.Minute:
		return d.Round(time.Second)
	case d >= time.Second:
		return d.Round(10 * time.Millisecond)
	}
	return d.Round(time.Millisecond)
}
