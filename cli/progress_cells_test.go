package cli

import (
	"bytes"
	"fmt"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/scenario-runner/runner/result"
)

// screen replays what was written to a terminal: \r, erase line, cursor up
// and newlines, and returns the lines on it.
func screen(out string) []string {
	lines := []string{""}
	row := 0
	esc := regexp.MustCompile(`^\x1b\[(\d*)([AK])`)
	for i := 0; i < len(out); {
		if m := esc.FindStringSubmatch(out[i:]); m != nil {
			switch m[2] {
			case "A":
				row--
			case "K":
				lines[row] = ""
			}
			i += len(m[0])
			continue
		}
		switch out[i] {
		case '\r':
		case '\n':
			row++
			if row == len(lines) {
				lines = append(lines, "")
			}
		default:
			lines[row] += out[i : i+1]
		}
		i++
	}
	return lines
}

func TestCellsLive(t *testing.T) {
	var buf bytes.Buffer
	c := &fakeClock{t: epoch}
	l := newCellsLive(&buf, c.now, 100)
	a := l.cell("volume-attach[replicas=25]")
	b := l.cell("node-drain")
	wait := newStep("waitFor attached")
	wait.Start = epoch
	a.StepStarted(wait)
	drain := newStep("patch taint")
	drain.Start = epoch
	b.StepStarted(drain)
	c.t = epoch.Add(2 * time.Second)
	a.StepProgress(wait, result.Progress{Done: 3, Total: 5, Unit: "satisfied"})
	l.tick()
	got := screen(buf.String())
	want := []string{"▶ volume-attach[replicas=25]  waitFor attached  2.0s  3/5 satisfied", "▶ node-drain  patch taint  2.0s"}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Fatalf("screen:\n%q\nwant:\n%q", got, want)
	}
	// A log line and a failure go above the block, which is drawn again.
	fmt.Fprintln(l.logWriter(), "INF connected")
	drain.End, drain.Outcome, drain.Error = c.t, result.Failed, "forbidden\nmore"
	b.StepFinished(drain)
	l.done(b)
	l.above(func() { fmt.Fprintln(&buf, "FAIL node-drain (2s)") })
	got = screen(buf.String())
	want = []string{"INF connected", "node-drain: ✗ patch taint  2s  failed: forbidden", "FAIL node-drain (2s)", "▶ volume-attach[replicas=25]  waitFor attached  2.0s  3/5 satisfied"}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Fatalf("screen:\n%q\nwant:\n%q", got, want)
	}
	l.Stop()
	if got := screen(buf.String()); got[len(got)-1] != "" {
		t.Errorf("Stop left %q", got[len(got)-1])
	}
}
