package main

import (
	"context"
	"fmt"
	"path/filepath"
	"time"

	"github.com/scenario-runner/runner/bench"
)

// idleFor is how long the API server's background requests are counted
// before the API load runs, to subtract them.
const idleFor = 20 * time.Second

// apiLoadSuite counts the API server's requests during a wait on objects
// whose condition never holds, per tool, one after the other.
func (d *driver) apiLoadSuite(ctx context.Context) error {
	n := d.cfg.apiLoadObjects
	if err := d.kube.createConfigMaps(ctx, nsAPILoad, "apiload", n, "v0"); err != nil {
		return fmt.Errorf("preparing %d objects: %w", n, err)
	}
	defer func() { _ = d.kube.deleteAll(context.WithoutCancel(ctx), configMaps, nsAPILoad, "apiload") }()
	s := &bench.APILoadSuite{Objects: n, Seconds: d.cfg.apiLoadFor.Seconds()}
	d.res.APILoad = s

	time.Sleep(2 * time.Second)
	before, err := d.kube.scrape(ctx)
	if err != nil {
		return err
	}
	t0 := time.Now()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-time.After(idleFor):
	}
	after, err := d.kube.scrape(ctx)
	if err != nil {
		return err
	}
	delta := after.Sub(before)
	s.Idle = bench.APILoadRun{Tool: "idle (no tool)", Seconds: round3(time.Since(t0).Seconds()), Total: delta.Total(), Target: delta.ByVerb("configmaps")}

	for _, t := range d.waitTools() {
		target := bench.WaitTarget{Namespace: nsAPILoad, Label: "apiload", Want: "never"}
		c, err := t.cmd(target, d.cfg.apiLoadFor)
		if err != nil {
			return err
		}
		c.Timeout = d.cfg.apiLoadFor + time.Minute
		c.Log = d.logPath("apiload", t.name)
		before, err := d.kube.scrape(ctx)
		if err != nil {
			return err
		}
		t0 := time.Now()
		res := bench.Run(ctx, c)
		time.Sleep(time.Second) // a watch is counted when it ends
		after, err := d.kube.scrape(ctx)
		if err != nil {
			return err
		}
		delta := after.Sub(before)
		run := bench.APILoadRun{Tool: t.name, Seconds: round3(time.Since(t0).Seconds()), Total: delta.Total(),
			Target: delta.ByVerb("configmaps"), Exit: res.ExitCode, CPU: round3(res.CPU().Seconds())}
		if run.Own, err = auditCount(d.auditLog(), filepath.Base(c.Path), t0, time.Now()); err != nil {
			return fmt.Errorf("reading the audit log: %w", err)
		}
		s.Runs = append(s.Runs, run)
		d.log.Info().Str("tool", t.name).Float64("requests", run.Total).Float64("configmaps", run.TargetTotal()).Any("own", run.Own).
			Float64("cpu s", run.CPU).Msg("api load")
		if ctx.Err() != nil {
			return ctx.Err()
		}
	}
	return nil
}

// memorySuite reads the peak resident set of each tool waiting on many
// objects whose condition never holds.
func (d *driver) memorySuite(ctx context.Context) error {
	n := d.cfg.memObjects
	if err := d.kube.createConfigMaps(ctx, nsMemory, "memory", n, "v0"); err != nil {
		return fmt.Errorf("preparing %d objects: %w", n, err)
	}
	defer func() { _ = d.kube.deleteAll(context.WithoutCancel(ctx), configMaps, nsMemory, "memory") }()
	s := &bench.MemorySuite{Objects: n, Seconds: d.cfg.memFor.Seconds()}
	d.res.Memory = s
	for round := 1; round <= d.cfg.memRounds; round++ {
		for _, t := range d.waitTools() {
			target := bench.WaitTarget{Namespace: nsMemory, Label: "memory", Want: "never"}
			run, _, err := d.memoryRun(ctx, t, target, d.cfg.memFor, "", round, "memory", t.name, fmt.Sprint(round))
			if err != nil {
				return err
			}
			s.Runs = append(s.Runs, run)
			if ctx.Err() != nil {
				return ctx.Err()
			}
		}
	}
	return nil
}

// memoryRun runs t waiting for target, a condition that never holds, for
// d, and reads its peak resident set. ready, if set, is the tool's ready
// line (Result.ReadyAt).
func (d *driver) memoryRun(ctx context.Context, t waitTool, target bench.WaitTarget, dur time.Duration, ready string, round int, log ...string) (bench.MemoryRun, bench.Result, error) {
	c, err := t.cmd(target, dur)
	if err != nil {
		return bench.MemoryRun{}, bench.Result{}, err
	}
	c.Timeout, c.Ready = dur+time.Minute, ready
	c.Log = d.logPath(log...)
	res, info := d.trial(ctx, c)
	info.Round, info.Tool = round, t.name
	// The condition never holds: the right outcome is a failure at the
	// tool's own timeout.
	info.OK = res.Err == "" && !res.Killed && res.ExitCode != 0
	if info.OK {
		info.Error = ""
	} else if info.Error == "" {
		info.Error = "reported done on a condition that never holds"
	}
	run := bench.MemoryRun{Trial: info, MaxRSSMB: round3(float64(res.MaxRSS) / 1e6), Seconds: round3(res.Wall().Seconds())}
	d.log.Info().Int("round", round).Str("tool", t.name).Str("label", target.Label).Float64("max RSS MB", run.MaxRSSMB).
		Float64("cpu s", info.CPU).Str("error", info.Error).Msg("memory")
	return run, res, nil
}
