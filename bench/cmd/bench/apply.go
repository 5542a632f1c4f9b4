package main

import (
	"context"
	"fmt"
	"path/filepath"
	"time"

	"k8s.io/apimachinery/pkg/runtime/schema"

	"github.com/scenario-runner/runner/bench"
)

// Namespaces of the suites (the wait suite makes one per size).
const (
	nsApply   = "bench-apply"
	nsAPILoad = "bench-apiload"
	nsMemory  = "bench-memory"
)

// applyTool is one way of applying a workload.
type applyTool struct {
	name string
	cmd  func(f applyFiles) bench.Cmd
}

// applyFiles are the generated inputs of one workload.
type applyFiles struct {
	plan        string // runner's plan
	objects     string // every object, for kubectl, chainsaw and the loop
	chainsawDir string // chainsaw's test folder (objects.yaml inside)
}

const toolChainsawApply = "chainsaw apply"

// applyTools are the apply benchmark's tools. Runner runs at its defaults
// (no --qps or --burst: no client-side limit once the API server shows it
// has priority and fairness) and, with --unthrottled, with --qps -1, to show
// what the automatic limit costs. The fixed-limit pair (runner and the loop
// at --qps 200 --burst 400, runner's old default) only measured the token
// bucket, (2,000 − 400) ÷ 200 = 8 s for 2,000 objects: it runs only when
// --qps is set.
func (d *driver) applyTools() []applyTool {
	c := d.cfg
	runner := func(limit ...string) func(applyFiles) bench.Cmd {
		return func(f applyFiles) bench.Cmd {
			args := append(append([]string{"--kubeconfig", d.kubeconfig}, limit...), "--log-format", "json", f.plan)
			return bench.Cmd{Path: c.runner, Args: args}
		}
	}
	loop := func(qps, burst string, extra ...string) func(applyFiles) bench.Cmd {
		return func(f applyFiles) bench.Cmd {
			args := append([]string{"createloop", "--kubeconfig", d.kubeconfig, "--parallel", fmt.Sprint(c.parallel), "--qps", qps, "--burst", burst}, extra...)
			return bench.Cmd{Path: d.self, Args: append(args, "-f", f.objects)}
		}
	}
	kubectl := func(extra ...string) func(applyFiles) bench.Cmd {
		return func(f applyFiles) bench.Cmd {
			args := append([]string{"--kubeconfig", d.kubeconfig, "--cache-dir", filepath.Join(c.work, "kubectl-cache"), "apply"}, extra...)
			return bench.Cmd{Path: c.kubectl, Args: append(args, "-f", f.objects)}
		}
	}
	tools := []applyTool{
		{bench.ToolRunnerDefaults, runner()},
		// Not a peer: tells the server's cost of apply from runner's own.
		{bench.ToolApplyLoop, loop("-1", "0", "--apply")},
	}
	if c.unthrottled {
		tools = append(tools,
			applyTool{"runner, no QPS limit", runner("--qps", "-1", "--burst", "0")},
			applyTool{"client-go loop, no QPS limit", loop("-1", "0")})
	}
	if c.qps > 0 {
		qps, burst := fmt.Sprint(c.qps), fmt.Sprint(c.burst)
		suffix := fmt.Sprintf(", QPS %s burst %s", qps, burst)
		tools = append(tools,
			applyTool{"runner" + suffix, runner("--qps", qps, "--burst", burst)},
			applyTool{"client-go loop" + suffix, loop(qps, burst)})
	}
	return append(tools,
		applyTool{bench.ToolKubectl, kubectl()},
		applyTool{"kubectl apply --server-side", kubectl("--server-side")},
		applyTool{toolChainsawApply, func(f applyFiles) bench.Cmd {
			return bench.Cmd{Path: c.chainsaw, Args: []string{"test", "--test-dir", f.chainsawDir, "--skip-delete", "--no-color", "--parallel", "1"},
				Env: []string{"KUBECONFIG=" + d.kubeconfig}}
		}},
	)
}

