package main

import (
	"context"
	"fmt"
	"path/filepath"
	"time"

	"github.com/scenario-runner/runner/bench"
)

// waitTool is one way of waiting until every labelled ConfigMap has a
// state.
type waitTool struct {
	name string
	// cmd builds the command that waits for t and gives up after timeout.
	cmd func(t bench.WaitTarget, timeout time.Duration) (bench.Cmd, error)
	// watch is the output line that says the tool is done, if it has one.
	watch string
	// ready, if set, is a substring of the output line that says the tool
	// holds every one of n objects.
	ready func(n int) string
}

const (
	toolRunner   = bench.ToolRunnerWait
	toolChainsaw = bench.ToolChainsawWait
	toolKubectl  = bench.ToolKubectlWait
)

func (d *driver) waitTools() []waitTool {
	n := 0
	return []waitTool{
		{name: toolRunner, cmd: func(t bench.WaitTarget, timeout time.Duration) (bench.Cmd, error) {
			plan, err := d.writeFile(filepath.Join("wait", t.Namespace+"-"+t.Label+".yaml"), bench.RunnerWaitPlan(t.Namespace, t.Label))
			return bench.Cmd{Path: d.cfg.runner, Args: bench.RunnerWaitArgs(d.kubeconfig, plan, t, timeout)}, err
		}, watch: `"step passed"`, ready: bench.RunnerHoldsAll},
		{name: toolChainsaw, cmd: func(t bench.WaitTarget, timeout time.Duration) (bench.Cmd, error) {
			n++
			dir := filepath.Join("wait", "chainsaw", fmt.Sprintf("%s-%d", t.Namespace, n))
			_, err := d.writeFile(filepath.Join(dir, "chainsaw-test.yaml"), bench.ChainsawWaitTest(t, timeout))
			return bench.Cmd{Path: d.cfg.chainsaw, Args: []string{"test", "--test-dir", filepath.Join(d.cfg.work, dir), "--no-color", "--parallel", "1"},
				Env: []string{"KUBECONFIG=" + d.kubeconfig}}, err
		}},
		{name: toolKubectl, cmd: func(t bench.WaitTarget, timeout time.Duration) (bench.Cmd, error) {
			return bench.Cmd{Path: d.cfg.kubectl, Args: bench.KubectlWaitArgs(d.kubeconfig, t, timeout)}, nil
		}},
	}
}

// waitSuite measures detection latency at each size, tools interleaved,
// after checking at the first size that each tool refuses to report done
// too early.
func (d *driver) waitSuite(ctx context.Context) error {
	ws := &bench.WaitSuite{}
	d.res.Wait = ws
	tools := d.waitTools()
	for _, t := range tools {
		c, _ := t.cmd(bench.WaitTarget{Namespace: "NS", Label: "LABEL", Want: "VALUE"}, time.Minute)
		d.res.Commands[t.name] = c.String()
	}
	version := 0
	for si, n := range d.cfg.waitSizes {
		ns := fmt.Sprintf("bench-wait-%d", n)
		if err := d.kube.ensureNamespace(ctx, ns); err != nil {
			return err
		}
		if err := d.kube.createConfigMaps(ctx, ns, "wait", n, "v0"); err != nil {
			return fmt.Errorf("preparing %d objects: %w", n, err)
		}
		if si == 0 {
			for _, t := range tools {
				version++
				want := fmt.Sprintf("v%d", version)
				if _, err := d.kube.flip(ctx, ns, 0, n-1, want); err != nil {
					return err
				}
				oneLeft := 5 * time.Second
				if t.name == toolKubectl {
					oneLeft = time.Duration(n)*kubectlPerObject + 10*time.Second // so that it reaches every object
				}
				checks, err := d.correctness(ctx, t, bench.WaitTarget{Namespace: ns, Label: "wait", Want: want}, n, oneLeft, false)
				if err != nil {
					return err
				}
				ws.Checks = append(ws.Checks, checks...)
			}
		}
		size := bench.WaitSize{Objects: n}
		for _, t := range tools {
			size.Tools = append(size.Tools, t.name)
		}
		for trial := 1; trial <= d.cfg.waitTrials; trial++ {
			for _, t := range tools {
				if t.name == toolKubectl && trial > d.cfg.kubectlTrials[si] {
					continue
				}
				if ctx.Err() != nil {
					ws.Sizes = append(ws.Sizes, size)
					return ctx.Err()
				}
				version++
				fc := flipCase{target: bench.WaitTarget{Namespace: ns, Label: "wait", Want: fmt.Sprintf("v%d", version)}, n: n, from: 0, to: n, log: "wait"}
				tr, err := d.waitTrial(ctx, fc, t, trial)
				if err != nil {
					ws.Sizes = append(ws.Sizes, size)
					return err
				}
				size.Trials = append(size.Trials, tr)
				d.log.Info().Int("objects", n).Int("trial", trial).Str("tool", t.name).Float64("ms", tr.LatencyMS).
					Float64("line ms", tr.LineMS).Float64("flip ms", tr.FlipMS).Float64("foreign cores", tr.Foreign).Str("error", tr.Error).Msg("wait")
			}
		}
		ws.Sizes = append(ws.Sizes, size)
		if err := d.kube.deleteAll(ctx, configMaps, ns, "wait"); err != nil {
			return err
		}
	}
	return nil
}

