package cli

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/scenario-runner/runner/engine"
	"github.com/scenario-runner/runner/result"
)

type fakeClock struct{ t time.Time }

func (c *fakeClock) now() time.Time { return c.t }

var epoch = time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)

// ev is one thing that happens to an observer at a time (ms since epoch).
type ev struct {
	ms   int
	do   string // start, progress, tick, finish, log
	step *result.Step
	p    result.Progress
	out  result.Outcome
	err  string
	text string // for log
}

func newStep(name string) *result.Step { return &result.Step{Name: name} }

// play runs events against o with the clock c; finish sets the step's
// outcome, error and times as the engine does.
func play(t *testing.T, c *fakeClock, o engine.Observer, tick func(), logw func(string), events []ev) {
	t.Helper()
	for _, e := range events {
		c.t = epoch.Add(time.Duration(e.ms) * time.Millisecond)
		switch e.do {
		case "start":
			e.step.Start = c.t
			o.StepStarted(e.step)
		case "progress":
			e.p.Time = c.t
			o.StepProgress(e.step, e.p)
		case "tick":
			tick()
		case "finish":
			e.step.End, e.step.Outcome, e.step.Error = c.t, e.out, e.err
			if e.step.Outcome == "" {
				e.step.Outcome = result.Passed
			}
			o.StepFinished(e.step)
		case "log":
			logw(e.text)
		default:
			t.Fatalf("unknown event %q", e.do)
		}
	}
}

// TestLiveProgress checks what the live line writes, with a fake clock:
// redraws at most every 200ms, "done/total unit", a final line per
// top-level step, nested steps only when they fail, log lines kept apart.
// In the expected output ⟲ stands for "\r" plus clear-line.
func TestLiveProgress(t *testing.T) {
	apply, wait, probe, child, bad := newStep("create config maps"), newStep("every claim is Bound"), newStep("timeProbe attach"), newStep("the volume is attached"), newStep("every pod is Running")
	for _, tc := range []struct {
		name   string
		width  int
		events []ev
		want   string
	}{
		{
			name: "apply counts, throttled",
			events: []ev{
				{ms: 0, do: "start", step: apply},
				{ms: 50, do: "progress", step: apply, p: result.Progress{Done: 1, Total: 250, Unit: "applied"}},   // too soon
				{ms: 150, do: "progress", step: apply, p: result.Progress{Done: 60, Total: 250, Unit: "applied"}}, // too soon
				{ms: 210, do: "progress", step: apply, p: result.Progress{Done: 120, Total: 250, Unit: "applied"}},
				{ms: 300, do: "tick"}, // too soon
				{ms: 410, do: "tick"},
				{ms: 1500, do: "progress", step: apply, p: result.Progress{Done: 250, Total: 250, Unit: "applied"}},
				{ms: 1520, do: "finish", step: apply},
			},
			want: "⟲▶ create config maps  0.0s" +
				"⟲▶ create config maps  0.2s  120/250 applied" +
				"⟲▶ create config maps  0.4s  120/250 applied" +
				"⟲▶ create config maps  1.5s  250/250 applied" +
				"⟲✓ create config maps  1.52s  250/250 applied\n",
		},
		{
			name: "a long wait: elapsed time moves without progress; matched shown when it differs",
			events: []ev{
				{ms: 0, do: "start", step: wait},
				{ms: 100, do: "progress", step: wait, p: result.Progress{Done: 242, Total: 250, Unit: "satisfied", Matched: 250}},
				{ms: 65_000, do: "tick"},
				{ms: 66_000, do: "progress", step: wait, p: result.Progress{Done: 249, Total: 250, Unit: "satisfied", Matched: 249}},
				{ms: 70_000, do: "finish", step: wait},
			},
			want: "⟲▶ every claim is Bound  0.0s" +
				"⟲▶ every claim is Bound  1m05s  242/250 satisfied" +
				"⟲▶ every claim is Bound  1m06s  249/250 satisfied (249 matched)" +
				"⟲✓ every claim is Bound  1m10s  249/250 satisfied (249 matched)\n",
		},
		{
			name:  "nested steps: shown as probe › step, final line only when one fails",
			width: 120,
			events: []ev{
				{ms: 0, do: "start", step: probe},
				{ms: 10, do: "start", step: child},
				{ms: 900, do: "finish", step: child},
				{ms: 910, do: "start", step: child},
				{ms: 2000, do: "finish", step: child, out: result.TimedOut, err: "step timeout of 1s reached: waiting for Volume\nnot satisfied: ..."},
				{ms: 2001, do: "finish", step: probe, out: result.TimedOut, err: "step timeout of 1s reached"},
			},
			want: "⟲▶ timeProbe attach  0.0s" +
				"⟲▶ timeProbe attach › the volume is attached  0.0s" +
				"⟲▶ timeProbe attach  0.9s" +
				"⟲▶ timeProbe attach › the volume is attached  0.0s" +
				"⟲  ✗ the volume is attached  1.09s  timed-out: step timeout of 1s reached: waiting for Volume\n" +
				"⟲▶ timeProbe attach  2.0s" +
				"⟲✗ timeProbe attach  2s  timed-out: step timeout of 1s reached\n",
		},
		{
			name: "log lines clear the live line and redraw it",
			events: []ev{
				{ms: 0, do: "start", step: bad},
				{ms: 300, do: "log", text: "03:04:05 WRN something\n"},
				{ms: 400, do: "finish", step: bad, out: result.Failed, err: "boom"},
				{ms: 500, do: "log", text: "03:04:06 INF cleaning up\n"},
			},
			want: "⟲▶ every pod is Running  0.0s" +
				"⟲03:04:05 WRN something\n⟲▶ every pod is Running  0.3s" +
				"⟲✗ every pod is Running  400ms  failed: boom\n" +
				"03:04:06 INF cleaning up\n",
		},
		{
			name:  "cut to the terminal's width",
			width: 20,
			events: []ev{
				{ms: 0, do: "start", step: wait},
				{ms: 10, do: "finish", step: wait},
			},
			want: "⟲▶ every claim is B…" + "⟲✓ every claim is B…\n",
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var out bytes.Buffer
			c := &fakeClock{t: epoch}
			l := newLiveProgress(&out, c.now, tc.width)
			l.last = time.Time{}
			lw := l.logWriter()
			play(t, c, l, l.tick, func(s string) { lw.Write([]byte(s)) }, tc.events)
			l.Stop()
			got := strings.ReplaceAll(out.String(), clearLine, "⟲")
			if got != tc.want {
				t.Errorf("got\n%q\nwant\n%q", got, tc.want)
			}
		})
	}
}

