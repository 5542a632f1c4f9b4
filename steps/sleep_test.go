package steps

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/scenario-runner/runner/engine"
	"github.com/scenario-runner/runner/result"
)

func TestSleep(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		plan    string
		cancel  time.Duration // cancel the run's context after this long
		want    result.Outcome
		errText string
		atLeast time.Duration
		below   time.Duration
	}{
		{name: "sleeps", plan: "- sleep: 50ms", want: result.Passed, atLeast: 50 * time.Millisecond, below: 2 * time.Second},
		{name: "step timeout", plan: "- sleep: 1h\n  timeout: 50ms", want: result.TimedOut, errText: "step timeout of 50ms reached: slept ", below: 2 * time.Second},
		{name: "interrupted", plan: "- sleep: 1h", cancel: 50 * time.Millisecond, want: result.Interrupted, errText: `step "sleep 1h": interrupted`, below: 2 * time.Second},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			ctx := t.Context()
			if tt.cancel > 0 {
				var cancel context.CancelFunc
				ctx, cancel = context.WithCancel(ctx)
				time.AfterFunc(tt.cancel, cancel)
			}
			start := time.Now()
			res := runYAML(ctx, t, newFakeCluster(t), "name: t\nsteps:\n"+tt.plan+"\n")
			took := time.Since(start)
			if res.Outcome != tt.want || !strings.Contains(res.Error, tt.errText) {
				t.Errorf("outcome %s (%s), want %s (%s)", res.Outcome, res.Error, tt.want, tt.errText)
			}
			if took < tt.atLeast || took > tt.below {
				t.Errorf("took %s", took)
			}
		})
	}
}

func TestSleepInvalid(t *testing.T) {
	t.Parallel()
	for _, v := range []string{"soon", "-1s", "{d: 1s}", "5"} {
		_, err := engine.LoadBytes("plan.yaml", []byte("name: t\nsteps:\n- sleep: "+v+"\n"), engine.LoadOptions{Registry: Kinds()})
		if err == nil || !strings.Contains(err.Error(), "expected a duration") {
			t.Errorf("sleep: %s: error %v", v, err)
		}
	}
	for in, want := range map[string]string{"1m30s": "sleep 1m30s", "2h": "sleep 2h", "1h0m5s": "sleep 1h0m5s", "10m": "sleep 10m", "250ms": "sleep 250ms"} {
		p := loadYAML(t, "name: t\nsteps:\n- sleep: "+in+"\n")
		if p.Steps[0].Name != want {
			t.Errorf("sleep: %s: name %q, want %q", in, p.Steps[0].Name, want)
		}
	}
}