// settle is how long a tool gets to list and start watching n objects
// before the flip starts (runner needs ~0.3 s for 2,500).
func settle(n int) time.Duration { return time.Second + time.Duration(n)*time.Millisecond/2 }

// kubectlPerObject is what kubectl wait spends on each object in turn
// (one watch each, measured).
const kubectlPerObject = 150 * time.Millisecond

// waitTimeout is the tool's own timeout for a wait on n objects: runner
// lists 100,000 ConfigMaps in several seconds on a busy machine, kubectl
// watches one object after the other.
func (d *driver) waitTimeout(t waitTool, n int) time.Duration {
	if t.name == toolKubectl {
		return time.Duration(n)*kubectlPerObject + time.Minute
	}
	return 2*time.Minute + time.Duration(n)*time.Millisecond
}

// flipCase is one latency trial: the tool waits for target on the n
// labelled objects while the driver patches cm-(from+1)..cm-to to
// target.Want (the others already have it).
type flipCase struct {
	target   bench.WaitTarget
	n        int
	from, to int
	// ready: wait for the tool's ready line, if it has one, instead of
	// settle(n). The wait suite does not: its sizes list in well under
	// settle(n), and runner's line can come up to 30 s later.
	ready bool
	log   string // prefix of the tool logs
}

func (d *driver) waitTrial(ctx context.Context, fc flipCase, t waitTool, trial int) (bench.WaitTrial, error) {
	timeout := d.waitTimeout(t, fc.n)
	c, err := t.cmd(fc.target, timeout)
	if err != nil {
		return bench.WaitTrial{}, err
	}
	c.Timeout, c.Watch = timeout+30*time.Second, t.watch
	useReady := fc.ready && t.ready != nil
	if useReady {
		c.Ready = t.ready(fc.n)
	}
	c.Log = d.logPath(fc.log, fmt.Sprint(fc.n), t.name, fmt.Sprint(trial))
	h0 := bench.SampleHost()
	r, err := bench.Start(ctx, c)
	if err != nil {
		return bench.WaitTrial{}, err
	}
	early, notReady := false, false
	var ready <-chan struct{}
	wait := settle(fc.n)
	if useReady {
		ready, wait = r.Ready(), timeout-30*time.Second
	}
	select {
	case <-r.Done():
		early = true
	case <-ready:
	case <-time.After(wait):
		notReady = useReady
	}
	var f flipped
	var flipStart time.Time
	if !early && !notReady {
		flipStart = time.Now()
		if f, err = d.kube.flip(ctx, fc.target.Namespace, fc.from, fc.to, fc.target.Want); err != nil {
			r.Stop(3 * time.Second)
			return bench.WaitTrial{}, fmt.Errorf("flipping: %w", err)
		}
	}
	if notReady {
		r.Stop(3 * time.Second)
	}
	res := r.Wait()
	info := d.trialInfo(h0, res)
	info.Round, info.Tool = trial, t.name
	tr := bench.WaitTrial{Trial: info}
	switch {
	case early:
		tr.OK, tr.Error = false, "exited before the flip: "+info.Error
		return tr, nil
	case notReady:
		tr.OK, tr.Error = false, fmt.Sprintf("its log did not show all %d objects within %s", fc.n, wait)
		return tr, nil
	case res.End.Before(f.lastSent) && info.OK:
		// Done before the last update was even sent: wrong. (Done a little
		// before its response came back is possible: the API server
		// commits, then answers and notifies watchers at once.)
		tr.OK, tr.Error = false, "reported done before the last update was sent"
	}
	tr.LatencyMS = ms(res.End.Sub(f.last))
	tr.FlipMS = ms(f.last.Sub(flipStart))
	tr.SettleMS = ms(flipStart.Sub(res.Start))
	if !res.SeenAt.IsZero() {
		tr.LineMS = ms(res.SeenAt.Sub(f.last))
	}
	return tr, nil
}

