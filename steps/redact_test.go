package steps

import (
	"bytes"
	"strings"
	"sync"
	"testing"

	"github.com/rs/zerolog"

	"github.com/scenario-runner/runner/engine"
	"github.com/scenario-runner/runner/redact"
	"github.com/scenario-runner/runner/result"
)

// One process-wide redaction set meant that a plan's messages masked the
// secrets of every plan loaded in the process, and that its own secrets
// were masked only because they were in that one set. Each run has its own
// set now: two plans side by side (--parallel, or two invocations in one
// process) each mask their own secrets, the Secret they render included,
// and leave the other's alone (it is no secret of theirs). With the one
// set, "bravo" came out masked in plan A's message once plan B had run.
func TestRunsSideBySideMaskTheirOwnSecrets(t *testing.T) {
	t.Parallel()
	const alpha, bravo = "alpha-secret-1111", "bravo-secret-2222"
	plan := func(mine, theirs string) *engine.Plan {
		return loadYAML(t, `name: side-`+mine[:5]+`
vars: {mine: `+mine+`, theirs: `+theirs+`}
steps:
  - apply:
      manifest: |
        apiVersion: v1
        kind: Secret
        metadata: {name: s}
        stringData: {password: "${{ mine }}"}
  - apply:
      manifest: |
        apiVersion: v1
        kind: ConfigMap
        metadata: {name: c}
        data: {both: "${{ mine + theirs }}"}
  - timeout: 300ms
    waitFor:
      apiVersion: v1
      kind: ConfigMap
      name: c
      condition: int(object.data.both) > 0
`)
	}
	run := func(mine, theirs string) (string, string) {
		set := redact.New()
		var logs bytes.Buffer
		res := engine.Run(t.Context(), plan(mine, theirs), engine.RunOptions{
			Cluster: newFakeCluster(t), Log: zerolog.New(set.Writer(&logs)), Cleanup: result.CleanupAlways, Redact: set,
		})
		var msgs []string
		for _, s := range res.Steps {
			msgs = append(msgs, s.Error)
		}
		if res.Outcome != result.TimedOut && res.Outcome != result.Failed {
			t.Errorf("plan %s: outcome %s, want the wait to time out", mine, res.Outcome)
		}
		return strings.Join(msgs, "\n"), logs.String()
	}
	run(bravo, alpha) // plan B has run in this process before
	var wg sync.WaitGroup
	got := map[string][2]string{}
	var mu sync.Mutex
	for _, p := range [][2]string{{alpha, bravo}, {bravo, alpha}} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			msg, logs := run(p[0], p[1])
			mu.Lock()
			got[p[0]] = [2]string{msg, logs}
			mu.Unlock()
		}()
	}
	wg.Wait()
	for _, p := range [][2]string{{alpha, bravo}, {bravo, alpha}} {
		msg, logs := got[p[0]][0], got[p[0]][1]
		if strings.Contains(msg+logs, p[0]) {
			t.Errorf("plan %s prints its own secret:\n%s\n%s", p[0], msg, logs)
		}
		if want := redact.Mask + p[1]; !strings.Contains(msg, want) {
			t.Errorf("plan %s: want %q in its message (its secret masked, the other plan's value not: it is no secret of this plan):\n%s", p[0], want, msg)
		}
	}
}
