package main

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/scenario-runner/runner/bench"
)

// nsLarge is the large suite's namespace, and "large" its label. nsBase
// holds the one object of chainsaw's empty process (label "base").
const (
	nsLarge = "bench-large"
	nsBase  = "bench-large-base"
)

// largeSuite is issue 12's wait benchmarks at --large-objects ConfigMaps,
// created once with data.state "done": the peak memory of a wait on all of
// them and on none (one for chainsaw), the detection latency when the last --large-tail of
// them change, and runner's correctness at that size. kubectl is left out
// (one watch per object in turn: hours at 100,000); chainsaw runs fewer
// trials, one memory round, and no correctness checks (the wait suite has
// them).
func (d *driver) largeSuite(ctx context.Context) (err error) {
	n, m := d.cfg.largeObjects, d.cfg.largeTail
	s := &bench.LargeSuite{Objects: n, Tail: m, MemorySeconds: d.cfg.largeMemFor.Seconds(), EmptySeconds: d.cfg.memFor.Seconds(),
		NotRun: map[string]string{toolKubectl: fmt.Sprintf("not run: it watches one object after the other, ~%.2f s each, so a wait on %s objects takes ~%s",
			kubectlPerObject.Seconds(), bench.Thousands(n), roughly(time.Duration(n)*kubectlPerObject))}}
	d.res.Large = s
	var tools []waitTool
	for _, t := range d.waitTools() {
		if t.name == toolRunner || t.name == toolChainsaw {
			tools = append(tools, t)
			c, _ := t.cmd(bench.WaitTarget{Namespace: "NS", Label: "LABEL", Want: "VALUE"}, time.Minute)
			d.res.Commands[t.name] = c.String()
		}
	}
	runner := tools[slices.IndexFunc(tools, func(t waitTool) bool { return t.name == toolRunner })]

	for _, ns := range []string{nsLarge, nsBase} {
		if err := d.kube.ensureNamespace(ctx, ns); err != nil {
			return err
		}
	}
	if err := d.kube.createConfigMaps(ctx, nsBase, "base", 1, "done"); err != nil {
		return err
	}
	t0 := time.Now()
	d.log.Info().Int("objects", n).Msg("creating the large suite's objects")
	if err := d.kube.createConfigMaps(ctx, nsLarge, "large", n, "done"); err != nil {
		return fmt.Errorf("preparing %d objects: %w", n, err)
	}
	s.CreateSeconds = round3(time.Since(t0).Seconds())
	d.log.Info().Int("objects", n).Float64("s", s.CreateSeconds).Msg("objects created")
	defer func() {
		if ctx.Err() != nil {
			return // the cluster is stopped next anyway
		}
		t := time.Now()
		if derr := d.kube.deleteAll(ctx, configMaps, nsLarge, "large"); derr != nil {
			err = errors.Join(err, fmt.Errorf("deleting the objects: %w", derr))
		}
		if derr := d.kube.deleteAll(ctx, configMaps, nsBase, "base"); derr != nil {
			err = errors.Join(err, derr)
		}
		s.DeleteSeconds = round3(time.Since(t).Seconds())
		d.log.Info().Float64("s", s.DeleteSeconds).Msg("large suite's objects deleted")
	}()

	if err := d.largeMemory(ctx, s, tools); err != nil {
		return err
	}

	// Runner's correctness at this size: the last object is not done.
	if _, err := d.kube.flip(ctx, nsLarge, n-1, n, "pending-check"); err != nil {
		return err
	}
	target := bench.WaitTarget{Namespace: nsLarge, Label: "large", Want: "done"}
	if s.Checks, err = d.correctness(ctx, runner, target, n, d.cfg.largeMemFor, true); err != nil {
		return err
	}

	// Latency: before each trial, with no tool running, the tail is set to
	// a new pending state; the tool starts, waits for "done", and is given
	// until its ready line (runner) or settle(n) (chainsaw, which has
	// none) before the tail is set to "done".
	s.Latency = bench.WaitSize{Objects: n}
	for _, t := range tools {
		s.Latency.Tools = append(s.Latency.Tools, t.name)
	}
	trials := map[string]int{toolRunner: d.cfg.largeTrials, toolChainsaw: d.cfg.largeChainsawTrials}
	version := 0
	for trial := 1; trial <= max(d.cfg.largeTrials, d.cfg.largeChainsawTrials); trial++ {
		for _, t := range tools {
			if trial > trials[t.name] {
				continue
			}
			if ctx.Err() != nil {
				return ctx.Err()
			}
			version++
			if _, err := d.kube.flip(ctx, nsLarge, n-m, n, fmt.Sprintf("pending-%d", version)); err != nil {
				return fmt.Errorf("setting the tail pending: %w", err)
			}
			fc := flipCase{target: target, n: n, from: n - m, to: n, ready: true, log: "large"}
			tr, err := d.waitTrial(ctx, fc, t, trial)
			if err != nil {
				return err
			}
			s.Latency.Trials = append(s.Latency.Trials, tr)
			d.log.Info().Int("objects", n).Int("trial", trial).Str("tool", t.name).Float64("ms", tr.LatencyMS).Float64("settle ms", tr.SettleMS).
				Float64("line ms", tr.LineMS).Float64("flip ms", tr.FlipMS).Float64("foreign cores", tr.Foreign).Str("error", tr.Error).Msg("large wait")
		}
	}
	return nil
}