// correctness checks that t fails while one of the n objects of target is
// not done (the caller has set them so, and gives the time the tool needs
// to see them all), and when no object has the label (a wait for "all" of
// nothing must not pass). With ready, a tool that has a ready line must
// have shown it before failing the first case, else the check proves
// nothing: it is reported as not passed, inconclusive.
func (d *driver) correctness(ctx context.Context, t waitTool, target bench.WaitTarget, n int, oneLeft time.Duration, ready bool) ([]bench.CorrectnessCheck, error) {
	none := target
	none.Label = "nothing"
	var out []bench.CorrectnessCheck
	for _, k := range []struct {
		name    string
		target  bench.WaitTarget
		timeout time.Duration
		ready   string
	}{
		{fmt.Sprintf("1 of %d objects not done", n), target, oneLeft, readyLine(t, n, ready)},
		{"no object has the label", none, 5 * time.Second, ""},
	} {
		c, err := t.cmd(k.target, k.timeout)
		if err != nil {
			return nil, err
		}
		cc := bench.CorrectnessCheck{Tool: t.name, Case: k.name}
		c.Timeout, c.Ready = k.timeout+time.Minute, k.ready
		c.Log = d.logPath("check", target.Namespace, t.name, k.name)
		res := bench.Run(ctx, c)
		cc.Exit, cc.Seconds = res.ExitCode, round3(res.Wall().Seconds())
		cc.Correct = res.Err == "" && !res.Killed && res.ExitCode != 0
		switch {
		case cc.Correct && k.ready != "" && res.ReadyAt.IsZero():
			cc.Correct, cc.Inconclusive = false, true
			cc.Detail = fmt.Sprintf("failed after %.1f s (exit %d) before its log showed all %d objects", res.Wall().Seconds(), res.ExitCode, n)
		case cc.Correct:
			cc.Detail = fmt.Sprintf("failed after %.1f s (exit %d)", res.Wall().Seconds(), res.ExitCode)
		case res.ExitCode == 0:
			cc.Detail = fmt.Sprintf("reported done after %.1f s", res.Wall().Seconds())
		default:
			cc.Detail = fmt.Sprintf("did not finish: %s", res.Err)
		}
		d.log.Info().Str("tool", t.name).Str("case", k.name).Bool("correct", cc.Correct).Str("detail", cc.Detail).Msg("correctness")
		out = append(out, cc)
	}
	return out, nil
}

// readyLine is t's ready line for n objects, if asked for and t has one.
func readyLine(t waitTool, n int, want bool) string {
	if !want || t.ready == nil {
		return ""
	}
	return t.ready(n)
}

func ms(d time.Duration) float64 { return round3(float64(d.Microseconds()) / 1000) }