// TestLogObserver checks the plain log off a terminal: progress at most
// every 10s unless complete, a change held back by that logged once the 10s
// have passed, and a heartbeat every 30s for the innermost running step
// even when its counts do not change.
func TestLogObserver(t *testing.T) {
	wait, probe, child := newStep("every claim is Bound"), newStep("timeProbe attach"), newStep("attach")
	for _, tc := range []struct {
		name   string
		events []ev
		want   []string // "level step message"
	}{
		{
			name: "a long wait with no changes still logs",
			events: []ev{
				{ms: 0, do: "start", step: wait},
				{ms: 100, do: "progress", step: wait, p: result.Progress{Done: 242, Total: 250, Unit: "satisfied", Matched: 250}},
				{ms: 5_000, do: "progress", step: wait, p: result.Progress{Done: 243, Total: 250, Unit: "satisfied", Matched: 250}}, // too soon
				{ms: 29_000, do: "tick"},
				{ms: 30_100, do: "tick"}, // 30s after the last log line
				{ms: 45_000, do: "tick"},
				{ms: 60_200, do: "tick"},
				{ms: 61_000, do: "progress", step: wait, p: result.Progress{Done: 250, Total: 250, Unit: "satisfied", Matched: 250}}, // complete
				{ms: 61_000, do: "finish", step: wait},
			},
			want: []string{
				"info every claim is Bound step started",
				"info every claim is Bound 242/250 satisfied",
				"info every claim is Bound 243/250 satisfied", // the change held back at 5s, at the first tick after 10s
				"info every claim is Bound 243/250 satisfied, still running after 1m",
				"info every claim is Bound 250/250 satisfied",
				"info every claim is Bound step passed",
			},
		},
		{
			name: "the heartbeat is for the innermost step, and says so without counts",
			events: []ev{
				{ms: 0, do: "start", step: probe},
				{ms: 0, do: "start", step: child},
				{ms: 31_000, do: "tick"},
				{ms: 32_000, do: "finish", step: child, out: result.Failed, err: "boom"},
				{ms: 32_000, do: "finish", step: probe, out: result.Failed, err: "boom"},
				{ms: 90_000, do: "tick"}, // nothing runs: nothing logged
			},
			want: []string{
				"info timeProbe attach step started",
				"info attach step started",
				"info attach still running after 31s",
				"error attach step failed",
				"error timeProbe attach step failed",
			},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var out bytes.Buffer
			c := &fakeClock{t: epoch}
			l := newLogObserver(zerolog.New(&out), false)
			l.now = c.now
			play(t, c, l, l.heartbeat, nil, tc.events)
			var got []string
			for _, line := range strings.Split(strings.TrimSpace(out.String()), "\n") {
				var m map[string]any
				if err := json.Unmarshal([]byte(line), &m); err != nil {
					t.Fatalf("%q: %v", line, err)
				}
				got = append(got, strings.Join([]string{m["level"].(string), m["step"].(string), m["message"].(string)}, " "))
			}
			if strings.Join(got, "\n") != strings.Join(tc.want, "\n") {
				t.Errorf("got\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(tc.want, "\n"))
			}
		})
	}
}

// TestObserverChoice: off a terminal, and with --log-format json, steps are
// logged, never drawn.
func TestObserverChoice(t *testing.T) {
	for _, format := range []string{"console", "json"} {
		var errOut bytes.Buffer
		o := &runOptions{streams: Streams{Err: &errOut}, logFormat: format}
		obs, _ := newObserver(o, zerolog.New(&errOut))
		obs.Stop()
		if _, ok := obs.(*logObserver); !ok {
			t.Errorf("--log-format %s off a terminal: observer %T, want *logObserver", format, obs)
		}
	}
}