// largeMemory reads each tool's peak memory waiting, with a condition that
// never holds, on none of the objects (the empty process, for --memory-for)
// and on all of them (for --large-memory-for). Runner's empty process waits
// on a label nothing has; chainsaw's error passes at once when nothing
// matches, so its empty process waits on one object (in nsBase). Runner
// runs --memory-rounds rounds, chainsaw the first only. A runner run whose
// log never showed every object is failed: its peak may predate the end of
// the list.
func (d *driver) largeMemory(ctx context.Context, s *bench.LargeSuite, tools []waitTool) error {
	for round := 1; round <= d.cfg.memRounds; round++ {
		for _, t := range tools {
			if t.name == toolChainsaw && round > 1 {
				continue
			}
			base := bench.WaitTarget{Namespace: nsLarge, Label: "nothing", Want: "never"}
			baseObjects := 0
			if t.name == toolChainsaw {
				base, baseObjects = bench.WaitTarget{Namespace: nsBase, Label: "base", Want: "never"}, 1
			}
			for _, objects := range []int{baseObjects, s.Objects} {
				target, dur, ready := base, d.cfg.memFor, ""
				if objects == s.Objects {
					target = bench.WaitTarget{Namespace: nsLarge, Label: "large", Want: "never"}
					dur, ready = d.cfg.largeMemFor, readyLine(t, objects, true)
				}
				run, res, err := d.memoryRun(ctx, t, target, dur, ready, round, "large-memory", t.name, fmt.Sprint(objects), fmt.Sprint(round))
				if err != nil {
					return err
				}
				lr := bench.LargeMemoryRun{MemoryRun: run, Objects: objects}
				switch {
				case ready == "":
				case res.ReadyAt.IsZero():
					if lr.Error == "" {
						lr.OK, lr.Error = false, fmt.Sprintf("its log never showed all %d objects in %s", objects, dur)
					}
				default:
					lr.ListedSeconds = round3(res.ReadyAt.Sub(res.Start).Seconds())
				}
				s.Memory = append(s.Memory, lr)
				if ctx.Err() != nil {
					return ctx.Err()
				}
			}
		}
	}
	return nil
}

// roughly writes a long duration the way one says it: 4.2 h, 25 min, 40 s.
func roughly(d time.Duration) string {
	switch {
	case d >= time.Hour:
		return fmt.Sprintf("%.1f h", d.Hours())
	case d >= time.Minute:
		return fmt.Sprintf("%.0f min", d.Minutes())
	}
	return fmt.Sprintf("%.0f s", d.Seconds())
}