// applySuite applies each workload with every tool, tools interleaved
// within a round, deleting the objects between trials.
func (d *driver) applySuite(ctx context.Context) error {
	workloads := []struct {
		w   bench.Workload
		gvr schema.GroupVersionResource
	}{
		{bench.ConfigMaps(d.cfg.applyCM), configMaps},
		{bench.BackingImages(d.cfg.applyBI), backingImages},
	}
	tools := d.applyTools()
	files := make([]applyFiles, len(workloads))
	sets := make([]*bench.ApplySet, len(workloads))
	for i, wl := range workloads {
		w := wl.w
		var f applyFiles
		var err error
		if f.plan, err = d.writeFile(filepath.Join("apply", w.Name, "plan.yaml"), w.RunnerApplyPlan(nsApply, "apply", d.cfg.parallel)); err != nil {
			return err
		}
		if f.objects, err = d.writeFile(filepath.Join("apply", w.Name, "objects.yaml"), w.YAML(nsApply, "apply")); err != nil {
			return err
		}
		f.chainsawDir = filepath.Join(d.cfg.work, "apply", w.Name, "chainsaw")
		if _, err := d.writeFile(filepath.Join("apply", w.Name, "chainsaw", "chainsaw-test.yaml"), bench.ChainsawApplyTest("apply-"+w.Name, nsApply)); err != nil {
			return err
		}
		if _, err := d.writeFile(filepath.Join("apply", w.Name, "chainsaw", "objects.yaml"), w.YAML(nsApply, "apply")); err != nil {
			return err
		}
		files[i] = f
		set := &bench.ApplySet{Workload: w.Name, Objects: w.N}
		for _, t := range tools {
			set.Tools = append(set.Tools, t.name)
			d.res.Commands[t.name] = t.cmd(applyFiles{plan: "PLAN.yaml", objects: "OBJECTS.yaml", chainsawDir: "TESTDIR"}).String()
		}
		sets[i] = set
	}
	defer func() {
		for _, s := range sets {
			d.res.Apply = append(d.res.Apply, *s)
		}
	}()
	for round := 1; round <= d.cfg.rounds; round++ {
		for i, wl := range workloads {
			for _, t := range tools {
				if ctx.Err() != nil {
					return ctx.Err()
				}
				if t.name == toolChainsawApply && round > d.cfg.chainsawApplyRounds {
					continue
				}
				tr, err := d.applyTrial(ctx, wl.w, wl.gvr, t, files[i], round)
				if err != nil {
					return err
				}
				sets[i].Trials = append(sets[i].Trials, tr)
				d.log.Info().Int("round", round).Str("workload", wl.w.Name).Str("tool", t.name).Float64("s", tr.Seconds).
					Float64("obj/s", float64(wl.w.N)/tr.Seconds).Float64("foreign cores", tr.Foreign).Str("error", tr.Error).Msg("apply")
			}
		}
	}
	return nil
}

func (d *driver) applyTrial(ctx context.Context, w bench.Workload, gvr schema.GroupVersionResource, t applyTool, f applyFiles, round int) (bench.ApplyTrial, error) {
	if err := d.kube.deleteAll(ctx, gvr, nsApply, "apply"); err != nil {
		return bench.ApplyTrial{}, err
	}
	time.Sleep(time.Second) // let the deletions' watch events settle
	before, err := d.kube.scrape(ctx)
	if err != nil {
		return bench.ApplyTrial{}, err
	}
	c := t.cmd(f)
	c.Timeout = 10 * time.Minute
	c.Log = d.logPath("apply", w.Name, t.name, fmt.Sprint(round))
	res, info := d.trial(ctx, c)
	after, err := d.kube.scrape(ctx)
	if err != nil {
		return bench.ApplyTrial{}, err
	}
	info.Round, info.Tool = round, t.name
	tr := bench.ApplyTrial{Trial: info, Seconds: round3(res.Wall().Seconds()), Requests: after.Sub(before).ByVerb(w.Resource)}
	if tr.Created, err = d.kube.count(ctx, gvr, nsApply, "apply"); err != nil {
		return tr, err
	}
	if tr.Created != w.N && tr.Error == "" {
		tr.OK, tr.Error = false, fmt.Sprintf("%d of %d objects present afterwards", tr.Created, w.N)
	}
	return tr, nil
}
