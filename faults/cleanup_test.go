package faults

import (
	"fmt"
	"math/rand/v2"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

var stepStarted = regexp.MustCompile(`step started .*step=many`)

// Applies in flight when a step is cancelled leak silently: a forEach of
// 300 ConfigMaps whose 150th is invalid fails, and its cleanup deletes
// everything the step created or was creating, the summary saying so.
func TestInvalidObjectInForEachLeavesNothing(t *testing.T) {
	cs := clientset(t)
	for i := range trials(t) {
		ns := namespace(t, cs, fmt.Sprintf("faults-invalid-%d", i))
		plan := writePlan(t, manyConfigMaps("invalid-in-foreach", 300, 150))
		r := start(t, "--set", "ns="+ns, plan)
		code := r.exit(2 * time.Minute)
		_, left := cleanupCounts(t, r.stdout.String())
		n := configMaps(t, cs, ns, "cm-")
		record(t, i, code, left, n, n)
		if code != 1 {
			t.Fatalf("trial %d: exit %d, want 1\n%s", i, code, r.stdout.String())
		}
		if !strings.Contains(r.stdout.String(), `"BAD-NAME" is invalid`) {
			t.Errorf("trial %d: the summary does not name the invalid object:\n%s", i, r.stdout.String())
		}
		if left != 0 || n != 0 {
			t.Errorf("trial %d: summary says left %d, the cluster has %d ConfigMaps; want 0 and 0\n%s", i, left, n, r.stdout.String())
		}
	}
}

// SIGINT at a random point 0.05-0.8 s (FAULT_SIGINT_MAX) into an apply of 300 ConfigMaps
// exits 130 and leaves nothing: what was in flight was recorded before its
// request went out.
func TestSIGINTDuringApplyLeavesNothing(t *testing.T) {
	cs := clientset(t)
	for i := range trials(t) {
		ns := namespace(t, cs, fmt.Sprintf("faults-sigint-%d", i))
		// a pause after the apply, so that a late SIGINT (FAULT_SIGINT_MAX=10s)
		// still meets a running plan
		plan := writePlan(t, manyConfigMaps("sigint-during-apply", 300, 0)+"  - name: pause\n    sleep: 15s\n")
		r := start(t, "--set", "ns="+ns, plan)
		r.waitLine(stepStarted, time.Minute)
		after := 50*time.Millisecond + rand.N(sigintMax(t)-50*time.Millisecond)
		time.Sleep(after) // the random point of the interrupt, not a synchronisation
		r.signal(syscall.SIGINT)
		code := r.exit(2 * time.Minute)
		_, left := cleanupCounts(t, r.stdout.String())
		n := configMaps(t, cs, ns, "cm-")
		record(t, i, code, left, n, n)
		if code != 130 {
			t.Fatalf("trial %d (SIGINT after %s): exit %d, want 130\n%s", i, after, code, r.stdout.String())
		}
		if left != 0 || n != 0 {
			t.Errorf("trial %d (SIGINT after %s): summary says left %d, the cluster has %d; want 0 and 0\n%s", i, after, left, n, r.stdout.String())
		}
	}
}

// A SIGKILLed run leaves everything and no way to find it: now what it
// created carries its run id, and `runner cleanup --run ID` removes all of
// it (after a dry run that lists it).
func TestSIGKILLThenCleanupRunRemovesAll(t *testing.T) {
	cs := clientset(t)
	for i := range trials(t) {
		ns := namespace(t, cs, fmt.Sprintf("faults-sigkill-%d", i))
		// the pause keeps the run out of its own cleanup when the kill comes
		plan := writePlan(t, manyConfigMaps("sigkill-then-cleanup", 300, 0)+"  - name: pause\n    sleep: 15s\n")
		r := start(t, "--set", "ns="+ns, plan)
		id := r.waitLine(runIDLine, time.Minute)[1]
		r.waitLine(regexp.MustCompile(`applied done=[1-9]\d+ `), time.Minute)
		r.signal(syscall.SIGKILL)
		r.exit(time.Minute)
		before := configMaps(t, cs, ns, "cm-")
		if before == 0 {
			t.Fatalf("trial %d: the killed run had created nothing; the test proves nothing", i)
		}
		dry, err := exec.Command(runnerBin, "cleanup", "--run", id, "--dry-run", "--kubeconfig", kubeconfig(t)).Output()
		if err != nil {
			t.Fatalf("trial %d: cleanup --dry-run: %v\n%s", i, err, dry)
		}
		if want := fmt.Sprintf("%d object(s) match", before); !strings.Contains(string(dry), want) {
			t.Errorf("trial %d: dry run does not say %q:\n%s", i, want, lastLines(string(dry), 3))
		}
		if n := configMaps(t, cs, ns, "cm-"); n != before {
			t.Errorf("trial %d: the dry run deleted %d objects", i, before-n)
		}
		out, err := exec.Command(runnerBin, "cleanup", "--run", id, "--kubeconfig", kubeconfig(t)).CombinedOutput()
		code := 0
		if ee, ok := err.(*exec.ExitError); ok {
			code = ee.ExitCode()
		}
		n := configMaps(t, cs, ns, "cm-")
		left := -1
		if m := regexp.MustCompile(`left (\d+),`).FindStringSubmatch(string(out)); m != nil {
			left, _ = strconv.Atoi(m[1])
		}
		record(t, i, 137, left, n, n) // the run was killed; cleanup's own exit below
		if err != nil {
			t.Fatalf("trial %d: cleanup exit %d: %v\n%s", i, code, err, out)
		}
		if n != 0 {
			t.Errorf("trial %d: %d of %d ConfigMaps left after runner cleanup --run %s:\n%s", i, n, before, id, out)
		}
		if want := fmt.Sprintf("deleted %d, absent 0, left 0", before); !strings.Contains(string(out), want) {
			t.Errorf("trial %d: cleanup does not say %q:\n%s", i, want, out)
		}
	}
}

// Double Ctrl-C over-reports: a second interrupt during cleanup must list
// what is really left, one line per object, and not flood stderr with
// "context canceled".
func TestSecondInterruptListsWhatIsReallyLeft(t *testing.T) {
	cs := clientset(t)
	for i := range trials(t) {
		ns := namespace(t, cs, fmt.Sprintf("faults-twice-%d", i))
		plan := writePlan(t, manyConfigMaps("second-interrupt", 1000, 0))
		r := start(t, "--set", "ns="+ns, plan)
		id := r.waitLine(runIDLine, time.Minute)[1]
		r.waitLine(regexp.MustCompile(`applied done=[1-9]\d\d+ `), 2*time.Minute)
		r.signal(syscall.SIGINT)
		r.waitLine(regexp.MustCompile(`cleaning up`), time.Minute)
		time.Sleep(time.Duration(rand.IntN(300)) * time.Millisecond) // a random point in the cleanup
		r.signal(syscall.SIGINT)
		if code := r.exit(time.Minute); code != 130 {
			t.Fatalf("trial %d: exit %d, want 130", i, code)
		}
		out := r.stdout.String()
		_, left := cleanupCounts(t, out)
		n := configMaps(t, cs, ns, "cm-")
		if left != n {
			t.Errorf("trial %d: summary says left %d, the cluster has %d", i, left, n)
		}
		if lines := strings.Count(out, "left behind: "); lines != left {
			t.Errorf("trial %d: %d 'left behind' lines for %d left", i, lines, left)
		}
		if c := strings.Count(out+r.stderrText(), "context canceled"); c > 2 {
			t.Errorf("trial %d: %d lines say context canceled:\n%s", i, c, r.stderrText())
		}
		cl, err := exec.Command(runnerBin, "cleanup", "--run", id, "--kubeconfig", kubeconfig(t)).CombinedOutput()
		record(t, i, 130, left, n, configMaps(t, cs, ns, "cm-"))
		if err != nil {
			t.Fatalf("cleanup: %v\n%s", err, cl)
		}
	}
}

func lastLines(s string, n int) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	return strings.Join(lines[max(0, len(lines)-n):], "\n")
}
