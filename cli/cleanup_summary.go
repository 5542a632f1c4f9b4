package cli

import (
	"fmt"
	"io"

	"github.com/scenario-runner/runner/result"
)

// printLeft lists what a plan's cleanup left, one line per object, says
// how to remove it with `runner cleanup --run ID`, and how many requests
// cleanup retried.
func printLeft(w io.Writer, runID string, c *result.Cleanup) {
	what := "left behind"
	if c.LeftUnverified {
		what = "possibly left behind"
	}
	for _, ref := range c.Left {
		fmt.Fprintf(w, "    %s: %s\n", what, ref)
	}
	if len(c.Left) > 0 && runID != "" {
		fmt.Fprintf(w, "    run %s: `runner cleanup --run %s` deletes what it left\n", runID, runID)
	}
	if c.Retried > 0 {
		fmt.Fprintf(w, "    retried %d request(s) after transient errors, the last: %s\n", c.Retried, c.LastRetried)
	}
}
